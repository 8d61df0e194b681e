#include "persistence/store_error.hpp"

#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

namespace ogf {

const char* to_string(engine_errc code) {
  switch (code) {
  case engine_errc::none:
    return "none";
  case engine_errc::not_found:
    return "not_found";
  case engine_errc::invalid_state:
    return "invalid_state";
  case engine_errc::conflict:
    return "conflict";
  case engine_errc::lease_lost:
    return "lease_lost";
  case engine_errc::unavailable:
    return "unavailable";
  case engine_errc::validation:
    return "validation";
  case engine_errc::internal:
    return "internal";
  case engine_errc::quota_exceeded:
    return "quota_exceeded";
  }
  return "internal";
}

std::string quota_message(std::int64_t limit) {
  auto how_many = limit > 0 ? std::to_string(limit) : std::string("as many");
  return "the tenant already has " + how_many +
         " unfinished batches (pending, queued or processing), the most "
         "it may have; wait for some to finish, or cancel some";
}

std::vector<quota_refusal> quota_refusals(std::exception_ptr ep) {
  std::string what;
  try {
    std::rethrow_exception(ep);
  } catch (const pqxx::sql_error& e) {
    if (e.sqlstate() != quota_sqlstate)
      return {};
    what = e.what();
  } catch (...) {
    return {};
  }
  // "ERROR:  ogf: quota exceeded [{...}, ...]", maybe followed by more
  // lines (CONTEXT): the JSON array is the rest of the first line.
  static const std::string marker = "ogf: quota exceeded ";
  auto at = what.find(marker);
  if (at == std::string::npos)
    return {};
  at += marker.size();
  std::vector<quota_refusal> out;
  try {
    auto json =
        nlohmann::json::parse(what.substr(at, what.find('\n', at) - at));
    if (!json.is_array())
      return {};
    for (const auto& t : json)
      out.push_back({t.at("org_id").get<std::string>(),
                     t.at("workspace_id").get<std::string>(),
                     t.at("open").get<std::int64_t>(),
                     t.at("limit").get<std::int64_t>()});
  } catch (const nlohmann::json::exception&) {
    return {}; // not what the trigger writes: no tenant is known
  }
  return out;
}

bool broke_before_commit(std::exception_ptr ep) {
  try {
    std::rethrow_exception(ep);
  } catch (const pqxx::broken_connection&) {
    return true;
  } catch (...) {
    return false;
  }
}

engine_errc classify_exception(std::exception_ptr ep, std::string& message,
                               bool& needs_reconnect) {
  needs_reconnect = false;
  try {
    std::rethrow_exception(ep);
  } catch (const store_exception& e) {
    message = e.what();
    return e.code;
  } catch (const pqxx::broken_connection& e) {
    needs_reconnect = true;
    message = "database connection lost";
    return engine_errc::unavailable;
  } catch (const pqxx::in_doubt_error& e) {
    needs_reconnect = true;
    message = "database connection lost during commit";
    return engine_errc::unavailable;
  } catch (const pqxx::sql_error& e) {
    message = e.what();
    const auto& state = e.sqlstate();
    if (state == quota_sqlstate) {
      auto refused = quota_refusals(std::current_exception());
      message = quota_message(refused.empty() ? 0 : refused.front().limit);
      return engine_errc::quota_exceeded;
    }
    auto cls = state.substr(0, 2);
    if (cls == "08" || cls == "53" || cls == "57" || state == "25006" ||
        cls == "40") {
      // connection exception, insufficient resources, operator intervention
      // (statement timeout, shutdown), read-only transaction, rollbacks.
      if (cls == "08" || state == "57P01" || state == "57P02" ||
          state == "57P03")
        needs_reconnect = true;
      return engine_errc::unavailable;
    }
    // The database refused a value: a data exception (22: bad number, date,
    // JSON, encoding), a constraint (23, duplicate keys included: the one
    // legitimate key conflict, a reused idempotency key, is detected by the
    // store itself and thrown as conflict), one row given twice to an
    // upsert (21000), or a value too large to index (54000). All mean a
    // request the HTTP layer should have refused; none is a conflict the
    // client could resolve by changing its idempotency key.
    if (cls == "21" || cls == "22" || cls == "23" || state == "54000")
      return engine_errc::validation;
    return engine_errc::internal;
  } catch (const pqxx::failure& e) {
    // In libpqxx 6.4, serialization_failure and deadlock_detected derive
    // from failure, not sql_error: transient.
    message = e.what();
    if (dynamic_cast<const pqxx::transaction_rollback*>(&e) != nullptr)
      return engine_errc::unavailable;
    needs_reconnect = true;
    return engine_errc::unavailable;
  } catch (const std::exception& e) {
    message = e.what();
    return engine_errc::internal;
  } catch (...) {
    message = "unknown exception";
    return engine_errc::internal;
  }
}

} // namespace ogf
