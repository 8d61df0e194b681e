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

TEST_CASE("concurrent submits through the engine share transactions and all "
          "succeed") {
  test_database db;
  auto cfg = ogf::testing::test_engine_config(db);
  cfg.workers = 1;
  ogf::testing::engine_fixture f{cfg};
  constexpr int threads = 8, per_thread = 25;
  std::vector<std::future<int>> done;
  for (int t = 0; t < threads; ++t)
    done.push_back(std::async(std::launch::async, [&, t] {
      int ok = 0;
      for (int i = 0; i < per_thread; ++i) {
        auto r = group_request(
            tenant_a, 2, "t" + std::to_string(t) + "i" + std::to_string(i));
        auto out = f.ask<submit_outcome>(submit_atom_v, r);
        ok += out.batch.total_activities == 2 ? 1 : 0;
      }
      return ok;
    }));
  int ok = 0;
  for (auto& d : done)
    ok += d.get();
  CHECK(ok == threads * per_thread);
  sql q{db};
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == threads * per_thread);
  CHECK(q.number("SELECT count(*) FROM batch_items") ==
        threads * per_thread * 2);
  // Group commit happened: fewer transactions than submits.
  auto transactions = q.number("SELECT count(DISTINCT xmin::text) FROM "
                               "batch_jobs");
  INFO("transactions: " << transactions);
  CHECK(transactions < threads * per_thread);
}
