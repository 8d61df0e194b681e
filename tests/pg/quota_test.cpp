// The per-tenant quota of unfinished batches (--max-pending-batches,
// migration 006): counted by triggers on batch_jobs, checked in the
// submit's own transaction, exact under concurrent submits.
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include "persistence/migrations.hpp"
#include "store_test_support.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"

using namespace ogf;
using namespace ogf::persistence;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

/// A store whose submits are checked against `limit`, like the engine's
/// API connections.
batch_store quota_store(const test_database& db, std::int64_t limit,
                        const std::string& node = "api") {
  store_config cfg{db.url(), node};
  cfg.max_pending_batches = limit;
  return batch_store{cfg};
}

/// Unfinished batches of `t` as the quota counts them.
std::int64_t counted(sql& q, const tenant& t) {
  return q.number("SELECT coalesce(sum(open_batches), 0) FROM "
                  "tenant_open_batches WHERE org_id = " +
                  q.quote(t.org_id) +
                  " AND workspace_id = " + q.quote(t.workspace_id));
}

/// Unfinished batches of `t` in batch_jobs.
std::int64_t unfinished(sql& q, const tenant& t) {
  return q.number(
      "SELECT count(*) FROM batch_jobs WHERE org_id = " + q.quote(t.org_id) +
      " AND workspace_id = " + q.quote(t.workspace_id) +
      " AND status IN ('pending', 'queued', 'processing')");
}

/// Waits until every thread of `n` arrived, then lets all go at once.
class start_line {
public:
  explicit start_line(int n) : waiting_(n) {}
  void arrive_and_wait() {
    std::unique_lock<std::mutex> lock{mutex_};
    if (--waiting_ == 0)
      go_.notify_all();
    else
      go_.wait(lock, [&] { return waiting_ == 0; });
  }

private:
  std::mutex mutex_;
  std::condition_variable go_;
  int waiting_;
};

} // namespace

TEST_CASE("sixteen concurrent submits at a quota of ten leave exactly ten "
          "batches, and another tenant is unaffected") {
  test_database db;
  sql q{db};
  constexpr int submitters = 16;
  std::vector<std::unique_ptr<batch_store>> stores;
  for (int i = 0; i < submitters; ++i)
    stores.push_back(std::make_unique<batch_store>(quota_store(db, 10)));
  start_line line{submitters};
  std::vector<std::future<engine_errc>> results;
  for (int i = 0; i < submitters; ++i)
    results.push_back(std::async(std::launch::async, [&, i] {
      line.arrive_and_wait();
      return errc_of([&] {
        stores[static_cast<std::size_t>(i)]->submit(
            request(tenant_a, {"s" + std::to_string(i)}));
      });
    }));
  int ok = 0, refused = 0;
  for (auto& r : results) {
    auto e = r.get();
    ok += e == engine_errc::none ? 1 : 0;
    refused += e == engine_errc::quota_exceeded ? 1 : 0;
  }
  CHECK(ok == 10);
  CHECK(refused == 6);
  CHECK(unfinished(q, tenant_a) == 10);
  CHECK(counted(q, tenant_a) == 10);
  // Nothing of a refused submit is left behind.
  CHECK(q.number("SELECT count(*) FROM batch_item_ids") == 10);

  auto other = quota_store(db, 10);
  CHECK(other.submit(request(tenant_b, {"x"})).batch.owner == tenant_b);
  CHECK(other.submit(request(tenant_a2, {"x"})).batch.owner == tenant_a2);
  CHECK(errc_of([&] { other.submit(request(tenant_a, {"x"})); }) ==
        engine_errc::quota_exceeded);
  CHECK(tenants_miscounted(q) == 0);
}

