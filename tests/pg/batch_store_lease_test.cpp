// The batch store's engine side: claims, leases and their fencing tokens,
// renewal, release, deferral, chunk recording and finishing.
#include "persistence/batch_store.hpp"

#include <atomic>
#include <map>
#include <mutex>
#include <set>
#include <thread>

#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;
using persistence::finish_kind;
using persistence::lease_ref;

TEST_CASE("four nodes claiming at once never receive the same batch and "
          "together receive all of them") {
  test_database db;
  sql q{db};
  q.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
         " priority) SELECT 'org-a', 'ws-1', 0, 1 + g % 10 "
         "FROM generate_series(1, 1000) g");

  std::mutex mu;
  std::map<std::string, std::string> owner_of; // batch -> node
  std::vector<std::string> duplicates;
  std::map<std::string, int> per_node;
  std::vector<std::thread> nodes;
  std::atomic<bool> go{false};
  for (int n = 0; n < 4; ++n) {
    nodes.emplace_back([&, n] {
      auto node = "node-" + std::to_string(n);
      auto store = make_store(db, node);
      while (!go)
        std::this_thread::yield();
      for (;;) {
        auto got = store.claim(10, 60s);
        if (got.empty())
          break;
        std::lock_guard<std::mutex> lock{mu};
        for (const auto& c : got) {
          if (!owner_of.emplace(c.batch_id, node).second)
            duplicates.push_back(c.batch_id);
          ++per_node[node];
        }
      }
    });
  }
  go = true;
  for (auto& t : nodes)
    t.join();

  CHECK(duplicates.empty());
  CHECK(owner_of.size() == 1000);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = 'queued'") ==
        1000);
  // What each node was told matches what the database recorded.
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE lease_token = 1") ==
        1000);
  pqxx::work tx{q.connection()};
  for (const auto& r : tx.exec("SELECT id::text, lease_owner FROM batch_jobs"))
    CHECK(owner_of[r[0].as<std::string>()] == r[1].as<std::string>());
  INFO("per node: " << per_node["node-0"] << " " << per_node["node-1"] << " "
                    << per_node["node-2"] << " " << per_node["node-3"]);
  CHECK(per_node.size() >= 1);
}

TEST_CASE("claims take higher priority first, FIFO within a priority, and "
          "never more than asked") {
  test_database db;
  auto store = make_store(db);
  auto low = store.submit(request(tenant_a, {"x"}, 2)).batch;
  auto high1 = store.submit(request(tenant_a, {"x"}, 9)).batch;
  auto mid = store.submit(request(tenant_b, {"x"}, 5)).batch;
  auto high2 = store.submit(request(tenant_a, {"x"}, 9)).batch;

  CHECK(store.claim(0, 60s).empty());
  auto first = store.claim(3, 60s);
  REQUIRE(first.size() == 3);
  CHECK(first[0].batch_id == high1.id);
  CHECK(first[1].batch_id == high2.id);
  CHECK(first[2].batch_id == mid.id);
  for (const auto& c : first) {
    CHECK(c.token == 1);
    CHECK_FALSE(c.reclaimed);
    CHECK(c.total_activities == 1);
  }
  CHECK(first[0].priority == 9);
  auto rest = store.claim(3, 60s);
  REQUIRE(rest.size() == 1);
  CHECK(rest[0].batch_id == low.id);
  CHECK(store.claim(3, 60s).empty());
  // A claimed batch is queued and leased to this node.
  auto b = store.get(tenant_a, low.id);
  CHECK(b.status == batch_status::queued);
}

