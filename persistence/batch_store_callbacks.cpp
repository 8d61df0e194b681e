// batch_store's completion-callback methods (declared in batch_store.hpp):
// the outbox of migration 009, with its statements in
// persistence/sql/callbacks.sql.
#include "persistence/batch_store.hpp"

namespace ogf::persistence {

std::optional<callback_delivery>
batch_store::claim_callback(std::chrono::milliseconds lease) {
  pqxx::work tx{*conn_};
  auto rows = tx.exec_prepared("claim_callback", cfg_.node_id,
                               static_cast<std::int64_t>(lease.count()));
  tx.commit();
  if (rows.empty())
    return std::nullopt;
  const auto& r = rows[0];
  callback_delivery d;
  d.batch = read_batch_row(r);
  d.id = r["delivery_id"].as<std::string>();
  d.event = r["event"].as<std::string>();
  d.url = r["url"].as<std::string>();
  d.attempts = r["delivery_attempts"].as<int>();
  d.token = r["delivery_token"].as<std::int64_t>();
  return d;
}

std::optional<std::string> batch_store::record_callback_attempt(
    const callback_delivery& d, callback_outcome outcome,
    const std::optional<std::string>& error, std::chrono::milliseconds retry_in,
    std::chrono::milliseconds give_up_after) {
  pqxx::work tx{*conn_};
  auto rows = tx.exec_prepared(
      "record_callback_attempt", d.id, d.token,
      std::string(outcome == callback_outcome::delivered ? "delivered"
                                                         : "retry"),
      error, static_cast<std::int64_t>(retry_in.count()),
      static_cast<std::int64_t>(give_up_after.count()));
  tx.commit();
  if (rows.empty())
    return std::nullopt;
  return rows[0][0].as<std::string>();
}

callback_outbox_stats batch_store::callback_stats() {
  pqxx::nontransaction tx{*conn_};
  auto r = tx.exec_prepared1("callback_outbox_stats");
  callback_outbox_stats s;
  s.undelivered = r[0].as<std::int64_t>();
  s.oldest_age_seconds = r[1].as<double>();
  if (!r[2].is_null())
    s.next_due_in = std::chrono::milliseconds(r[2].as<std::int64_t>());
  return s;
}

} // namespace ogf::persistence
