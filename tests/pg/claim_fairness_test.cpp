// The claim of CONTRACT §7: batches scheduled with run_after stay pending
// until due, and within a priority the tenants take turns.
#include "persistence/batch_store.hpp"

#include <algorithm>
#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "domain/time.hpp"
#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

/// `n` batches of tenant `t` at `priority`, in one group submit.
std::vector<std::string> submit_many(batch_store& store, const tenant& t, int n,
                                     int priority = 5) {
  std::vector<persistence::submit_request> reqs;
  for (int i = 0; i < n; ++i)
    reqs.push_back(request(t, {"x"}, priority));
  std::vector<std::string> ids;
  for (auto& r : store.submit_many(reqs)) {
    REQUIRE(r.outcome);
    ids.push_back(r.outcome->batch.id);
  }
  return ids;
}

tenant tenant_no(int i) {
  return {"org-" + std::to_string(i), "ws"};
}

} // namespace

TEST_CASE("a batch scheduled for later stays pending until its run_after, "
          "then is claimed") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto req = request(tenant_a, {"x"});
  auto at = domain::now_us() + std::int64_t{3600} * 1000000;
  req.run_after = at;
  auto b = store.submit(req).batch;
  CHECK(b.status == batch_status::pending);
  CHECK(b.run_after == at);
  CHECK(store.get(tenant_a, b.id).run_after == at);

  CHECK(store.claim(5, 60s).empty());
  auto due = store.next_due();
  REQUIRE(due);
  CHECK(*due > 3590s);
  CHECK(*due <= 3600s);

  // An hour later (by moving the batch, not the clock).
  q.exec("UPDATE batch_jobs SET run_after = now() - interval '1 ms'");
  CHECK_FALSE(store.next_due());
  auto got = store.claim(5, 60s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].batch_id == b.id);
}

TEST_CASE("a run_after already past means now, and a batch without one is "
          "due at its submit") {
  test_database db;
  auto store = make_store(db);
  auto req = request(tenant_a, {"x"});
  req.run_after = domain::now_us() - std::int64_t{86400} * 1000000;
  auto before = domain::now_us();
  auto past = store.submit(req).batch;
  auto plain = store.submit(request(tenant_a, {"y"})).batch;
  // The database's clock and ours agree to well within a minute.
  CHECK(past.run_after > before - 60'000'000);
  CHECK(plain.run_after > before - 60'000'000);
  CHECK(plain.run_after <= plain.created_at);
  // The past time did not put it ahead of what was already waiting, and
  // both are claimable now.
  auto got = store.claim(5, 60s);
  REQUIRE(got.size() == 2);
  CHECK_FALSE(store.next_due());
}

TEST_CASE("the group submit stores each member's run_after") {
  test_database db;
  auto store = make_store(db);
  auto at = domain::now_us() + std::int64_t{600} * 1000000;
  auto later = request(tenant_a, {"x"});
  later.run_after = at;
  auto now = request(tenant_a, {"y"});
  auto out = store.submit_many({later, now});
  REQUIRE(out.size() == 2);
  REQUIRE(out[0].outcome);
  REQUIRE(out[1].outcome);
  CHECK(out[0].outcome->batch.run_after == at);
  CHECK(out[1].outcome->batch.run_after < at);
  auto got = store.claim(5, 60s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].batch_id == out[1].outcome->batch.id);
}

TEST_CASE("batches scheduled for later ahead in every order are never read "
          "by the claim") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // 20,000 batches of one tenant at the top priority, created first and
  // due in an hour; then one due batch behind them.
  q.exec("INSERT INTO batch_jobs (org_id, workspace_id, priority, "
         "total_activities, created_at, run_after) "
         "SELECT 'org-a', 'ws-1', 10, 1, now() - interval '1 day', "
         "now() + interval '1 hour' FROM generate_series(1, 20000)");
  auto due = store.submit(request(tenant_a, {"x"}, 10)).batch;
  q.exec("ANALYZE batch_jobs");
  // The claim's plan reads the due batch's queue by a range that ends at
  // now(): the buffers it touches do not grow with the batches scheduled
  // for later (20,000 index entries would be well over 50 pages).
  pqxx::work tx{q.connection()};
  tx.exec("SET enable_seqscan = off");
  auto plan =
      tx.exec("EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) "
              "SELECT b.id FROM batch_claim_queues q CROSS JOIN LATERAL ("
              " SELECT b.id FROM batch_jobs b WHERE b.org_id = q.org_id"
              " AND b.workspace_id = q.workspace_id AND b.priority = q.priority"
              " AND b.status = 'pending' AND b.run_after <= now()"
              " ORDER BY b.run_after, b.created_at, b.id LIMIT 1) b");
  auto text = plan[0][0].as<std::string>();
  tx.commit();
  auto json = nlohmann::json::parse(text);
  auto hit = json[0]["Plan"]["Shared Hit Blocks"].get<std::int64_t>();
  CHECK(hit < 50);
  CHECK(text.find("Seq Scan") == std::string::npos);
  auto got = store.claim(1, 60s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].batch_id == due.id);
}