TEST_CASE("concurrent group submits at a quota of ten leave exactly ten "
          "batches") {
  test_database db;
  sql q{db};
  constexpr int submitters = 4;
  std::vector<std::unique_ptr<batch_store>> stores;
  for (int i = 0; i < submitters; ++i)
    stores.push_back(std::make_unique<batch_store>(quota_store(db, 10)));
  start_line line{submitters};
  std::vector<std::future<std::vector<submit_result>>> results;
  for (int i = 0; i < submitters; ++i)
    results.push_back(std::async(std::launch::async, [&, i] {
      std::vector<submit_request> group;
      for (int k = 0; k < 4; ++k)
        group.push_back(request(tenant_a, {"g" + std::to_string(k)}));
      group.push_back(request(tenant_b, {"b"}));
      line.arrive_and_wait();
      return stores[static_cast<std::size_t>(i)]->submit_many(group);
    }));
  int ok = 0, refused = 0, ok_b = 0;
  for (auto& r : results)
    for (const auto& member : r.get()) {
      if (member.outcome && member.outcome->batch.owner == tenant_b)
        ++ok_b;
      else if (member.outcome)
        ++ok;
      else if (member.error == engine_errc::quota_exceeded)
        ++refused;
    }
  CHECK(ok == 10);
  CHECK(refused == 6);
  CHECK(ok_b == submitters);
  CHECK(unfinished(q, tenant_a) == 10);
  CHECK(tenants_miscounted(q) == 0);
}

TEST_CASE("a group with members over the quota commits exactly the ones that "
          "fit, first come first kept, in one transaction") {
  test_database db;
  sql q{db};
  auto store = quota_store(db, 10);
  for (int i = 0; i < 7; ++i)
    store.submit(request(tenant_a, {"old"}));
  q.exec("CREATE TABLE before AS SELECT id FROM batch_jobs");
  std::vector<submit_request> group{
      request(tenant_a, {"a1"}), request(tenant_a, {"a2"}),
      request(tenant_b, {"b1"}), request(tenant_a, {"a3"}),
      request(tenant_a, {"a4"}), request(tenant_a2, {"c1"}),
      request(tenant_a, {"a5"})};
  auto out = store.submit_many(group);
  REQUIRE(out.size() == group.size());
  for (std::size_t i : {0, 1, 2, 3, 5}) {
    INFO(i);
    REQUIRE(out[i].outcome);
    CHECK(out[i].outcome->batch.owner == group[i].owner);
    CHECK(out[i].error == engine_errc::none);
  }
  for (std::size_t i : {4, 6}) {
    INFO(i);
    CHECK_FALSE(out[i].outcome);
    CHECK(out[i].error == engine_errc::quota_exceeded);
    CHECK(out[i].message.find("10 unfinished batches") != std::string::npos);
  }
  CHECK(unfinished(q, tenant_a) == 10);
  CHECK(unfinished(q, tenant_b) == 1);
  CHECK(unfinished(q, tenant_a2) == 1);
  // The members that fit went together, in one transaction.
  CHECK(q.number("SELECT count(DISTINCT xmin::text) FROM batch_jobs WHERE id "
                 "NOT IN (SELECT id FROM before)") == 1);
  CHECK(q.number("SELECT count(*) FROM batch_item_ids WHERE activity_id IN "
                 "('a4', 'a5')") == 0);
  CHECK(tenants_miscounted(q) == 0);

  // A group entirely over: nothing written, every member refused.
  auto none =
      store.submit_many({request(tenant_a, {"n1"}), request(tenant_a, {"n2"})});
  CHECK(none[0].error == engine_errc::quota_exceeded);
  CHECK(none[1].error == engine_errc::quota_exceeded);
  CHECK(unfinished(q, tenant_a) == 10);
}

