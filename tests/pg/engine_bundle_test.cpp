// One engine with a long queue of small batches: its workers take them in
// bundles (one resolve, one compute, one transaction for many batches),
// every batch still completes exactly once, and a cancel or a lost lease
// of one batch of a bundle touches only that batch.
#include "actors/engine.hpp"

#include <algorithm>
#include <set>
#include <utility>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "actors/lease_renewer.hpp"
#include "actors/store_actor.hpp"
#include "persistence/batch_store.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// Batch sizes 1, 2, 3, 4, 5, 1, 2, ... (`n` of them): all small.
std::vector<int> sizes_one_to_five(int n) {
  std::vector<int> out;
  for (int k = 0; k < n; ++k)
    out.push_back(k % 5 + 1);
  return out;
}

std::int64_t total_of(const std::vector<int>& sizes) {
  std::int64_t n = 0;
  for (auto s : sizes)
    n += s;
  return n;
}

/// Every batch in `ids` is completed with the exact total of its
/// make_activities(_, sizes[k]) and all its items succeeded.
void check_exact_totals(engine_fixture& f, const std::vector<std::string>& ids,
                        const std::vector<int>& sizes) {
  for (std::size_t k = 0; k < ids.size(); ++k) {
    INFO("batch b" << k << " (" << sizes[k] << " activities)");
    auto b = f.ask<domain::batch>(get_atom_v, acme, ids[k]);
    CHECK(b.status == domain::batch_status::completed);
    CHECK(b.total_emissions_kg_co2e == expected_emissions(sizes[k]));
    CHECK(b.succeeded_activities == sizes[k]);
    CHECK(b.processed_activities == sizes[k]);
  }
}

/// Every activity in `seen` was computed exactly once, and there are
/// `expected` of them.
void check_computed_once(spy_log& log, std::int64_t expected) {
  auto seen = log.seen_copy();
  CHECK(static_cast<std::int64_t>(seen.size()) == expected);
  std::int64_t twice = 0;
  for (const auto& [id, n] : seen)
    if (n != 1)
      ++twice;
  CHECK(twice == 0);
}

/// Batch keys ("b<k>") of the activities the spy has seen.
std::set<std::string> keys_seen(spy_log& log) {
  std::set<std::string> out;
  for (const auto& [id, n] : log.seen_copy())
    out.insert(id.substr(0, id.find('_')));
  return out;
}

} // namespace

TEST_CASE("a long queue of small batches is processed in bundles and every "
          "batch completes exactly once with its exact total") {
  test_database db;
  auto sizes = sizes_one_to_five(300);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 3;
  // Small = at most a chunk: a bundle of these 1-5-activity batches holds
  // up to 25 activities.
  cfg.chunk_size = 25;
  REQUIRE(cfg.bundle_size == 50); // the default
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 300; }, 60s,
                     10ms));
  check_exact_totals(f, ids, sizes);
  check_computed_once(*log, total_of(sizes));
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") ==
        0);
  // Each batch was recorded by one write, under one token.
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs b WHERE (SELECT "
                   "count(*) FROM batch_chunk_log l WHERE l.batch_id = b.id "
                   "AND l.items > 0) <> 1") == 0);
  CHECK(scalar(db, "SELECT coalesce(sum(items), 0) FROM batch_chunk_log") ==
        total_of(sizes));

  // Bundles really happened: computes held several batches, and many
  // batches were recorded by one transaction (now() is its start).
  INFO(log->compute_count()
       << " computes, at most " << log->most_batches_per_compute()
       << " batches in one");
  CHECK(log->most_batches_per_compute() > 1);
  CHECK(log->compute_count() * 2 < 300);
  CHECK(scalar(db, "SELECT count(DISTINCT processed_at) FROM batch_results") *
            2 <
        300);
  // Every batch went to a worker once, and each one's end was counted.
  REQUIRE(wait_until(
      [&] {
        return f.ask<engine_stats>(stats_atom_v).batches_completed == 300;
      },
      5s, 5ms));
  auto stats = f.ask<engine_stats>(stats_atom_v);
  CHECK(stats.batches_claimed == 300);
  CHECK(stats.batches_finished == 300);
  CHECK(stats.activities_succeeded == total_of(sizes));
  CHECK(stats.busy_workers == 0);
  CHECK(stats.leases_lost == 0);
}

