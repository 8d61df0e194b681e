// Retention (serve --retention, CONTRACT §7): batches that ended longer ago
// than the window go with their items, results and chunk log, a slice at a
// time under an advisory lock, by one node at a time; everything else stays.
// Old batches are made by setting completed_at back in time, never by
// waiting.
#include <atomic>
#include <thread>

#include "store_test_support.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"

using namespace ogf;
using namespace ogf::persistence;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

constexpr auto day = std::chrono::hours(24);

/// The key of the retention lock (persistence/sql/retention.sql).
const std::string retention_lock = "5712889474445268302";

/// Inserts `n` completed batches of `org_id`/ws-1 that ended `age` ago (the
/// k-th one k seconds earlier still), each with `items` activities, a
/// result per activity and one chunk log row.
void insert_ended(sql& q, int n, int items, const std::string& age,
                  const std::string& org_id = "org-a") {
  auto k = std::to_string(items);
  q.exec("WITH b AS ("
         " INSERT INTO batch_jobs (org_id, workspace_id, status,"
         "  total_activities, processed_activities, succeeded_activities,"
         "  started_at, completed_at)"
         " SELECT " +
         q.quote(org_id) + ", 'ws-1', 'completed', " + k + ", " + k + ", " + k +
         ", now() - interval " + q.quote(age) +
         " - interval '1 hour', now() - interval " + q.quote(age) +
         " - g * interval '1 second'"
         " FROM generate_series(1, " +
         std::to_string(n) +
         ") g RETURNING id),"
         " i AS (INSERT INTO batch_item_ids (batch_id, activity_id)"
         "  SELECT b.id, 'a' || x FROM b, generate_series(1, " +
         k +
         ") x RETURNING batch_id, activity_id),"
         " r AS (INSERT INTO batch_results (batch_id, activity_id, attempt,"
         "  status, lease_token)"
         "  SELECT batch_id, activity_id, 0, 'succeeded', 1 FROM i)"
         " INSERT INTO batch_chunk_log (batch_id, lease_token, node_id, items)"
         " SELECT id, 1, 'node-a', " +
         k + " FROM b");
}

/// Rows of `table` belonging to batches that no longer exist, plus the
/// table's rows in all (for "nothing left behind" and "all still there").
std::int64_t orphans(sql& q, const std::string& table) {
  return q.number("SELECT count(*) FROM " + table +
                  " t WHERE NOT EXISTS (SELECT 1 FROM batch_jobs b"
                  " WHERE b.id = t.batch_id)");
}

std::int64_t count(sql& q, const std::string& table) {
  return q.number("SELECT count(*) FROM " + table);
}

/// Prunes with `store` until a slice that held the lock found nothing more;
/// returns the sum of what it deleted.
prune_outcome prune_all(batch_store& store, std::chrono::milliseconds window,
                        int slice_batches = 100, std::int64_t items = 10000) {
  prune_outcome sum;
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < until) {
    auto out = store.prune_slice(window, slice_batches, items);
    sum.batches += out.batches;
    sum.items += out.items;
    sum.results += out.results;
    if (out.locked && out.batches == 0) {
      sum.locked = true;
      return sum;
    }
  }
  FAIL("pruning did not end");
  return sum;
}

} // namespace

