// Helpers shared by the batch store tests: a raw SQL connection for set-up
// and checks, error classification as the engine does it, and a way to put a
// batch into any status through the store's own engine methods.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "domain/model.hpp"
#include "persistence/batch_store.hpp"
#include "persistence/store_error.hpp"
#include "support/test_database.hpp"

namespace Catch {
template <>
struct StringMaker<ogf::engine_errc> {
  static std::string convert(ogf::engine_errc e) { return ogf::to_string(e); }
};
template <>
struct StringMaker<ogf::domain::batch_status> {
  static std::string convert(ogf::domain::batch_status s) {
    return ogf::domain::to_string(s);
  }
};
template <>
struct StringMaker<ogf::domain::item_status> {
  static std::string convert(ogf::domain::item_status s) {
    return ogf::domain::to_string(s);
  }
};
} // namespace Catch

namespace ogf::store_test {

using namespace std::chrono_literals;
using domain::batch_status;
using domain::item_status;
using domain::tenant;
using persistence::batch_store;
using persistence::store_config;

inline const tenant tenant_a{"org-a", "ws-1"};
inline const tenant tenant_b{"org-b", "ws-1"};
/// Same org, other workspace: a different tenant too.
inline const tenant tenant_a2{"org-a", "ws-2"};

inline batch_store make_store(const testing::test_database& db,
                              const std::string& node = "node-a") {
  return batch_store{store_config{db.url(), node}};
}

/// Runs `f` and classifies what it throws the way the store actors do;
/// engine_errc::none when it does not throw.
template <class F>
engine_errc errc_of(F&& f) {
  try {
    f();
  } catch (...) {
    std::string message;
    bool reconnect = false;
    return classify_exception(std::current_exception(), message, reconnect);
  }
  return engine_errc::none;
}

/// Plain SQL against the test database, for set-up and for checks the
/// store's API cannot express.
class sql {
public:
  explicit sql(const testing::test_database& db) : conn_(db.url()) {}
  void exec(const std::string& q) {
    pqxx::work tx{conn_};
    tx.exec(q);
    tx.commit();
  }
  std::string text(const std::string& q) {
    pqxx::work tx{conn_};
    auto r = tx.exec1(q);
    tx.commit();
    return r[0].is_null() ? std::string("<null>") : r[0].as<std::string>();
  }
  std::int64_t number(const std::string& q) {
    pqxx::work tx{conn_};
    auto r = tx.exec1(q);
    tx.commit();
    return r[0].as<std::int64_t>();
  }
  bool truth(const std::string& q) {
    pqxx::work tx{conn_};
    auto r = tx.exec1(q);
    tx.commit();
    return r[0].as<bool>();
  }
  std::string quote(const std::string& v) { return conn_.quote(v); }
  /// The batch row, its items and its chunk log as one JSON text: equal
  /// snapshots mean nothing about the batch changed.
  std::string snapshot(const std::string& batch_id) {
    auto id = quote(batch_id);
    return text("SELECT json_build_array("
                "(SELECT row_to_json(b) FROM batch_jobs b WHERE b.id = " +
                id +
                "::uuid), "
                "(SELECT json_agg(i ORDER BY i.activity_id) FROM batch_items i"
                " WHERE i.batch_id = " +
                id +
                "::uuid), "
                "(SELECT count(*) FROM batch_chunk_log l WHERE l.batch_id = " +
                id + "::uuid))::text");
  }
  /// Makes every lease on the batch look expired.
  void expire_lease(const std::string& batch_id) {
    exec("UPDATE batch_jobs SET lease_expires_at = now() - interval '1 second'"
         " WHERE id = " +
         quote(batch_id) + "::uuid");
  }
  pqxx::connection& connection() { return conn_; }

private:
  pqxx::connection conn_;
};

inline persistence::submit_request request(const tenant& t,
                                           std::vector<std::string> ids,
                                           int priority = 5,
                                           int max_retries = 3) {
  persistence::submit_request r;
  r.owner = t;
  r.activity_ids = std::move(ids);
  r.priority = priority;
  r.max_retries = max_retries;
  return r;
}

inline persistence::item_result_row ok_row(const std::string& id,
                                           const std::string& kg,
                                           const std::string& factor = "f1",
                                           int scope = 1) {
  persistence::item_result_row r;
  r.activity_id = id;
  r.succeeded = true;
  r.scope = scope;
  r.emissions_kg_co2e = kg;
  r.factor_id = factor;
  return r;
}

inline persistence::item_result_row failed_row(const std::string& id,
                                               const std::string& error) {
  persistence::item_result_row r;
  r.activity_id = id;
  r.succeeded = false;
  r.error = error;
  return r;
}

/// A batch of three activities (a1, a2, a3) driven into `status` through the
/// store's own methods, the way the engine would:
///   queued      claimed by `store`'s node
///   processing  claimed and started
///   completed   every item succeeded (1.5 + 2.25 + 3 kg), finished
///   failed      a1 succeeded (1.5 kg), a2 failed, a3 never processed;
///               finished as done, which fails it
///   cancelled   a1 succeeded (1.5 kg), then cancel requested while
///               processing and finished as cancelled
/// The new batch must be the only claimable batch of priority 10.
struct driven_batch {
  std::string id;
  persistence::lease_ref lease; ///< token 0 when never claimed
};

inline driven_batch drive_to(batch_store& store, batch_status status,
                             const tenant& t = tenant_a) {
  auto req = request(t, {"a1", "a2", "a3"}, 10);
  req.metadata_json = R"({"purpose":"fixture"})";
  auto submitted = store.submit(req);
  driven_batch out{submitted.batch.id, {submitted.batch.id, 0}};
  if (status == batch_status::pending)
    return out;
  auto claimed = store.claim(1, 60s);
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].batch_id == out.id);
  out.lease = {out.id, claimed[0].token};
  if (status == batch_status::queued)
    return out;
  REQUIRE(store.start(out.lease));
  if (status == batch_status::processing)
    return out;
  switch (status) {
  case batch_status::completed:
    store.record_chunk(
        out.lease, t,
        {ok_row("a1", "1.5"), ok_row("a2", "2.25"), ok_row("a3", "3")});
    REQUIRE(store.finish(out.lease, persistence::finish_kind::done).status ==
            batch_status::completed);
    break;
  case batch_status::failed:
    store.record_chunk(
        out.lease, t,
        {ok_row("a1", "1.5"), failed_row("a2", "no_emission_factor")});
    REQUIRE(store.finish(out.lease, persistence::finish_kind::done).status ==
            batch_status::failed);
    break;
  case batch_status::cancelled: {
    store.record_chunk(out.lease, t, {ok_row("a1", "1.5")});
    auto c = store.cancel(t, out.id);
    REQUIRE_FALSE(c.immediate);
    REQUIRE(
        store.finish(out.lease, persistence::finish_kind::cancelled).status ==
        batch_status::cancelled);
    break;
  }
  default:
    FAIL("unexpected status");
  }
  return out;
}

