#include "domain/json_mapping.hpp"

#include <cmath>
#include <string>

#include "domain/decimal.hpp"

namespace ogf::domain {

namespace {

using json = nlohmann::json;

template <class T>
json or_null(const std::optional<T>& v) {
  return v ? json(*v) : json(nullptr);
}

json time_or_null(const std::optional<timestamp_us>& t) {
  return t ? json(format_rfc3339_ms(*t)) : json(nullptr);
}

json decimal_or_null(const std::optional<std::string>& text) {
  return text ? decimal_to_json(*text) : json(nullptr);
}

double round2(double v) {
  return std::round(v * 100.0) / 100.0;
}

} // namespace

double progress_percent(std::int64_t processed, std::int64_t total,
                        batch_status status) {
  if (total <= 0)
    return status == batch_status::completed ? 100.0 : 0.0;
  double pct =
      static_cast<double>(processed) * 100.0 / static_cast<double>(total);
  if (pct < 0)
    pct = 0;
  if (pct > 100)
    pct = 100;
  return round2(pct);
}

json decimal_to_json(std::string_view text) {
  // PostgreSQL numeric text ("-12.500000", "NaN") is JSON number syntax
  // except for redundant leading zeros ("007"), which JSON does not allow.
  std::string digits(text);
  const std::size_t start = !digits.empty() && digits[0] == '-' ? 1 : 0;
  while (digits.size() > start + 1 && digits[start] == '0' &&
         digits[start + 1] >= '0' && digits[start + 1] <= '9')
    digits.erase(start, 1);
  // Every digit, as a raw number: a double would round
  // 375293999999999.999625 to 375294000000000.
  return raw_number(digits);
}

json to_json(const batch& b) {
  json out = {
      {"id", b.id},
      {"org_id", b.owner.org_id},
      {"workspace_id", b.owner.workspace_id},
      {"status", to_string(b.status)},
      {"priority", b.priority},
      {"max_retries", b.max_retries},
      {"retry_count", b.retry_count},
      {"total_activities", b.total_activities},
      {"processed_activities", b.processed_activities},
      {"succeeded_activities", b.succeeded_activities},
      {"failed_activities", b.failed_activities},
      {"progress_percent",
       progress_percent(b.processed_activities, b.total_activities, b.status)},
      {"total_emissions_kg_co2e", decimal_to_json(b.total_emissions_kg_co2e)},
      {"cancel_requested", b.cancel_requested},
      {"error", or_null(b.error)},
      {"metadata", b.metadata.is_object() ? b.metadata : json::object()},
      {"idempotency_key", or_null(b.idempotency_key)},
      {"created_at", format_rfc3339_ms(b.created_at)},
      {"updated_at", format_rfc3339_ms(b.updated_at)},
      {"started_at", time_or_null(b.started_at)},
      {"completed_at", time_or_null(b.completed_at)},
      {"run_after", format_rfc3339_ms(b.run_after)},
      {"callback", nullptr},
  };
  // Completion callback (CONTRACT §7): null when none was asked for - every
  // field of the batch object is always present (CONTRACT §2).
  if (b.callback)
    out["callback"] = {{"url", b.callback->url},
                       {"status", b.callback->status},
                       {"attempts", b.callback->attempts},
                       {"last_error", or_null(b.callback->last_error)}};
  return out;
}

json to_json(const batch_item& item) {
  return {
      {"activity_id", item.activity_id},
      {"status", to_string(item.status)},
      {"scope", or_null(item.scope)},
      {"emissions_kg_co2e", decimal_or_null(item.emissions_kg_co2e)},
      {"factor_id", or_null(item.factor_id)},
      {"error", or_null(item.error)},
      {"attempts", item.attempts},
      {"processed_at", time_or_null(item.processed_at)},
  };
}

json to_json(const batch_counts& c) {
  json counts = json::object();
  std::int64_t total = 0;
  for (auto s : {batch_status::pending, batch_status::queued,
                 batch_status::processing, batch_status::completed,
                 batch_status::failed, batch_status::cancelled}) {
    std::int64_t n = 0;
    for (const auto& [status, count] : c.by_status)
      if (status == s)
        n += count;
    counts[to_string(s)] = n;
    total += n;
  }
  return {{"counts", std::move(counts)}, {"total", total}};
}

json to_json(const batch_emissions& e) {
  json scopes = json::array();
  auto total = decimal::parse("0");
  for (int scope = 1; scope <= 3; ++scope) {
    std::int64_t items = 0;
    std::string kg = "0";
    for (const auto& s : e.scopes)
      if (s.scope == scope) {
        items = s.items;
        kg = s.emissions_kg_co2e;
      }
    auto value = decimal::parse(kg);
    if (total && value)
      total = *total + *value;
    else
      total.reset();
    scopes.push_back({{"scope", scope},
                      {"items", items},
                      {"emissions_kg_co2e", decimal_to_json(kg)}});
  }
  return {{"batch_id", e.batch_id},
          {"scopes", std::move(scopes)},
          {"total_emissions_kg_co2e",
           total ? decimal_to_json(total->to_string()) : json(nullptr)}};
}

json to_json(const batch_progress& p) {
  const auto remaining = p.total > p.processed ? p.total - p.processed : 0;
  json eta = nullptr;
  if (p.eta_seconds && std::isfinite(*p.eta_seconds))
    eta = round2(std::max(*p.eta_seconds, 0.0));
  const double rate = std::isfinite(p.throughput_per_second)
                          ? round2(std::max(p.throughput_per_second, 0.0))
                          : 0.0;
  return {
      {"batch_id", p.batch_id},
      {"status", to_string(p.status)},
      {"total", p.total},
      {"processed", p.processed},
      {"succeeded", p.succeeded},
      {"failed", p.failed},
      {"remaining", remaining},
      {"percent", progress_percent(p.processed, p.total, p.status)},
      {"emissions_kg_co2e", decimal_to_json(p.emissions_kg_co2e)},
      {"throughput_per_second", rate},
      {"eta_seconds", eta},
      {"started_at", time_or_null(p.started_at)},
      {"updated_at", format_rfc3339_ms(p.updated_at)},
  };
}

json to_json(const activity& a) {
  return {
      {"id", a.id},
      {"activity_type", a.activity_type},
      {"quantity", decimal_to_json(a.quantity)},
      {"unit", a.unit},
      {"region", a.region},
      {"period_start", a.period_start},
      {"period_end", a.period_end},
      {"metadata", a.metadata.is_object() ? a.metadata : json::object()},
      {"emissions_kg_co2e", decimal_or_null(a.emissions_kg_co2e)},
      {"scope", or_null(a.scope)},
      {"factor_id", or_null(a.factor_id)},
      {"calculated_at", time_or_null(a.calculated_at)},
  };
}

json to_json(const emission_factor& f) {
  return {
      {"id", f.id},
      {"activity_type", f.activity_type},
      {"scope", f.scope},
      {"region", f.region},
      {"unit", f.unit},
      {"kg_co2e_per_unit", decimal_to_json(f.kg_co2e_per_unit)},
      {"valid_from", f.valid_from},
      {"source", f.source},
      {"builtin", f.builtin},
  };
}

json error_body(std::string_view code, std::string_view message,
                const json& details, timestamp_us at) {
  json error = {
      {"code", std::string(code)},
      {"message", std::string(message)},
  };
  if (!details.is_null())
    error["details"] = details;
  error["timestamp"] = format_rfc3339_ms(at);
  return {{"error", std::move(error)}};
}

json error_body(const input_error& e, timestamp_us at) {
  return error_body(e.code, e.message, error_details(e), at);
}

} // namespace ogf::domain