TEST_CASE("a claim that starts its batches leaves them processing with "
          "started_at set, their owner known, and chunks recordable at once") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto a = store.submit(request(tenant_a, {"a1", "a2"})).batch;
  auto b = store.submit(request(tenant_b, {"b1"})).batch;

  auto got = store.claim(5, 60s, persistence::claim_mode::start);
  REQUIRE(got.size() == 2);
  std::map<std::string, persistence::claimed_batch> by_id;
  for (const auto& c : got) {
    CHECK(c.started);
    CHECK(c.token == 1);
    by_id[c.batch_id] = c;
  }
  CHECK(by_id.at(a.id).owner.org_id == tenant_a.org_id);
  CHECK(by_id.at(a.id).owner.workspace_id == tenant_a.workspace_id);
  CHECK(by_id.at(b.id).owner.org_id == tenant_b.org_id);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = "
                 "'processing' AND started_at IS NOT NULL "
                 "AND lease_owner IS NOT NULL") == 2);
  auto seen = store.get(tenant_a, a.id);
  CHECK(seen.status == batch_status::processing);
  CHECK(seen.started_at.has_value());

  // No start step: the fence already accepts chunks and the finish.
  lease_ref lease{a.id, by_id.at(a.id).token};
  auto rows = store.resolve_chunk(lease, tenant_a, "", 10);
  CHECK(rows.size() == 2);
  auto out = store.record_chunk(lease, tenant_a,
                                {ok_row("a1", "1"), ok_row("a2", "2")}, true);
  REQUIRE(out.finished);
  CHECK(out.finished->status == batch_status::completed);

  // The default mode still leaves a claim queued (nothing started).
  auto c = store.submit(request(tenant_a, {"c1"})).batch;
  auto queued = store.claim(5, 60s);
  REQUIRE(queued.size() == 1);
  CHECK_FALSE(queued[0].started);
  CHECK(store.get(tenant_a, c.id).status == batch_status::queued);
  CHECK_FALSE(store.get(tenant_a, c.id).started_at.has_value());
}

TEST_CASE("a batch waiting out its backoff is not claimed before run_after") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto b = store.submit(request(tenant_a, {"x"})).batch;
  q.exec("UPDATE batch_jobs SET run_after = now() + interval '1 hour'");
  CHECK(store.claim(5, 60s).empty());
  q.exec("UPDATE batch_jobs SET run_after = now() - interval '1 second'");
  CHECK(store.claim(5, 60s).size() == 1);
  (void)b;
}

TEST_CASE("an expired lease is reclaimed by another node with a higher token "
          "and the old holder can no longer write anything") {
  test_database db;
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  sql q{db};
  auto batch = a.submit(request(tenant_a, {"a1", "a2", "a3", "a4"})).batch;

  auto first = a.claim(1, 50ms);
  REQUIRE(first.size() == 1);
  lease_ref old_lease{batch.id, first[0].token};
  REQUIRE(a.start(old_lease));
  a.record_chunk(old_lease, tenant_a, {ok_row("a1", "1")});

  // Node b reclaims as soon as the 50 ms lease has run out.
  std::vector<persistence::claimed_batch> taken;
  REQUIRE(eventually([&] {
    taken = b.claim(5, 60s);
    return !taken.empty();
  }));
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].batch_id == batch.id);
  CHECK(taken[0].reclaimed);
  CHECK(taken[0].token > old_lease.token);
  lease_ref new_lease{batch.id, taken[0].token};
  CHECK(q.number("SELECT lease_expiries FROM batch_jobs") == 1);
  CHECK(q.text("SELECT lease_owner FROM batch_jobs") == "node-b");
  // An already-recorded result is kept for the new attempt.
  CHECK(store_test::all_items(a, tenant_a, batch.id, item_status::succeeded)
            .size() == 1);

  auto check_old_holder_is_fenced = [&](const char* phase) {
    INFO(phase);
    auto before = q.snapshot(batch.id);
    CHECK(errc_of([&] {
            a.record_chunk(old_lease, tenant_a, {ok_row("a2", "2")});
          }) == engine_errc::lease_lost);
    auto renewed = a.renew({old_lease}, 60s);
    CHECK(renewed.lost == std::vector<std::string>{batch.id});
    CHECK(renewed.cancel_requested.empty());
    CHECK_FALSE(a.start(old_lease));
    CHECK(errc_of([&] { a.finish(old_lease, finish_kind::done); }) ==
          engine_errc::lease_lost);
    CHECK(errc_of([&] { a.finish(old_lease, finish_kind::failed, "x"); }) ==
          engine_errc::lease_lost);
    CHECK(errc_of([&] { a.defer(old_lease, 1s, "transient"); }) ==
          engine_errc::lease_lost);
    CHECK(a.release({old_lease}).empty());
    CHECK(a.resolve_chunk(old_lease, tenant_a, "", 100).empty());
    // Same token from the node that now holds the lease is fenced too.
    CHECK(errc_of([&] {
            b.record_chunk(old_lease, tenant_a, {ok_row("a2", "2")});
          }) == engine_errc::lease_lost);
    CHECK(q.snapshot(batch.id) == before);
  };
  check_old_holder_is_fenced("new holder has not started");
  REQUIRE(b.start(new_lease));
  check_old_holder_is_fenced("new holder is processing");

  // The new holder works normally.
  auto chunk = b.resolve_chunk(new_lease, tenant_a, "", 100);
  REQUIRE(chunk.size() == 3);
  CHECK(chunk[0].activity_id == "a2");
  b.record_chunk(new_lease, tenant_a,
                 {ok_row("a2", "2"), ok_row("a3", "3"), ok_row("a4", "4")});
  auto done = b.finish(new_lease, finish_kind::done);
  CHECK(done.status == batch_status::completed);
  CHECK(done.total_emissions_kg_co2e == "10");
  CHECK(q.text("SELECT string_agg(node_id || '@' || lease_token, ',' ORDER BY "
               "recorded_at) FROM batch_chunk_log") == "node-a@1,node-b@2");
  check_old_holder_is_fenced("batch completed");
}