TEST_CASE("retention deletes ended batches older than the window with their "
          "items, results and chunk log, and keeps every other batch "
          "untouched") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // Ended ones first: drive_to claims the only claimable batch.
  std::vector<std::string> old_ended, kept;
  for (auto s :
       {batch_status::completed, batch_status::failed, batch_status::cancelled})
    old_ended.push_back(drive_to(store, s).id);
  for (auto s :
       {batch_status::completed, batch_status::failed, batch_status::cancelled})
    kept.push_back(drive_to(store, s).id); // ended, but recently
  std::vector<std::string> unfinished;
  for (auto s :
       {batch_status::queued, batch_status::processing, batch_status::pending})
    unfinished.push_back(drive_to(store, s, tenant_b).id);
  // Old ones: ended (or, for unfinished ones, made and touched) two days
  // ago. An unfinished batch never has completed_at; one that has it all
  // the same must stay because of its status.
  auto back = [&](const std::string& id) {
    q.exec("UPDATE batch_jobs SET created_at = now() - interval '3 days',"
           " updated_at = now() - interval '2 days',"
           " completed_at = now() - interval '2 days' WHERE id = " +
           q.quote(id) + "::uuid");
  };
  for (const auto& id : old_ended)
    back(id);
  for (const auto& id : unfinished)
    back(id);
  std::vector<std::string> snapshots;
  for (const auto& id : kept)
    snapshots.push_back(q.snapshot(id));
  for (const auto& id : unfinished)
    snapshots.push_back(q.snapshot(id));
  auto results_before = count(q, "batch_results");
  auto results_of_old =
      q.number("SELECT count(*) FROM batch_results WHERE batch_id IN (" +
               q.quote(old_ended[0]) + "::uuid, " + q.quote(old_ended[1]) +
               "::uuid, " + q.quote(old_ended[2]) + "::uuid)");
  REQUIRE(results_of_old > 0);
  REQUIRE(q.number("SELECT count(*) FROM batch_chunk_log") > 0);
  REQUIRE(tenants_miscounted(q) == 0);

  auto out = store.prune_slice(day, 100, 10000);
  CHECK(out.locked);
  CHECK(out.batches == 3);
  CHECK(out.items == 9); // three activities each
  CHECK(out.results == results_of_old);

  for (const auto& id : old_ended)
    CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE id = " + q.quote(id) +
                   "::uuid") == 0);
  CHECK(orphans(q, "batch_item_ids") == 0);
  CHECK(orphans(q, "batch_results") == 0);
  CHECK(orphans(q, "batch_chunk_log") == 0);
  CHECK(count(q, "batch_results") == results_before - results_of_old);
  std::size_t i = 0;
  for (const auto& id : kept)
    CHECK(q.snapshot(id) == snapshots[i++]);
  for (const auto& id : unfinished)
    CHECK(q.snapshot(id) == snapshots[i++]);
  // Deleting ended batches leaves the quota's counts as they were.
  CHECK(tenants_miscounted(q) == 0);
  CHECK(q.number("SELECT coalesce(sum(open_batches), 0) FROM "
                 "tenant_open_batches") == 3);

  // Nothing more is old enough.
  auto again = store.prune_slice(day, 100, 10000);
  CHECK(again.locked);
  CHECK(again.batches == 0);
  CHECK(count(q, "batch_jobs") == 6);
}

TEST_CASE("retention 0 deletes nothing, however old the ended batches") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  insert_ended(q, 5, 2, "3650 days");
  auto out = store.prune_slice(std::chrono::milliseconds(0), 100, 10000);
  CHECK(out.batches == 0);
  CHECK(count(q, "batch_jobs") == 5);
  CHECK(count(q, "batch_item_ids") == 10);
}

TEST_CASE("a retention slice takes the oldest batches first, at most its "
          "batch limit, and beyond the first only up to its item budget") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  insert_ended(q, 10, 4, "2 days");
  auto oldest = [&](int n) {
    return q.text("SELECT string_agg(id::text, ',' ORDER BY completed_at) FROM"
                  " (SELECT id, completed_at FROM batch_jobs"
                  " ORDER BY completed_at LIMIT " +
                  std::to_string(n) + ") o");
  };
  auto remaining_oldest = [&] { return oldest(1); };

  auto first3 = oldest(3);
  auto out = store.prune_slice(day, 3, 10000);
  CHECK(out.batches == 3);
  CHECK(out.items == 12);
  for (std::size_t at = 0; at < first3.size(); at += 37)
    CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE id = " +
                   q.quote(first3.substr(at, 36)) + "::uuid") == 0);

  // Budget 9 activities: two batches of 4 fit, a third would make 12.
  out = store.prune_slice(day, 100, 9);
  CHECK(out.batches == 2);
  CHECK(out.items == 8);

  // A budget smaller than one batch still takes that one batch.
  auto next = remaining_oldest();
  out = store.prune_slice(day, 100, 1);
  CHECK(out.batches == 1);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE id = " + q.quote(next) +
                 "::uuid") == 0);
  CHECK(count(q, "batch_jobs") == 4);
  CHECK(count(q, "batch_item_ids") == 16);
  CHECK(count(q, "batch_results") == 16);
  CHECK(count(q, "batch_chunk_log") == 4);
}