TEST_CASE("with bundle_size 1 nothing is bundled: one compute per small "
          "batch") {
  test_database db;
  auto sizes = sizes_one_to_five(30);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 3;
  cfg.chunk_size = 25; // they would fit in bundles
  cfg.bundle_size = 1;
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 30; }, 30s,
                     10ms));
  check_exact_totals(f, ids, sizes);
  check_computed_once(*log, total_of(sizes));
  CHECK(log->most_batches_per_compute() == 1);
  CHECK(log->compute_count() == 30);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(f.ask<engine_stats>(stats_atom_v).batches_claimed == 30);
}

TEST_CASE("a cancelled batch of a bundle in compute ends cancelled within "
          "two seconds while the bundle's other batches complete") {
  test_database db;
  // Six one-activity batches, one worker, chunks of 5: the first claim
  // packs five of them into one bundle.
  std::vector<int> sizes(6, 1);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  // The bundle stays in compute far longer than the 2 s a cancel may take
  // (set before the engine starts: the bundle cannot finish unseen).
  log->slow_from_compute = 1;
  log->slow_delay_ms = 4000;
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 1;
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return log->compute_count() >= 1; }, 10s, 2ms));
  auto in_bundle = keys_seen(*log);
  INFO("in the bundle: " << in_bundle.size() << " batches");
  REQUIRE(in_bundle.size() >= 2);
  // Cancel one of them that is not the bundle's first.
  auto victim_key = *std::next(in_bundle.begin());
  auto victim = ids[static_cast<std::size_t>(std::stoi(victim_key.substr(1)))];

  auto t0 = clock_type::now();
  auto out = f.ask<persistence::cancel_outcome>(cancel_atom_v, acme, victim);
  CHECK_FALSE(out.immediate);
  CHECK(out.batch.cancel_requested);
  REQUIRE(wait_until(
      [&] {
        return f.ask<domain::batch>(get_atom_v, acme, victim).status ==
               domain::batch_status::cancelled;
      },
      5s, 5ms));
  auto took_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                     clock_type::now() - t0)
                     .count();
  // CONTRACT §2: the batch becomes cancelled within 2 s.
  CHECK(took_ms <= 2000);
  log->slow_from_compute = 0;

  // The bundle's others (and the batch left out of it) complete.
  REQUIRE(
      wait_until([&] { return count_status(db, "completed") == 5; }, 15s, 5ms));
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (ids[k] == victim)
      continue;
    INFO("batch b" << k);
    auto b = f.ask<domain::batch>(get_atom_v, acme, ids[k]);
    CHECK(b.status == domain::batch_status::completed);
    CHECK(b.total_emissions_kg_co2e == expected_emissions(1));
  }
  // The bundle's record came after the cancel had ended the batch: its
  // fence refused the cancelled batch's result.
  auto cancelled = f.ask<domain::batch>(get_atom_v, acme, victim);
  CHECK(cancelled.status == domain::batch_status::cancelled);
  CHECK(cancelled.processed_activities == 0);
  CHECK(cancelled.total_emissions_kg_co2e == "0");
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts > 1") == 0);
  REQUIRE(wait_until(
      [&] {
        auto s = f.ask<engine_stats>(stats_atom_v);
        return s.batches_cancelled == 1 && s.batches_completed == 5;
      },
      5s, 5ms));
  CHECK(f.ask<engine_stats>(stats_atom_v).busy_workers == 0);
}