TEST_CASE("a node reclaiming its own expired lease fences its own old token") {
  test_database db;
  auto a = make_store(db, "node-a");
  sql q{db};
  auto batch = a.submit(request(tenant_a, {"a1"})).batch;
  auto first = a.claim(1, 60s).at(0);
  lease_ref old_lease{batch.id, first.token};
  REQUIRE(a.start(old_lease));
  q.expire_lease(batch.id);
  auto again = a.claim(1, 60s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].reclaimed);
  auto before = q.snapshot(batch.id);
  CHECK(errc_of([&] {
          a.record_chunk(old_lease, tenant_a, {ok_row("a1", "1")});
        }) == engine_errc::lease_lost);
  CHECK(a.renew({old_lease}, 60s).lost.size() == 1);
  CHECK(q.snapshot(batch.id) == before);
}

TEST_CASE("a batch whose lease expired more than max_retries times fails with "
          "an error") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto batch = store.submit(request(tenant_a, {"a1"}, 5, 2)).batch;

  // Attempt 1 plus two reclaims are allowed (max_retries = 2).
  auto c = store.claim(1, 60s);
  REQUIRE(c.size() == 1);
  for (int expiry = 1; expiry <= 2; ++expiry) {
    INFO("expiry " << expiry);
    REQUIRE(store.start({batch.id, c[0].token}));
    q.expire_lease(batch.id);
    c = store.claim(1, 60s);
    REQUIRE(c.size() == 1);
    CHECK(c[0].reclaimed);
    CHECK(q.number("SELECT lease_expiries FROM batch_jobs") == expiry);
  }
  q.expire_lease(batch.id);
  CHECK(store.claim(1, 60s).empty());
  auto b = store.get(tenant_a, batch.id);
  CHECK(b.status == batch_status::failed);
  REQUIRE(b.error.has_value());
  CHECK(b.error->find("lease") != std::string::npos);
  CHECK(b.completed_at.has_value());
  CHECK(q.text("SELECT coalesce(lease_owner, '<none>') FROM batch_jobs") ==
        "<none>");
  CHECK_FALSE(store.start({batch.id, c[0].token}));
  // A user may retry it; the lease budget starts afresh.
  auto retried = store.retry(tenant_a, batch.id);
  CHECK(retried.status == batch_status::pending);
  CHECK(q.number("SELECT lease_expiries FROM batch_jobs") == 0);
}