TEST_CASE("a batch whose idempotency key is still live stays until the key "
          "lapses, even when it ended before the window") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  insert_ended(q, 1, 1, "3 hours");
  q.exec("UPDATE batch_jobs SET idempotency_key = 'k-1', request_hash = 'h',"
         " created_at = now() - interval '4 hours'");
  auto out = store.prune_slice(std::chrono::hours(1), 100, 10000);
  CHECK(out.locked);
  CHECK(out.batches == 0);
  // 25 h after its submit the key no longer replays: the batch may go.
  q.exec("UPDATE batch_jobs SET created_at = now() - interval '25 hours'");
  out = store.prune_slice(std::chrono::hours(1), 100, 10000);
  CHECK(out.batches == 1);
  CHECK(count(q, "batch_jobs") == 0);
}

TEST_CASE("a batch whose completion callback is still being delivered stays "
          "until it is delivered or given up") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  insert_ended(q, 3, 1, "3 hours");
  // One without a callback, one delivered, one still being delivered.
  q.exec("WITH o AS (SELECT id, row_number() OVER (ORDER BY completed_at)"
         " AS n FROM batch_jobs)"
         " UPDATE batch_jobs b SET callback_url = 'https://example.com/hook',"
         " callback_status = CASE o.n WHEN 2 THEN 'delivered' ELSE 'pending'"
         " END FROM o WHERE b.id = o.id AND o.n >= 2");
  REQUIRE(q.number("SELECT count(*) FROM batch_jobs WHERE callback_status ="
                   " 'pending' AND callback_url IS NOT NULL") == 1);
  auto out = store.prune_slice(std::chrono::hours(1), 100, 10000);
  CHECK(out.locked);
  CHECK(out.batches == 2);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE callback_status ="
                 " 'pending' AND callback_url IS NOT NULL") == 1);
  // Given up (or delivered): it may go.
  q.exec("UPDATE batch_jobs SET callback_status = 'failed'");
  out = store.prune_slice(std::chrono::hours(1), 100, 10000);
  CHECK(out.batches == 1);
  CHECK(count(q, "batch_jobs") == 0);
}

TEST_CASE("a node that does not get the retention lock prunes nothing and "
          "prunes once the lock is free") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  insert_ended(q, 20, 2, "2 days");
  // Another node in the middle of its slice: it holds the lock until its
  // transaction ends.
  pqxx::connection other{db.url()};
  {
    pqxx::work tx{other};
    REQUIRE(
        tx.exec1("SELECT pg_try_advisory_xact_lock(" + retention_lock + ")")[0]
            .as<bool>());
    auto out = store.prune_slice(day, 100, 10000);
    CHECK_FALSE(out.locked);
    CHECK(out.batches == 0);
    CHECK(count(q, "batch_jobs") == 20);
    CHECK(count(q, "batch_item_ids") == 40);
    tx.commit(); // the lock goes with the transaction
  }
  auto out = store.prune_slice(day, 100, 10000);
  CHECK(out.locked);
  CHECK(out.batches == 20);
  CHECK(count(q, "batch_item_ids") == 0);
}

TEST_CASE("two nodes pruning at once delete every old batch exactly once") {
  test_database db;
  sql q{db};
  insert_ended(q, 600, 3, "2 days");
  insert_ended(q, 50, 3, "1 hour", "org-recent"); // inside the window
  prune_outcome sums[2];
  std::atomic<int> ready{0};
  auto node = [&](int n) {
    auto store = make_store(db, "node-" + std::to_string(n));
    ++ready;
    while (ready.load() < 2)
      std::this_thread::yield();
    sums[n] = prune_all(store, day, 25);
  };
  std::thread a{node, 0}, b{node, 1};
  a.join();
  b.join();
  CHECK(sums[0].batches + sums[1].batches == 600);
  CHECK(sums[0].items + sums[1].items == 1800);
  CHECK(sums[0].results + sums[1].results == 1800);
  CHECK(count(q, "batch_jobs") == 50);
  CHECK(count(q, "batch_item_ids") == 150);
  CHECK(orphans(q, "batch_item_ids") == 0);
  CHECK(orphans(q, "batch_results") == 0);
  CHECK(orphans(q, "batch_chunk_log") == 0);
}