TEST_CASE("finishing, cancelling and deleting a batch frees quota, and a retry "
          "counts but is never refused") {
  test_database db;
  sql q{db};
  auto store = quota_store(db, 3);
  auto over = [&] {
    return errc_of([&] { store.submit(request(tenant_a, {"over"})); });
  };
  drive_to(store, batch_status::completed);
  auto failed = drive_to(store, batch_status::failed);
  auto cancelled = drive_to(store, batch_status::cancelled);
  CHECK(counted(q, tenant_a) == 0);
  auto p1 = store.submit(request(tenant_a, {"p1"})).batch.id;
  auto p2 = store.submit(request(tenant_a, {"p2"})).batch.id;
  auto p3 = drive_to(store, batch_status::processing);
  CHECK(counted(q, tenant_a) == 3);
  CHECK(over() == engine_errc::quota_exceeded);

  // Cancel of a pending batch frees its place at once.
  CHECK(store.cancel(tenant_a, p1).immediate);
  auto p4 = store.submit(request(tenant_a, {"p4"})).batch.id;
  CHECK(over() == engine_errc::quota_exceeded);

  // Delete of a pending batch.
  store.remove(tenant_a, p2);
  auto p5 = store.submit(request(tenant_a, {"p5"})).batch.id;
  CHECK(over() == engine_errc::quota_exceeded);

  // The engine finishing a batch (another connection, no limit of its own).
  store.record_chunk(p3.lease, tenant_a,
                     {ok_row("a1", "1"), ok_row("a2", "1"), ok_row("a3", "1")},
                     true);
  CHECK(store.get(tenant_a, p3.id).status == batch_status::completed);
  auto p6 = store.submit(request(tenant_a, {"p6"})).batch.id;
  CHECK(counted(q, tenant_a) == 3);

  // Retries of ended batches go through at the limit and count.
  CHECK(store.retry(tenant_a, cancelled.id).status == batch_status::pending);
  CHECK(store.retry(tenant_a, failed.id).status == batch_status::pending);
  CHECK(counted(q, tenant_a) == 5);
  CHECK(over() == engine_errc::quota_exceeded);
  // ... and the tenant must get below its limit before anything new fits.
  store.cancel(tenant_a, p4);
  store.cancel(tenant_a, p5);
  CHECK(over() == engine_errc::quota_exceeded);
  store.cancel(tenant_a, p6);
  CHECK(counted(q, tenant_a) == 2);
  CHECK(over() == engine_errc::none);
  CHECK(counted(q, tenant_a) == 3);
  CHECK(tenants_miscounted(q) == 0);
}

TEST_CASE("an idempotent replay at the limit is answered with the original "
          "batch") {
  test_database db;
  sql q{db};
  auto store = quota_store(db, 1);
  auto req = request(tenant_a, {"k1"});
  req.idempotency_key = "key-1";
  req.request_hash = "hash-1";
  auto first = store.submit(req);
  CHECK_FALSE(first.replayed);
  auto again = store.submit(req);
  CHECK(again.replayed);
  CHECK(again.batch.id == first.batch.id);
  auto other_key = req;
  other_key.idempotency_key = "key-2";
  CHECK(errc_of([&] { store.submit(other_key); }) ==
        engine_errc::quota_exceeded);
  auto other_body = req;
  other_body.request_hash = "hash-2";
  CHECK(errc_of([&] { store.submit(other_body); }) == engine_errc::conflict);
  CHECK(unfinished(q, tenant_a) == 1);
  CHECK(counted(q, tenant_a) == 1);
}

TEST_CASE("the count equals the unfinished batches after a mixed workload") {
  test_database db;
  sql q{db};
  auto api = quota_store(db, 1000);
  auto engine = make_store(db, "node-a");
  const std::vector<tenant> tenants{tenant_a, tenant_b, tenant_a2};
  std::vector<submit_request> group;
  for (int i = 0; i < 30; ++i)
    group.push_back(request(tenants[static_cast<std::size_t>(i) % 3],
                            {"x" + std::to_string(i)}, 1 + i % 10, i % 2));
  for (const auto& r : api.submit_many(group))
    REQUIRE(r.outcome);
  for (int i = 0; i < 6; ++i)
    api.submit(request(tenants[static_cast<std::size_t>(i) % 3], {"y"}));
  CHECK(tenants_miscounted(q) == 0);

  // A bundle: 10 claimed, 6 of them finished in one transaction (done,
  // failed, cancelled), the rest stay processing.
  auto claimed = engine.claim(10, 60s, claim_mode::start);
  REQUIRE(claimed.size() == 10);
  std::vector<batch_write> writes;
  for (std::size_t i = 0; i < 6; ++i) {
    batch_write w;
    w.lease = {claimed[i].batch_id, claimed[i].token};
    w.finish = static_cast<finish_kind>(i % 3);
    w.finish_error = "boom";
    writes.push_back(w);
  }
  engine.record_many(writes);
  CHECK(tenants_miscounted(q) == 0);

  // Leases of batches without retries left expire: the claim fails them.
  for (std::size_t i = 6; i < 10; ++i)
    q.expire_lease(claimed[i].batch_id);
  q.exec("UPDATE batch_jobs SET lease_expiries = max_retries "
         "WHERE status = 'processing'");
  engine.claim(3, 60s, claim_mode::start);
  CHECK(tenants_miscounted(q) == 0);

  // Users cancel, retry and delete.
  auto page = api.list(tenant_b, domain::batch_filter{});
  for (const auto& b : page.batches) {
    if (b.status == batch_status::pending)
      api.cancel(tenant_b, b.id);
    else if (b.status == batch_status::failed)
      api.retry(tenant_b, b.id);
    else if (b.status == batch_status::completed)
      api.remove(tenant_b, b.id);
  }
  CHECK(tenants_miscounted(q) == 0);
  auto leases = engine.claim(20, 60s, claim_mode::start);
  std::vector<lease_ref> refs;
  for (const auto& c : leases)
    refs.push_back({c.batch_id, c.token});
  engine.release(refs);
  CHECK(tenants_miscounted(q) == 0);
  CHECK(q.number("SELECT count(DISTINCT status) FROM batch_jobs") >= 3);
}