TEST_CASE("a batch with max_retries 0 fails on its first lease expiry") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto batch = store.submit(request(tenant_a, {"a1"}, 5, 0)).batch;
  REQUIRE(store.claim(1, 60s).size() == 1);
  q.expire_lease(batch.id);
  CHECK(store.claim(1, 60s).empty());
  CHECK(store.get(tenant_a, batch.id).status == batch_status::failed);
}

TEST_CASE("renew extends held leases and reports lost and cancel-requested "
          "ones") {
  test_database db;
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  sql q{db};
  auto keep = a.submit(request(tenant_a, {"x"}, 9)).batch;
  auto cancelled = a.submit(request(tenant_a, {"x"}, 8)).batch;
  auto stolen = a.submit(request(tenant_a, {"x"}, 7)).batch;
  auto queued_cancel = a.submit(request(tenant_a, {"x"}, 6)).batch;
  auto claimed = a.claim(4, 60s);
  REQUIRE(claimed.size() == 4);
  std::vector<lease_ref> leases;
  for (const auto& c : claimed)
    leases.push_back({c.batch_id, c.token});
  REQUIRE(a.start(leases[0]));
  REQUIRE(a.start(leases[1]));
  REQUIRE(a.start(leases[2]));

  CHECK_FALSE(a.cancel(tenant_a, cancelled.id).immediate);
  CHECK(a.cancel(tenant_a, queued_cancel.id).immediate);
  q.expire_lease(stolen.id);
  auto taken = b.claim(1, 60s);
  REQUIRE(taken.size() == 1);
  REQUIRE(taken[0].batch_id == stolen.id);

  auto expiry_before = q.text("SELECT lease_expires_at::text FROM batch_jobs "
                              "WHERE id = '" +
                              keep.id + "'");
  auto out = a.renew(leases, 120s);
  std::set<std::string> lost(out.lost.begin(), out.lost.end());
  CHECK(lost == std::set<std::string>{stolen.id, queued_cancel.id});
  CHECK(out.cancel_requested == std::vector<std::string>{cancelled.id});
  CHECK(q.truth("SELECT lease_expires_at > now() + interval '100 seconds' "
                "FROM batch_jobs WHERE id = '" +
                keep.id + "'"));
  CHECK(q.text("SELECT lease_expires_at::text FROM batch_jobs WHERE id = '" +
               keep.id + "'") != expiry_before);
  // Renewing someone else's lease with the right token is refused too.
  auto foreign = b.renew({leases[0]}, 60s);
  CHECK(foreign.lost == std::vector<std::string>{keep.id});
  CHECK(a.renew({}, 60s).lost.empty());
}

TEST_CASE("release gives batches back without counting an attempt, and "
          "another node can claim them at once") {
  test_database db;
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  sql q{db};
  auto one = a.submit(request(tenant_a, {"a1", "a2"}, 9)).batch;
  auto two = a.submit(request(tenant_a, {"x"}, 8)).batch;
  auto claimed = a.claim(2, 60s);
  REQUIRE(claimed.size() == 2);
  lease_ref l1{one.id, claimed[0].token};
  lease_ref l2{two.id, claimed[1].token};
  REQUIRE(a.start(l1));
  a.record_chunk(l1, tenant_a, {ok_row("a1", "1.25")});
  // Node b cannot release node a's leases.
  CHECK(b.release({l1, l2}).empty());

  auto released = a.release({l1, l2, {one.id, l1.token + 7}});
  std::set<std::string> got(released.begin(), released.end());
  CHECK(got == std::set<std::string>{one.id, two.id});
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = 'pending' "
                 "AND lease_owner IS NULL AND lease_expiries = 0") == 2);
  // The old leases are void; the work already recorded is kept.
  CHECK_FALSE(a.start(l1));
  CHECK(errc_of([&] { a.record_chunk(l1, tenant_a, {ok_row("a2", "2")}); }) ==
        engine_errc::lease_lost);
  CHECK(store_test::all_items(a, tenant_a, one.id, item_status::succeeded)
            .size() == 1);

  auto taken = b.claim(5, 60s);
  REQUIRE(taken.size() == 2);
  CHECK(taken[0].batch_id == one.id);
  CHECK_FALSE(taken[0].reclaimed);
  CHECK(taken[0].token > l1.token);
  CHECK(q.number("SELECT max(lease_expiries) FROM batch_jobs") == 0);
  lease_ref nl{one.id, taken[0].token};
  REQUIRE(b.start(nl));
  auto chunk = b.resolve_chunk(nl, tenant_a, "", 10);
  REQUIRE(chunk.size() == 1);
  CHECK(chunk[0].activity_id == "a2");
}