TEST_CASE("a batch of a bundle in compute whose lease is taken over is left "
          "out of the bundle's record, and completes exactly once after it "
          "is reclaimed") {
  test_database db;
  std::vector<int> sizes(6, 1);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  log->slow_from_compute = 1;
  log->slow_delay_ms = 1500;
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 1;
  // Renewed every 10 s: the worker cannot hear of the loss before it
  // records; the bundle's fence must refuse the batch by itself.
  cfg.lease_timeout = 30s;
  cfg.poll_interval = 200ms; // nothing notifies about an expired lease
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return log->compute_count() >= 1; }, 10s, 2ms));
  auto in_bundle = keys_seen(*log);
  REQUIRE(in_bundle.size() >= 2);
  auto victim_key = *std::next(in_bundle.begin());
  auto victim = ids[static_cast<std::size_t>(std::stoi(victim_key.substr(1)))];
  // Another node takes the batch (as after a long pause of this one), and
  // then dies: its lease runs out a second later.
  execute(db, "UPDATE batch_jobs SET lease_owner = 'thief', lease_token = "
              "lease_token + 1, lease_expires_at = now() + interval '1 "
              "second' WHERE id = " +
                  sql_literal(victim) + "::uuid");
  log->slow_from_compute = 0;

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 6; }, 20s,
                     10ms));
  check_exact_totals(f, ids, sizes);
  CHECK(batches_off_their_items(db) == 0);
  // Computed twice (once in the bundle, once after the reclaim), recorded
  // once: one result row, one chunk with items, written under the token
  // of the node that reclaimed it.
  auto seen = log->seen_copy();
  CHECK(seen[victim_key + "_0000"] == 2);
  CHECK(scalar(db, "SELECT count(*) FROM batch_results WHERE batch_id = " +
                       sql_literal(victim) + "::uuid") == 1);
  CHECK(scalar(db, "SELECT count(*) FROM batch_chunk_log WHERE items > 0 "
                   "AND batch_id = " +
                       sql_literal(victim) + "::uuid") == 1);
  CHECK(scalar(db, "SELECT count(*) FROM batch_results r JOIN batch_jobs b "
                   "ON b.id = r.batch_id WHERE r.lease_token <> b.lease_token "
                   "AND b.id = " +
                       sql_literal(victim) + "::uuid") == 0);
  CHECK(scalar(db, "SELECT lease_expiries FROM batch_jobs WHERE id = " +
                       sql_literal(victim) + "::uuid") == 1);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") ==
        0);
}

TEST_CASE("large batches in a long queue of small ones get a worker each "
          "and complete chunk by chunk, while the small ones are bundled") {
  test_database db;
  // 60 small batches with a 60-activity batch after every 20th.
  std::vector<int> sizes;
  for (int k = 0; k < 63; ++k)
    sizes.push_back(k % 21 == 20 ? 60 : k % 5 + 1);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 3;
  cfg.chunk_size = 25; // a large batch takes 3 chunks
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 63; }, 30s,
                     10ms));
  check_exact_totals(f, ids, sizes);
  check_computed_once(*log, total_of(sizes));
  CHECK(log->most_batches_per_compute() > 1);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") ==
        0);
  // A large batch was recorded in its 3 chunks, under one token.
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs b WHERE "
                   "total_activities = 60 AND ((SELECT count(*) FROM "
                   "batch_chunk_log l WHERE l.batch_id = b.id AND l.items > "
                   "0) <> 3 OR (SELECT count(DISTINCT lease_token) FROM "
                   "batch_chunk_log l WHERE l.batch_id = b.id) <> 1)") == 0);
}

TEST_CASE("a worker killed in a bundle's compute gives every batch of the "
          "bundle back, and each completes exactly once") {
  test_database db;
  std::vector<int> sizes(12, 1);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  log->kill_sender_on_compute = 1; // the first bundle's worker dies
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 1;
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 12; }, 20s,
                     5ms));
  CHECK(log->killed_a_worker);
  check_exact_totals(f, ids, sizes);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") ==
        0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_results") == 12);
  // Released at once, not left to expire; nobody failed as poison.
  CHECK(scalar(db, "SELECT coalesce(sum(lease_expiries), 0) FROM "
                   "batch_jobs") == 0);
  auto stats = f.ask<engine_stats>(stats_atom_v);
  CHECK(stats.worker_restarts == 1);
  CHECK(stats.workers == 1);
}