TEST_CASE("with one worker, tenant A's 300 queued batches do not hold back "
          "tenant B's one batch") {
  test_database db;
  auto store = make_store(db);
  auto a = submit_many(store, tenant_a, 300);
  // The worker is busy with A's batches, one claim at a time.
  for (int i = 0; i < 3; ++i) {
    auto got = store.claim(1, 60s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].batch_id == a[static_cast<std::size_t>(i)]);
  }
  auto b = store.submit(request(tenant_b, {"x"})).batch;
  auto next = store.claim(1, 60s);
  REQUIRE(next.size() == 1);
  CHECK(next[0].batch_id == b.id);
  // Then A's go on in their order.
  auto after = store.claim(1, 60s);
  REQUIRE(after.size() == 1);
  CHECK(after[0].batch_id == a[3]);
}

TEST_CASE("within a priority the tenants take turns, one batch each per "
          "round, the one served longest ago first") {
  test_database db;
  auto store = make_store(db);
  auto a = submit_many(store, tenant_a, 5);
  auto b = submit_many(store, tenant_b, 5);
  auto c = submit_many(store, tenant_a2, 5);
  std::map<std::string, std::string> tenant_of;
  for (auto& id : a)
    tenant_of[id] = "a";
  for (auto& id : b)
    tenant_of[id] = "b";
  for (auto& id : c)
    tenant_of[id] = "c";
  // One at a time: a round of three holds each tenant once.
  std::string order;
  for (int i = 0; i < 9; ++i) {
    auto got = store.claim(1, 60s);
    REQUIRE(got.size() == 1);
    order += tenant_of.at(got[0].batch_id);
  }
  INFO(order);
  for (int round = 0; round < 3; ++round) {
    auto r = order.substr(static_cast<std::size_t>(round) * 3, 3);
    std::sort(r.begin(), r.end());
    CHECK(r == "abc");
  }
  // The rounds keep one order: whoever went first went longest ago.
  CHECK(order.substr(0, 3) == order.substr(3, 3));
  // Several at once: two of each of the three, each tenant's in FIFO.
  auto six = store.claim(6, 60s);
  REQUIRE(six.size() == 6);
  std::map<std::string, int> per;
  for (const auto& g : six)
    ++per[tenant_of.at(g.batch_id)];
  CHECK(per == std::map<std::string, int>{{"a", 2}, {"b", 2}, {"c", 2}});
  std::set<std::string> six_ids;
  for (const auto& g : six)
    six_ids.insert(g.batch_id);
  CHECK(six_ids.count(a[3]) == 1);
  CHECK(six_ids.count(a[4]) == 1);
}

TEST_CASE("priority still wins across tenants: a higher priority batch of "
          "one tenant goes before a lower one of a tenant whose turn it is") {
  test_database db;
  auto store = make_store(db);
  auto a_high = submit_many(store, tenant_a, 3, 8);
  auto b_low = submit_many(store, tenant_b, 3, 4);
  // A was served last at every claim, B never: priority decides anyway.
  for (int i = 0; i < 3; ++i) {
    auto got = store.claim(1, 60s);
    REQUIRE(got.size() == 1);
    CHECK(got[0].batch_id == a_high[static_cast<std::size_t>(i)]);
  }
  auto got = store.claim(1, 60s);
  REQUIRE(got.size() == 1);
  CHECK(got[0].batch_id == b_low[0]);
  // In one claim too: the higher priority first.
  auto a2 = submit_many(store, tenant_a, 2, 9);
  auto two = store.claim(2, 60s);
  REQUIRE(two.size() == 2);
  CHECK(std::set<std::string>{two[0].batch_id, two[1].batch_id} ==
        std::set<std::string>{a2[0], a2[1]});
}

TEST_CASE("claimers at once across forty tenants take disjoint batches and "
          "together all of them") {
  test_database db;
  sql q{db};
  q.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
         " priority) SELECT 'org-' || (g % 40), 'ws', 1, 1 + g % 3 "
         "FROM generate_series(1, 1200) g");
  std::mutex mu;
  std::map<std::string, int> seen;
  std::vector<std::thread> nodes;
  std::atomic<bool> go{false};
  for (int n = 0; n < 4; ++n)
    nodes.emplace_back([&, n] {
      auto store = make_store(db, "node-" + std::to_string(n));
      while (!go)
        std::this_thread::yield();
      for (int empty = 0; empty < 3;) {
        auto got = store.claim(7, 60s);
        if (got.empty()) {
          ++empty; // a claim beside others may find its rows locked
          continue;
        }
        std::lock_guard<std::mutex> lock{mu};
        for (const auto& c : got)
          ++seen[c.batch_id];
      }
    });
  go = true;
  for (auto& t : nodes)
    t.join();
  CHECK(seen.size() == 1200);
  CHECK(std::all_of(seen.begin(), seen.end(),
                    [](const auto& p) { return p.second == 1; }));
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = 'queued' "
                 "AND lease_token = 1") == 1200);
}

TEST_CASE("a claim for bundles still fills them from a single tenant's "
          "queue") {
  test_database db;
  auto store = make_store(db);
  auto a = submit_many(store, tenant_a, 60);
  // Other tenants' queues exist but are empty.
  for (int i = 0; i < 5; ++i) {
    auto id = store.submit(request(tenant_no(i), {"x"})).batch.id;
    store.remove(tenant_no(i), id);
  }
  // 2 whatever their size, the rest within a budget of 100 activities.
  auto got = store.claim(50, 60s, persistence::claim_mode::queue, 2, 100);
  CHECK(got.size() == 50);
}