TEST_CASE("a group whose deadline passes while it waits for the tenant's "
          "count is not committed, and the members still waiting are") {
  test_database db;
  sql q{db};
  auto store = quota_store(db, 100);
  store.submit(request(tenant_a, {"first"}));
  // Holds tenant_a's count, as a slow submit of the same tenant would.
  pqxx::connection locker{db.url()};
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("SELECT * FROM tenant_open_batches WHERE org_id = 'org-a' AND "
             "workspace_id = 'ws-1' AND slot = 0 FOR UPDATE");
  auto short_lived = request(tenant_a, {"short"});
  short_lived.until = deadline::in(std::chrono::milliseconds(300));
  std::vector<submit_request> reqs{request(tenant_a, {"patient"}), short_lived};
  auto writer =
      std::async(std::launch::async, [&] { return store.submit_many(reqs); });
  REQUIRE(ogf::testing::wait_until(
      [&] {
        // (pg_locks would also show the waits of tests running beside.)
        return q.number("SELECT count(*) FROM pg_stat_activity WHERE datname "
                        "= current_database() AND wait_event_type = 'Lock'") ==
               1;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
  // Past the deadline by the database's clock too: the statement's
  // transaction began more than the 300 ms it was given ago (it began a
  // little after the store measured the time left).
  REQUIRE(ogf::testing::wait_until(
      [&] {
        return q.number("SELECT count(*) FROM pg_stat_activity WHERE datname "
                        "= current_database() AND wait_event_type = 'Lock' "
                        "AND xact_start < clock_timestamp() - interval "
                        "'400 milliseconds'") == 1;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
  CHECK(short_lived.until.passed());
  lock->abort();
  auto out = writer.get();
  REQUIRE(out.size() == 2);
  CHECK(out[0].outcome);
  CHECK_FALSE(out[1].outcome);
  CHECK(out[1].error == engine_errc::unavailable);
  CHECK(out[1].message == deadline_passed_message);
  CHECK(q.number("SELECT count(*) FROM batch_item_ids WHERE activity_id = "
                 "'short'") == 0);
  CHECK(unfinished(q, tenant_a) == 2);
  CHECK(tenants_miscounted(q) == 0);
}

TEST_CASE("connections without a limit count but never refuse") {
  test_database db;
  sql q{db};
  auto tool = make_store(db);
  for (int i = 0; i < 5; ++i)
    tool.submit(request(tenant_a, {"t"}));
  auto api = quota_store(db, 3);
  CHECK(errc_of([&] { api.submit(request(tenant_a, {"t"})); }) ==
        engine_errc::quota_exceeded);
  CHECK(counted(q, tenant_a) == 5);
  tool.submit(request(tenant_a, {"t"}));
  CHECK(counted(q, tenant_a) == 6);
}

TEST_CASE("migration 006 counts the unfinished batches already there, and "
          "its down removes what it added") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  persistence::migrator{conn, ogf::testing::migrations_up_to(5)}.up();
  {
    pqxx::work tx{conn};
    tx.exec("INSERT INTO batch_jobs (org_id, workspace_id, status,"
            " total_activities) VALUES"
            " ('o', 'w', 'pending', 1), ('o', 'w', 'queued', 1),"
            " ('o', 'w', 'processing', 1), ('o', 'w', 'completed', 1),"
            " ('o', 'w', 'failed', 1), ('o', 'w', 'cancelled', 1),"
            " ('o', 'w2', 'pending', 1), ('p', 'w', 'completed', 1)");
    tx.commit();
  }
  persistence::migrator{conn, ogf::testing::migrations_up_to(6)}.up();
  auto number = [&](const std::string& s) {
    pqxx::work tx{conn};
    return tx.exec1(s)[0].as<std::int64_t>();
  };
  const std::string counts =
      "SELECT coalesce(sum(open_batches), 0) FROM tenant_open_batches";
  CHECK(number(counts + " WHERE org_id = 'o' AND workspace_id = 'w'") == 3);
  CHECK(number(counts + " WHERE org_id = 'o' AND workspace_id = 'w2'") == 1);
  CHECK(number(counts + " WHERE org_id = 'p'") == 0);
  {
    pqxx::work tx{conn};
    tx.exec("UPDATE batch_jobs SET status = 'completed' WHERE org_id = 'o' "
            "AND workspace_id = 'w' AND status = 'queued'");
    tx.commit();
  }
  CHECK(number(counts + " WHERE org_id = 'o' AND workspace_id = 'w'") == 2);

  persistence::migrator{conn, ogf::testing::migrations_up_to(6)}.down(1);
  CHECK(number("SELECT count(*) FROM pg_class WHERE relname = "
               "'tenant_open_batches'") == 0);
  CHECK(number("SELECT count(*) FROM pg_proc WHERE proname LIKE "
               "'tenant_open_batches%'") == 0);
  CHECK(number("SELECT count(*) FROM pg_trigger WHERE tgrelid = "
               "'batch_jobs'::regclass AND NOT tgisinternal") == 0);
  // The batches are left as they were.
  CHECK(number("SELECT count(*) FROM batch_jobs") == 8);
}

TEST_CASE("the engine refuses a submit beyond --max-pending-batches with "
          "quota_exceeded, and a cancel makes room") {
  test_database db;
  auto cfg = ogf::testing::test_engine_config(db);
  cfg.workers = 1;
  cfg.max_pending_batches = 2;
  auto log = std::make_shared<ogf::testing::spy_log>();
  log->delay_ms = 20000; // the first batch stays processing
  ogf::testing::engine_fixture f{cfg, ogf::testing::spy_factory(log)};
  using ogf::testing::acme;
  using ogf::testing::make_submit;
  auto acts = ogf::testing::make_activities("q", 1);
  REQUIRE(f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, acts) == 1);
  auto ids = ogf::testing::ids_of(acts);
  auto first = f.ask<submit_outcome>(submit_atom_v, make_submit(ids));
  auto second = f.ask<submit_outcome>(submit_atom_v, make_submit(ids));
  REQUIRE(ogf::testing::wait_until(
      [&] { return ogf::testing::count_status(db, "processing") == 1; }));
  CHECK(f.ask_error<submit_outcome>(submit_atom_v, make_submit(ids)) ==
        engine_errc::quota_exceeded);
  // A keyed submit takes the single path: refused the same way.
  auto keyed = make_submit(ids);
  keyed.idempotency_key = "k";
  keyed.request_hash = "h";
  CHECK(f.ask_error<submit_outcome>(submit_atom_v, keyed) ==
        engine_errc::quota_exceeded);
  auto pending = ogf::testing::text(
      db, "SELECT id::text FROM batch_jobs WHERE status = 'pending'");
  CHECK(f.ask<cancel_outcome>(cancel_atom_v, acme, pending).immediate);
  CHECK(f.ask<submit_outcome>(submit_atom_v, keyed).batch.idempotency_key ==
        std::optional<std::string>("k"));
  CHECK(ogf::testing::scalar(db, "SELECT count(*) FROM batch_jobs") == 3);
  (void)first;
  (void)second;
}