TEST_CASE("a graceful stop with bundles in flight leaves every batch either "
          "recorded and ended or given back, and another engine completes "
          "the rest exactly once") {
  test_database db;
  auto sizes = sizes_one_to_five(120);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  log->delay_ms = 200; // bundles stay in compute while the stop comes
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 3;
  cfg.chunk_size = 25;
  cfg.lease_timeout = 60s; // only a release can give a batch back early
  {
    engine_fixture f{cfg, spy_factory(log)};
    REQUIRE(wait_until(
        [&] {
          return log->batches_in_flight() >= 2 &&
                 count_status(db, "completed") >= 1;
        },
        10s, 2ms));
    CHECK(f.ask<bool>(stop_atom_v));
    f.kill();
  }
  // Nothing is left leased to the stopped node, nothing half-recorded.
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs WHERE lease_owner IS NOT "
                   "NULL OR status NOT IN ('pending', 'completed')") == 0);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs WHERE status = "
                   "'pending' AND processed_activities > 0") == 0);
  auto done_by_first = count_status(db, "completed");
  INFO(done_by_first << " batches completed before the stop");
  CHECK(done_by_first < 120);

  auto log2 = std::make_shared<spy_log>();
  auto cfg2 = test_engine_config(db, "node-b");
  cfg2.workers = 3;
  cfg2.chunk_size = 25;
  engine_fixture g{cfg2, spy_factory(log2)};
  REQUIRE(wait_until([&] { return count_status(db, "completed") == 120; }, 30s,
                     10ms));
  check_exact_totals(g, ids, sizes);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") ==
        0);
  // What the first engine recorded was not computed again by the second,
  // and the second computed everything else once.
  auto second = log2->seen_copy();
  std::int64_t recomputed = 0, computed_twice = 0, recorded_by_first = 0;
  {
    pqxx::connection c{db.url()};
    pqxx::read_transaction tx{c};
    for (const auto& r :
         tx.exec("SELECT r.activity_id FROM batch_results r WHERE EXISTS "
                 "(SELECT 1 FROM batch_chunk_log l WHERE l.batch_id = "
                 "r.batch_id AND l.lease_token = r.lease_token AND "
                 "l.node_id = 'node-a' AND l.items > 0)")) {
      ++recorded_by_first;
      if (second.count(r[0].as<std::string>()))
        ++recomputed;
    }
  }
  for (const auto& [id, n] : second)
    if (n != 1)
      ++computed_twice;
  CHECK(recomputed == 0);
  CHECK(computed_twice == 0);
  CHECK(static_cast<std::int64_t>(second.size()) + recorded_by_first ==
        total_of(sizes));
}

TEST_CASE("a bundle claim takes no batch its free workers cannot start: "
          "none is claimed and given back unworked") {
  // House rule (STYLE.md): never claim more than you can run. The claim's
  // budget is the free workers' chunks; the packing must then place every
  // batch the claim took. A batch given back unworked shows as a second
  // lease token on a batch that completed without losing a lease.
  test_database db;
  auto sizes = sizes_one_to_five(300);
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  auto cfg = test_engine_config(db, "node-a"); // chunks of 5
  cfg.workers = 3;
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 300; }, 60s,
                     10ms));
  check_exact_totals(f, ids, sizes);
  CHECK(batches_off_their_items(db) == 0);
  CHECK(log->most_batches_per_compute() > 1);
  CHECK(scalar(db, "SELECT coalesce(sum(lease_expiries), 0) FROM "
                   "batch_jobs") == 0);
  INFO(log->compute_count() << " computes for 300 batches");
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs WHERE lease_token > 1") ==
        0);
}

TEST_CASE("a listener subscribed to a batch of a bundle hears its progress "
          "and then done with its exact total") {
  test_database db;
  std::vector<int> sizes{3, 1, 1}; // one bundle of 5 activities
  auto ids = queue_before_start(db, sizes);
  auto log = std::make_shared<spy_log>();
  log->slow_from_compute = 1; // the bundle waits in compute for the test
  log->slow_delay_ms = 1000;
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 1;
  engine_fixture f{cfg, spy_factory(log)};
  REQUIRE(wait_until([&] { return log->compute_count() >= 1; }, 10s, 2ms));
  REQUIRE(log->most_batches_per_compute() == 3);

  std::vector<std::shared_ptr<listener_log>> heard;
  for (const auto& id : ids) {
    auto l = std::make_shared<listener_log>();
    auto actor = spawn_recording_listener(f.system(), l);
    f.adopt(actor);
    REQUIRE(f.ask<bool>(subscribe_atom_v, acme, id, actor));
    heard.push_back(l);
  }
  REQUIRE(wait_until(
      [&] {
        return std::all_of(heard.begin(), heard.end(),
                           [](const auto& l) { return l->has_done(); });
      },
      10s, 5ms));
  for (std::size_t k = 0; k < ids.size(); ++k) {
    INFO("batch b" << k);
    std::lock_guard<std::mutex> guard{heard[k]->mutex};
    CHECK(heard[k]->done->id == ids[k]);
    CHECK(heard[k]->done->status == domain::batch_status::completed);
    CHECK(heard[k]->done->processed_activities == sizes[k]);
    CHECK(heard[k]->done->total_emissions_kg_co2e ==
          expected_emissions(sizes[k]));
    CHECK_FALSE(heard[k]->progress_after_done);
    if (!heard[k]->progress.empty()) {
      CHECK(heard[k]->progress.back().progress.batch_id == ids[k]);
      CHECK(heard[k]->progress.back().progress.processed <= sizes[k]);
    }
  }
}