TEST_CASE("an engine with retention prunes old ended batches at start, keeps "
          "the rest, and counts what it deleted in its stats") {
  test_database db;
  sql q{db};
  insert_ended(q, 30, 2, "40 days");
  insert_ended(q, 5, 2, "10 days", "org-recent");
  auto cfg = ogf::testing::test_engine_config(db);
  cfg.retention = 30 * day;
  cfg.retention_interval = std::chrono::milliseconds(200);
  ogf::testing::engine_fixture f{cfg};
  // The round ends (and is stamped) with a slice that finds nothing more.
  REQUIRE(ogf::testing::wait_until(
      [&] {
        auto s = f.ask<engine_stats>(stats_atom_v);
        return s.pruned_batches == 30 && s.last_prune_us > 0;
      },
      std::chrono::seconds(20)));
  auto stats = f.ask<engine_stats>(stats_atom_v);
  CHECK(stats.pruned_items == 60);
  CHECK(stats.pruned_results == 60);
  CHECK(stats.last_prune_us > 0);
  CHECK(count(q, "batch_jobs") == 5);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE org_id <> "
                 "'org-recent'") == 0);
  // A later round finds nothing more: the count stays.
  auto last = stats.last_prune_us;
  REQUIRE(ogf::testing::wait_until(
      [&] { return f.ask<engine_stats>(stats_atom_v).last_prune_us > last; },
      std::chrono::seconds(20)));
  CHECK(f.ask<engine_stats>(stats_atom_v).pruned_batches == 30);
  f.stop();
}

TEST_CASE("an engine with the default retention deletes nothing") {
  test_database db;
  sql q{db};
  insert_ended(q, 10, 2, "3650 days");
  auto cfg = ogf::testing::test_engine_config(db);
  REQUIRE(cfg.retention == std::chrono::milliseconds(0));
  ogf::testing::engine_fixture f{cfg};
  // A whole batch goes through this engine meanwhile.
  auto ids = ogf::testing::submit_batches(f, 1, 3);
  REQUIRE(ogf::testing::wait_until(
      [&] { return ogf::testing::count_status(db, "completed") == 11; }));
  auto stats = f.ask<engine_stats>(stats_atom_v);
  CHECK(stats.pruned_batches == 0);
  CHECK(stats.last_prune_us == 0);
  CHECK(count(q, "batch_jobs") == 11);
  CHECK(count(q, "batch_item_ids") == 23);
  f.stop();
}

TEST_CASE("two engines with retention on one database delete every old "
          "batch once between them") {
  test_database db;
  sql q{db};
  insert_ended(q, 400, 2, "40 days");
  auto cfg_a = ogf::testing::test_engine_config(db, "node-a");
  cfg_a.retention = 30 * day;
  cfg_a.retention_interval = std::chrono::milliseconds(50);
  auto cfg_b = cfg_a;
  cfg_b.node_id = "node-b";
  ogf::testing::engine_fixture a{cfg_a};
  ogf::testing::engine_fixture b{cfg_b};
  auto pruned = [&] {
    return a.ask<engine_stats>(stats_atom_v).pruned_batches +
           b.ask<engine_stats>(stats_atom_v).pruned_batches;
  };
  REQUIRE(ogf::testing::wait_until([&] { return count(q, "batch_jobs") == 0; },
                                   std::chrono::seconds(20)));
  // Each engine's count arrives with its next stats read.
  CHECK(ogf::testing::wait_until([&] { return pruned() == 400; },
                                 std::chrono::seconds(5)));
  CHECK(pruned() == 400);
  auto items = a.ask<engine_stats>(stats_atom_v).pruned_items +
               b.ask<engine_stats>(stats_atom_v).pruned_items;
  CHECK(items == 800);
  a.stop();
  b.stop();
}
