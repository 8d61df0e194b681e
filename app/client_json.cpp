#include "app/client_json.hpp"

#include <cmath>
#include <cstdlib>
#include <limits>

#include "domain/exact_json.hpp"
#include "domain/model.hpp"
#include "domain/time.hpp"

namespace ogf::app {

using nlohmann::json;

std::string string_field(const json& j, const char* key,
                         const std::string& fallback) {
  if (!j.is_object())
    return fallback;
  auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : fallback;
}

namespace {

/// A raw number's value as a double; huge ones become +-inf, never an
/// exception (std::stod throws for 1e400).
double raw_value(std::string_view text) {
  return std::strtod(std::string(text).c_str(), nullptr);
}

/// `d` as an integer, clamped to the int64 range (a cast of 1e30 would be
/// undefined) and 0 for NaN.
std::int64_t clamp_to_int(double d) {
  if (std::isnan(d))
    return 0;
  if (d >= 9.2e18)
    return std::numeric_limits<std::int64_t>::max();
  if (d <= -9.2e18)
    return std::numeric_limits<std::int64_t>::min();
  return static_cast<std::int64_t>(d);
}

} // namespace

std::int64_t int_field(const json& j, const char* key) {
  if (!j.is_object())
    return 0;
  auto it = j.find(key);
  if (it == j.end())
    return 0;
  if (it->is_number_integer())
    return it->get<std::int64_t>();
  if (it->is_number())
    return clamp_to_int(it->get<double>());
  if (auto text = domain::raw_number_text(*it))
    return clamp_to_int(raw_value(*text));
  return 0;
}

double number_field(const json& j, const char* key) {
  if (!j.is_object())
    return 0;
  auto it = j.find(key);
  if (it == j.end())
    return 0;
  if (it->is_number())
    return it->get<double>();
  if (auto text = domain::raw_number_text(*it))
    return raw_value(*text);
  return 0;
}

std::string number_text(const json& j, const char* key) {
  if (!j.is_object())
    return "0";
  auto it = j.find(key);
  if (it == j.end())
    return "0";
  if (auto text = domain::raw_number_text(*it))
    return std::string(*text);
  if (it->is_number())
    return it->dump();
  return "0";
}

client::progress_view progress_of_batch(const json& batch) {
  client::progress_view v;
  v.batch_id = string_field(batch, "id");
  v.status = string_field(batch, "status");
  v.total = int_field(batch, "total_activities");
  v.processed = int_field(batch, "processed_activities");
  v.succeeded = int_field(batch, "succeeded_activities");
  v.failed = int_field(batch, "failed_activities");
  v.percent = number_field(batch, "progress_percent");
  v.emissions_kg = number_text(batch, "total_emissions_kg_co2e");
  // An ended batch has no live rate: show its average.
  if (auto took = elapsed_seconds(batch); took && *took > 0)
    v.rate = static_cast<double>(v.processed) / *took;
  return v;
}

std::optional<double> elapsed_seconds(const json& batch) {
  auto started = domain::parse_rfc3339(string_field(batch, "started_at"));
  auto completed = domain::parse_rfc3339(string_field(batch, "completed_at"));
  if (!started || !completed)
    return std::nullopt;
  return static_cast<double>(*completed - *started) / 1e6;
}

bool is_terminal_status(const std::string& status) {
  auto s = domain::parse_batch_status(status);
  return s && domain::is_terminal(*s);
}

int exit_code_of(const client::request_error& e) {
  switch (e.kind()) {
  case client::failure_kind::auth:
    return 4;
  case client::failure_kind::client:
    return 5;
  case client::failure_kind::unreachable:
  case client::failure_kind::server:
    break;
  }
  return 3;
}

} // namespace ogf::app