TEST_CASE("a poison batch in a bundle fails alone and the bundle's other "
          "batches complete") {
  test_database db;
  std::vector<int> sizes(40, 3);
  auto ids = queue_before_start(db, sizes);
  // One crash of its own is forgiven, the second fails it: a crash counted
  // against every batch of a bundle would fail innocent ones after two.
  const int max_retries = 1;
  execute(db,
          "UPDATE batch_jobs SET max_retries = " + std::to_string(max_retries));
  const std::size_t poison_k = 17;
  const auto& poison = ids[poison_k];
  auto log = std::make_shared<spy_log>();
  log->kill_senders_of_batch = "b" + std::to_string(poison_k);
  auto cfg = test_engine_config(db, "node-a");
  cfg.workers = 2;
  cfg.chunk_size = 25; // a bundle holds up to 8 of these batches
  REQUIRE(cfg.bundle_size == 50);
  engine_fixture f{cfg, spy_factory(log)};

  REQUIRE(wait_until(
      [&] {
        return scalar(db, "SELECT count(*) FROM batch_jobs WHERE status IN "
                          "('completed', 'failed', 'cancelled')") == 40;
      },
      60s, 10ms));
  INFO(log->workers_killed << " workers killed, " << log->bundle_workers_killed
                           << " in a bundle");
  // The poison batch did crash a bundle (else this tests nothing), and then
  // crashed only workers it had to itself: max_retries + 1 of them.
  REQUIRE(log->bundle_workers_killed >= 1);
  CHECK(log->workers_killed - log->bundle_workers_killed == max_retries + 1);
  auto failed = f.ask<domain::batch>(get_atom_v, acme, poison);
  CHECK(failed.status == domain::batch_status::failed);
  CHECK(failed.error.value_or("") ==
        "worker crashed more than max_retries times");
  CHECK(failed.processed_activities == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_results WHERE batch_id = " +
                       sql_literal(poison) + "::uuid") == 0);

  // Every other batch, those bundled with it included, completed exactly.
  CHECK(count_status(db, "failed") == 1);
  CHECK(count_status(db, "completed") == 39);
  for (std::size_t k = 0; k < ids.size(); ++k) {
    if (k == poison_k)
      continue;
    INFO("batch b" << k);
    auto b = f.ask<domain::batch>(get_atom_v, acme, ids[k]);
    CHECK(b.status == domain::batch_status::completed);
    CHECK(b.total_emissions_kg_co2e == expected_emissions(3));
    CHECK(b.succeeded_activities == 3);
    CHECK(b.processed_activities == 3);
  }
  // A crashed bundle recorded nothing: one result per item, none twice.
  CHECK(scalar(db, "SELECT count(*) FROM batch_results") == 39 * 3);
  CHECK(scalar(db, "SELECT count(*) FROM (SELECT 1 FROM batch_results GROUP "
                   "BY batch_id, activity_id HAVING count(*) > 1) d") == 0);
  CHECK(batches_off_their_items(db) == 0);
  REQUIRE(wait_until(
      [&] {
        auto s = f.ask<engine_stats>(stats_atom_v);
        return s.busy_workers == 0 && s.workers == 2;
      },
      5s, 5ms));
  CHECK(f.ask<engine_stats>(stats_atom_v).worker_restarts ==
        log->workers_killed);
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs WHERE lease_owner IS NOT "
                   "NULL") == 0);
}