inline const std::vector<batch_status> every_status{
    batch_status::pending,   batch_status::queued, batch_status::processing,
    batch_status::completed, batch_status::failed, batch_status::cancelled};

/// Every item of a batch, in activity_id order (all pages).
inline std::vector<domain::batch_item>
all_items(batch_store& store, const tenant& t, const std::string& id,
          std::optional<item_status> status = std::nullopt) {
  std::vector<domain::batch_item> out;
  domain::item_filter f;
  f.limit = 1000;
  f.status = status;
  for (;;) {
    auto page = store.items(t, id, f);
    out.insert(out.end(), page.items.begin(), page.items.end());
    if (!page.next_after)
      return out;
    f.after_activity_id = page.next_after;
  }
}

/// Tenants whose unfinished-batch count (migration 006) differs from their
/// unfinished batches (0: none).
inline std::int64_t tenants_miscounted(sql& q) {
  return q.number(
      "SELECT count(*) FROM ("
      " SELECT org_id, workspace_id, sum(open_batches) AS n"
      " FROM tenant_open_batches GROUP BY 1, 2) c"
      " FULL JOIN ("
      " SELECT org_id, workspace_id, count(*) AS n FROM batch_jobs"
      " WHERE status IN ('pending', 'queued', 'processing') GROUP BY 1, 2) b"
      " USING (org_id, workspace_id)"
      " WHERE coalesce(c.n, 0) <> coalesce(b.n, 0)");
}

/// Waits for `pred` with a deadline instead of sleeping a fixed time.
template <class Pred>
bool eventually(Pred&& pred, std::chrono::milliseconds deadline = 5s) {
  auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (pred())
      return true;
    std::this_thread::sleep_for(5ms);
  }
  return pred();
}

} // namespace ogf::store_test