TEST_CASE("defer puts a batch back to pending until its delay has passed") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto batch = store.submit(request(tenant_a, {"a1"}, 5, 3)).batch;
  auto c = store.claim(1, 60s).at(0);
  lease_ref lease{batch.id, c.token};
  REQUIRE(store.start(lease));
  store.defer(lease, 3600s, "database busy");
  auto b = store.get(tenant_a, batch.id);
  CHECK(b.status == batch_status::pending);
  CHECK(b.error == std::optional<std::string>("database busy"));
  CHECK(q.number("SELECT lease_expiries FROM batch_jobs") == 1);
  CHECK(store.claim(1, 60s).empty());
  CHECK(store.queue_depth() == 0);
  CHECK(errc_of([&] { store.defer(lease, 1s, "again"); }) ==
        engine_errc::lease_lost);
  q.exec("UPDATE batch_jobs SET run_after = now() - interval '1 second'");
  auto again = store.claim(1, 60s);
  REQUIRE(again.size() == 1);
  CHECK(again[0].token > lease.token);
}

TEST_CASE("deferring a batch more than max_retries times fails it") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto batch = store.submit(request(tenant_a, {"a1"}, 5, 2)).batch;
  for (int attempt = 1; attempt <= 3; ++attempt) {
    INFO("attempt " << attempt);
    auto c = store.claim(1, 60s);
    REQUIRE(c.size() == 1);
    lease_ref lease{batch.id, c[0].token};
    REQUIRE(store.start(lease));
    store.defer(lease, 0ms, "timeout " + std::to_string(attempt));
  }
  auto b = store.get(tenant_a, batch.id);
  CHECK(b.status == batch_status::failed);
  CHECK(b.error == std::optional<std::string>("timeout 3"));
  CHECK(b.completed_at.has_value());
  CHECK(store.claim(1, 60s).empty());
}

TEST_CASE("a cancel-requested batch that leaves its node ends cancelled "
          "instead of running again") {
  test_database db;
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  sql q{db};
  auto batch = a.submit(request(tenant_a, {"a1", "a2"})).batch;
  auto c = a.claim(1, 60s).at(0);
  lease_ref lease{batch.id, c.token};
  REQUIRE(a.start(lease));
  a.record_chunk(lease, tenant_a, {ok_row("a1", "1.5")});
  REQUIRE_FALSE(a.cancel(tenant_a, batch.id).immediate);

  SECTION("released at shutdown") {
    CHECK(a.release({lease}) == std::vector<std::string>{batch.id});
  }
  SECTION("deferred after a transient error") {
    a.defer(lease, 0ms, "database busy");
  }
  SECTION("its lease expired") {
    q.expire_lease(batch.id);
  }
  CHECK(b.claim(5, 60s).empty());
  auto got = b.get(tenant_a, batch.id);
  CHECK(got.status == batch_status::cancelled);
  CHECK(got.completed_at.has_value());
  CHECK_FALSE(got.error);
  // What was done before the cancel is kept.
  CHECK(got.succeeded_activities == 1);
  CHECK(got.total_emissions_kg_co2e == "1.5");
  CHECK(q.text("SELECT coalesce(lease_owner, '<none>') FROM batch_jobs") ==
        "<none>");
  CHECK(a.renew({lease}, 60s).lost == std::vector<std::string>{batch.id});
  // And a user may retry it like any cancelled batch.
  CHECK(b.retry(tenant_a, batch.id).status == batch_status::pending);
}