namespace {

/// Microseconds since the epoch of a timestamptz expression of `db`.
std::int64_t epoch_us(const test_database& db, const std::string& expr,
                      const std::string& from) {
  return scalar(db, "SELECT coalesce(max((extract(epoch FROM " + expr +
                        ") * 1000000)::bigint), 0) FROM " + from);
}

} // namespace

TEST_CASE("a lease untracked with an older token keeps being renewed, and "
          "untracked with its own token is renewed no more") {
  // A worker ending a bundle late untracks the lease it had; the same batch
  // claimed again by this node under a newer token must stay renewed.
  test_database db;
  auto ids = queue_before_start(db, {1});
  const auto& id = ids[0];
  caf::actor_system_config sys_cfg;
  caf::actor_system sys{sys_cfg};
  auto store = spawn_store(sys, {db.url(), "node-a"});
  renewer_config rcfg;
  rcfg.lease_timeout = 600ms; // renewed every 200 ms
  rcfg.host = "test";
  rcfg.version = "test";

  persistence::batch_store claimer{{db.url(), "node-a"}};
  auto first = claimer.claim(1, 600ms, persistence::claim_mode::start);
  REQUIRE(first.size() == 1);
  REQUIRE(claimer.release({{id, first[0].token}}).size() == 1);
  auto second = claimer.claim(1, 600ms, persistence::claim_mode::start);
  REQUIRE(second.size() == 1);
  const persistence::lease_ref old_lease{id, first[0].token};
  const persistence::lease_ref lease{id, second[0].token};
  REQUIRE(lease.token > old_lease.token);

  auto renewer = spawn_renewer(sys, store, rcfg);
  {
    caf::scoped_actor self{sys};
    // (renewals, lost); its answer also means the renewer has handled all
    // that `self` sent it before.
    auto renewer_stats = [&] {
      std::pair<std::int64_t, std::int64_t> out{-1, -1};
      self->request(renewer, 10s, stats_atom_v)
          .receive(
              [&](std::int64_t renewals, std::int64_t lost) {
                out = {renewals, lost};
              },
              [&](caf::error&) {});
      return out;
    };
    const std::string where = "batch_jobs WHERE id = " + sql_literal(id) +
                              "::uuid AND lease_owner = 'node-a' AND "
                              "lease_token = " +
                              std::to_string(lease.token);
    auto expires = [&] { return epoch_us(db, "lease_expires_at", where); };
    auto heartbeat = [&] {
      return epoch_us(db, "heartbeat_at",
                      "scheduler_nodes WHERE node_id = 'node-a'");
    };
    // Waits for the renewer's next tick to reach the database.
    auto next_tick = [&] {
      auto h = heartbeat();
      return wait_until([&] { return heartbeat() > h; }, 5s, 5ms);
    };

    self->send(renewer, track_atom_v, lease, self->address());
    self->send(renewer, untrack_atom_v, old_lease);
    auto before = renewer_stats();
    REQUIRE(before.first >= 0);
    for (int i = 0; i < 2; ++i) {
      auto e = expires();
      REQUIRE(e > 0);
      CHECK(wait_until([&] { return expires() > e; }, 5s, 5ms));
    }
    // The renewer counts a renewal when the store's answer reaches it,
    // which may be a moment after the database shows it (it was, under
    // ASan in CI).
    CHECK(wait_until([&] { return renewer_stats().first >= before.first + 2; },
                     5s, 5ms));
    auto renewed = renewer_stats();
    CHECK(renewed.second == 0);

    self->send(renewer, untrack_atom_v, lease);
    REQUIRE(renewer_stats().first >= 0);
    // Two ticks: a renew sent before the untrack has been written (one
    // store actor runs the heartbeat and renew statements in order).
    REQUIRE(next_tick());
    REQUIRE(next_tick());
    auto stopped_at = expires();
    auto renewals = renewer_stats().first;
    REQUIRE(next_tick());
    REQUIRE(next_tick());
    CHECK(expires() == stopped_at);
    CHECK(renewer_stats().first == renewals);
  }
  caf::anon_send_exit(renewer, caf::exit_reason::kill);
  caf::anon_send_exit(store, caf::exit_reason::kill);
}
