// Group commit of submits: the store's submit_many and the engine's submit
// batcher.
#include <future>
#include <thread>

#include "store_test_support.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"

using namespace ogf;
using namespace ogf::persistence;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

submit_request group_request(const tenant& t, int n, const std::string& tag,
                             int priority = 5) {
  submit_request r;
  r.owner = t;
  r.priority = priority;
  r.metadata_json = R"({"tag": ")" + tag + R"("})";
  for (int i = 0; i < n; ++i)
    r.activity_ids.push_back(tag + "-" + std::to_string(i));
  r.request_hash = tag;
  return r;
}

} // namespace

TEST_CASE("submit_many writes every batch with its items in one transaction "
          "and answers in input order") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  std::vector<submit_request> reqs{group_request(tenant_a, 3, "x", 7),
                                   group_request(tenant_b, 1, "y", 2),
                                   group_request(tenant_a, 5, "z")};
  auto out = store.submit_many(reqs);
  REQUIRE(out.size() == 3);
  for (std::size_t i = 0; i < out.size(); ++i) {
    INFO(i);
    REQUIRE(out[i].outcome);
    CHECK(out[i].error == engine_errc::none);
    const auto& b = out[i].outcome->batch;
    CHECK(b.owner == reqs[i].owner);
    CHECK(b.priority == reqs[i].priority);
    CHECK(b.total_activities ==
          static_cast<std::int64_t>(reqs[i].activity_ids.size()));
    CHECK(b.metadata["tag"] == reqs[i].metadata_json.substr(9, 1));
    CHECK(b.status == batch_status::pending);
    CHECK_FALSE(out[i].outcome->replayed);
    CHECK(q.number("SELECT count(*) FROM batch_items WHERE batch_id = " +
                   q.quote(b.id) + "::uuid") == b.total_activities);
    CHECK(store.get(reqs[i].owner, b.id).id == b.id);
  }
  // One transaction: every row carries the same inserting transaction id.
  CHECK(q.number("SELECT count(DISTINCT xmin::text) FROM batch_jobs") == 1);
  // FIFO within the group follows input order.
  CHECK(out[0].outcome->batch.created_at < out[2].outcome->batch.created_at);
}

TEST_CASE("a group the database refuses because of one request still stores "
          "the others, and only that one fails") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto good1 = group_request(tenant_a, 2, "good1");
  auto bad = group_request(tenant_a, 2, "bad");
  bad.activity_ids.push_back(bad.activity_ids.front()); // duplicate id
  auto good2 = group_request(tenant_a, 2, "good2");
  auto out = store.submit_many({good1, bad, good2});
  REQUIRE(out.size() == 3);
  CHECK(out[0].outcome);
  CHECK_FALSE(out[1].outcome);
  CHECK(out[1].error == engine_errc::validation);
  CHECK(out[2].outcome);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 2);
  CHECK(q.number("SELECT count(*) FROM batch_items") == 4);
}

TEST_CASE("submits that queue while a group commits go together in the next "
          "transaction, and all succeed") {
  test_database db;
  auto cfg = ogf::testing::test_engine_config(db);
  cfg.workers = 1;
  ogf::testing::engine_fixture f{cfg};
  // The first groups wait on this lock inside the database, so every later
  // submit queues in the batcher: the concurrency group commit is for, made
  // deterministic instead of hoped for from overlapping threads.
  pqxx::connection locker{db.url()};
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE batch_jobs IN SHARE MODE");

  constexpr int submits = 200;
  caf::scoped_actor self{f.system()};
  std::vector<decltype(self->request(f.engine(), std::chrono::seconds(60),
                                     submit_atom_v, submit_request{}))>
      pending;
  for (int i = 0; i < submits; ++i)
    pending.push_back(
        self->request(f.engine(), std::chrono::seconds(60), submit_atom_v,
                      group_request(tenant_a, 2, "s" + std::to_string(i))));
  // The engine answers in mailbox order: once it answered this, it has
  // handed every submit above to the batcher, whose mailbox then holds them
  // all ahead of any group's commit.
  f.ask<ogf::engine_stats>(ogf::stats_atom_v);
  lock->abort();

  int ok = 0;
  for (auto& p : pending)
    p.receive(
        [&](submit_outcome& out) {
          ok += out.batch.total_activities == 2 ? 1 : 0;
        },
        [&](caf::error& e) { FAIL("submit failed: " << to_string(e)); });
  CHECK(ok == submits);
  sql q{db};
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == submits);
  CHECK(q.number("SELECT count(*) FROM batch_items") == submits * 2);
  // The groups in flight when the lock was taken (at most max_in_flight =
  // 2), then the queued rest in groups of up to 256. (Counted by the
  // batcher: xmin would also count the worker's later updates.)
  auto stats = f.ask<ogf::engine_stats>(ogf::stats_atom_v);
  INFO("transactions: " << stats.submit_transactions);
  CHECK(stats.submits_committed == submits);
  CHECK(stats.submit_transactions <= 3);
}

TEST_CASE("submit_many leaves out requests whose deadline has passed and "
          "writes the others") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto late = group_request(tenant_a, 2, "late");
  late.until = deadline::in(-std::chrono::milliseconds(1));
  std::vector<submit_request> reqs{group_request(tenant_a, 1, "on-time"), late};
  auto out = store.submit_many(reqs);
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].outcome);
  CHECK_FALSE(out[1].outcome);
  CHECK(out[1].error == engine_errc::unavailable);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 1);
  CHECK(q.number("SELECT count(*) FROM batch_items") == 1);
  CHECK_THROWS_AS(store.submit(late), store_exception);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 1);
}

TEST_CASE("a group whose member's deadline passes while it waits in the "
          "database is taken out of the group before it commits") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  pqxx::connection locker{db.url()};
  auto lock = std::make_unique<pqxx::work>(locker);
  lock->exec("LOCK TABLE batch_jobs IN SHARE MODE");
  auto short_lived = group_request(tenant_a, 2, "short");
  short_lived.until = deadline::in(std::chrono::milliseconds(300));
  std::vector<submit_request> reqs{group_request(tenant_a, 1, "patient"),
                                   short_lived};
  // The insert waits on the lock until well past the short deadline.
  auto writer =
      std::async(std::launch::async, [&] { return store.submit_many(reqs); });
  REQUIRE(ogf::testing::wait_until(
      [&] {
        return q.number("SELECT count(*) FROM pg_locks WHERE NOT granted AND "
                        "relation = 'batch_jobs'::regclass") == 1;
      },
      std::chrono::seconds(10), std::chrono::milliseconds(5)));
  while (!short_lived.until.passed())
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  lock->abort();
  auto out = writer.get();
  REQUIRE(out.size() == 2);
  CHECK(out[0].outcome);
  CHECK_FALSE(out[1].outcome);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 1);
  CHECK(q.number("SELECT count(*) FROM batch_items") == 1);
  CHECK(q.number("SELECT count(*) FROM batch_items WHERE activity_id LIKE "
                 "'short-%'") == 0);
}
