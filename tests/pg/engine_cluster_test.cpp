// Two engines on one database (two actor systems, distinct node ids): work
// is shared without doubles, a dead node's batches are taken over after
// lease expiry and its late writes are fenced off, a stopping node gives
// its batches back at once.
#include "actors/engine.hpp"

#include <algorithm>
#include <map>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "persistence/batch_store.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
using clock_type = std::chrono::steady_clock;

namespace {

/// (batch id -> fencing token) of the batches `node` holds now, with at
/// least one chunk recorded and more to do.
std::map<std::string, std::int64_t> held_mid_batch(const test_database& db,
                                                   const std::string& node) {
  pqxx::connection c{db.url()};
  pqxx::read_transaction tx{c};
  std::map<std::string, std::int64_t> out;
  for (const auto& r : tx.exec(
           "SELECT id::text, lease_token FROM batch_jobs WHERE lease_owner = " +
           sql_literal(node) +
           " AND status = 'processing' AND processed_activities > 0 AND "
           "processed_activities < total_activities"))
    out.emplace(r[0].as<std::string>(), r[1].as<std::int64_t>());
  return out;
}

/// Every batch's counters and total equal what its items say.
void check_totals_match_items(const test_database& db) {
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs b WHERE "
                   "processed_activities <> (SELECT count(*) FROM batch_items "
                   "i WHERE i.batch_id = b.id AND i.status <> 'pending') "
                   "OR total_emissions_kg_co2e <> (SELECT "
                   "coalesce(sum(emissions_kg_co2e), 0) FROM batch_items i "
                   "WHERE i.batch_id = b.id)") == 0);
}

} // namespace

TEST_CASE("two engines share two hundred batches and process no item twice") {
  test_database db;
  auto log_a = std::make_shared<spy_log>();
  auto log_b = std::make_shared<spy_log>();
  engine_fixture a{test_engine_config(db, "node-a"), spy_factory(log_a)};
  engine_fixture b{test_engine_config(db, "node-b"), spy_factory(log_b)};
  auto ids = submit_batches(a, 200, 5); // one chunk each

  REQUIRE(wait_until([&] { return count_status(db, "completed") == 200; }, 20s,
                     20ms));
  CHECK(scalar(db, "SELECT count(*) FROM batch_items") == 1000);
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1 OR "
                   "status <> 'succeeded'") == 0);
  CHECK(scalar(db, "SELECT sum(items) FROM batch_chunk_log") == 1000);
  // Each batch was written by one node only, and both nodes worked.
  CHECK(scalar(db, "SELECT count(*) FROM (SELECT batch_id FROM "
                   "batch_chunk_log GROUP BY batch_id HAVING count(DISTINCT "
                   "node_id) > 1) x") == 0);
  CHECK(scalar(db, "SELECT count(DISTINCT node_id) FROM batch_chunk_log") == 2);
  check_totals_match_items(db);
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs WHERE "
                   "total_emissions_kg_co2e <> " +
                       sql_literal(expected_emissions(5)) + "::numeric") == 0);
  // Not even computed twice.
  auto seen_a = log_a->seen_copy();
  auto seen_b = log_b->seen_copy();
  CHECK(seen_a.size() + seen_b.size() == 1000);
  for (const auto& [id, n] : seen_a) {
    INFO(id);
    CHECK(n == 1);
    CHECK(seen_b.count(id) == 0);
  }
  for (const auto& [id, n] : seen_b) {
    INFO(id);
    CHECK(n == 1);
  }
}

TEST_CASE("a killed engine's batches are taken over after lease expiry and "
          "its late writes are fenced off") {
  test_database db;
  auto cfg_a = test_engine_config(db, "node-a");
  cfg_a.lease_timeout = 1s;
  cfg_a.workers = 2;
  auto log_a = std::make_shared<spy_log>();
  log_a->delay_ms = 150;
  auto a = std::make_unique<engine_fixture>(cfg_a, spy_factory(log_a));
  auto ids = submit_batches(*a, 4, 20); // 4 chunks each; A holds 2 at a time

  std::map<std::string, std::int64_t> held;
  REQUIRE(wait_until(
      [&] {
        held = held_mid_batch(db, "node-a");
        return held.size() == 2;
      },
      10s, 5ms));
  a->kill(); // as if the process died: nothing released
  auto killed_at = clock_type::now();
  a.reset();
  // What A held when it died, not when the test looked: on a busy machine
  // A may finish a batch between the look and the kill (it did, at load
  // 7-16), and a finished batch has nothing to take over. A is dead now,
  // so this no longer moves.
  held = held_mid_batch(db, "node-a");
  REQUIRE(!held.empty());
  // Nothing A held was given back.
  for (const auto& [id, token] : held)
    CHECK(text(db,
               "SELECT coalesce(lease_owner, '') FROM batch_jobs WHERE id = " +
                   sql_literal(id)) == "node-a");

  auto cfg_b = test_engine_config(db, "node-b");
  cfg_b.lease_timeout = 1s;
  cfg_b.poll_interval = 100ms; // nothing notifies about an expired lease
  cfg_b.workers = 2;
  auto log_b = std::make_shared<spy_log>();
  engine_fixture b{cfg_b, spy_factory(log_b)};
  REQUIRE(wait_until([&] { return count_status(db, "completed") == 4; }, 10s,
                     10ms));
  auto took_over_after = clock_type::now() - killed_at;
  // The promise: a dead node's batches are taken over once its lease
  // expires (B's poll interval after it), not after a restart of A.
  CHECK(took_over_after < 8s);

  for (const auto& [id, token] : held) {
    INFO("batch " << id);
    // Taken over (counted as one expiry), under a newer token.
    CHECK(scalar(db, "SELECT lease_expiries FROM batch_jobs WHERE id = " +
                         sql_literal(id)) == 1);
    CHECK(scalar(db, "SELECT count(*) FROM batch_chunk_log WHERE batch_id = " +
                         sql_literal(id) +
                         " AND node_id = 'node-b' AND lease_token "
                         "<= " +
                         std::to_string(token)) == 0);
    CHECK(scalar(db, "SELECT count(*) FROM batch_chunk_log WHERE batch_id = " +
                         sql_literal(id) + " AND node_id = 'node-b'") > 0);
  }
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1 OR "
                   "status <> 'succeeded'") == 0);
  CHECK(scalar(db, "SELECT sum(items) FROM batch_chunk_log") == 80);
  check_totals_match_items(db);
  for (const auto& id : ids)
    CHECK(b.ask<domain::batch>(get_atom_v, acme, id).total_emissions_kg_co2e ==
          expected_emissions(20));

  // A's late writes under its old token change nothing.
  persistence::store_config sc;
  sc.database_url = db.url();
  sc.node_id = "node-a";
  persistence::batch_store late{sc};
  const auto& [id, token] = *held.begin();
  auto before = text(db, "SELECT processed_activities || '/' || "
                         "total_emissions_kg_co2e || '/' || (SELECT "
                         "string_agg(activity_id || coalesce(emissions_kg_co2e"
                         "::text, '-') || attempts, ',' ORDER BY activity_id) "
                         "FROM batch_items WHERE batch_id = b.id) FROM "
                         "batch_jobs b WHERE id = " +
                             sql_literal(id));
  persistence::lease_ref old{id, token};
  std::vector<persistence::item_result_row> rows;
  rows.push_back({text(db, "SELECT min(activity_id) FROM batch_items WHERE "
                           "batch_id = " +
                               sql_literal(id)),
                  true, 2, std::string("999.000000"), std::string("x"),
                  std::nullopt});
  try {
    late.record_chunk(old, acme, rows);
    FAIL("record_chunk under an old token was accepted");
  } catch (const store_exception& e) {
    CHECK(e.code == engine_errc::lease_lost);
  }
  CHECK_FALSE(late.start(old));
  CHECK_THROWS_AS(late.finish(old, persistence::finish_kind::failed, "late"),
                  store_exception);
  CHECK(late.release({old}).empty());
  CHECK(late.renew({old}, 1s).lost == std::vector<std::string>{id});
  auto after = text(db, "SELECT processed_activities || '/' || "
                        "total_emissions_kg_co2e || '/' || (SELECT "
                        "string_agg(activity_id || coalesce(emissions_kg_co2e"
                        "::text, '-') || attempts, ',' ORDER BY activity_id) "
                        "FROM batch_items WHERE batch_id = b.id) FROM "
                        "batch_jobs b WHERE id = " +
                            sql_literal(id));
  CHECK(after == before);
  CHECK(b.ask<domain::batch>(get_atom_v, acme, id).status ==
        domain::batch_status::completed);
}

TEST_CASE("a graceful stop releases leases and another engine picks the "
          "batches up long before they would expire") {
  test_database db;
  auto cfg_a = test_engine_config(db, "node-a");
  cfg_a.lease_timeout = 20s;
  cfg_a.workers = 2;
  auto log_a = std::make_shared<spy_log>();
  log_a->delay_ms = 200;
  engine_fixture a{cfg_a, spy_factory(log_a)};
  auto ids = submit_batches(a, 2, 40); // 8 chunks each: ~2 s of work

  std::map<std::string, std::int64_t> held;
  REQUIRE(wait_until(
      [&] {
        held = held_mid_batch(db, "node-a");
        return held.size() == 2;
      },
      10s, 5ms));
  auto cfg_b = test_engine_config(db, "node-b");
  cfg_b.lease_timeout = 20s; // a release, not an expiry, must hand them over
  cfg_b.workers = 2;
  auto log_b = std::make_shared<spy_log>();
  engine_fixture b{cfg_b, spy_factory(log_b)};

  auto t0 = clock_type::now();
  CHECK(a.ask<bool>(stop_atom_v)); // drained: leases released
  auto drain_took = clock_type::now() - t0;
  // The promise: a graceful stop waits for the chunk in flight (200 ms
  // here), never for the 20 s lease; other nodes then claim at once.
  CHECK(drain_took < 2s);
  // A stopping engine refuses new work.
  CHECK(a.ask_error<persistence::submit_outcome>(submit_atom_v,
                                                 make_submit({"b0_0000"})) ==
        engine_errc::unavailable);
  a.kill();
  REQUIRE(
      wait_until([&] { return count_status(db, "completed") == 2; }, 8s, 10ms));
  CHECK(clock_type::now() - t0 < 8s);

  for (const auto& [id, token] : held) {
    INFO("batch " << id);
    CHECK(scalar(db, "SELECT lease_expiries FROM batch_jobs WHERE id = " +
                         sql_literal(id)) == 0);
    CHECK(scalar(db, "SELECT count(*) FROM batch_chunk_log WHERE batch_id = " +
                         sql_literal(id) + " AND node_id = 'node-a'") > 0);
    CHECK(scalar(db, "SELECT count(*) FROM batch_chunk_log WHERE batch_id = " +
                         sql_literal(id) + " AND node_id = 'node-b'") > 0);
  }
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1 OR "
                   "status <> 'succeeded'") == 0);
  CHECK(scalar(db, "SELECT sum(items) FROM batch_chunk_log") == 80);
  check_totals_match_items(db);
  for (const auto& id : ids)
    CHECK(b.ask<domain::batch>(get_atom_v, acme, id).total_emissions_kg_co2e ==
          expected_emissions(40));
}

TEST_CASE("a cancel taken by one node stops the batch processing on another "
          "within two seconds") {
  test_database db;
  auto log = std::make_shared<spy_log>();
  log->delay_ms = 50;
  // From the third chunk on a chunk takes far longer than the 2 s a cancel
  // may take, so neither node a's next record nor its renewer can be what
  // stops it. Set before the batch starts: neither a slow look by the test
  // nor node b's slow start (sanitizers, a busy machine) can let the batch
  // finish first.
  log->slow_from_compute = 3;
  log->slow_delay_ms = 5000;
  auto cfg_a = test_engine_config(db, "node-a");
  cfg_a.workers = 1;
  // Renewals (every lease/3) also report cancel requests: keep them out of
  // the way, so only the cancel notification can stop it in time.
  cfg_a.lease_timeout = 60s;
  engine_fixture a{cfg_a, spy_factory(log)};
  auto id = submit_batches(a, 1, 40).front();
  REQUIRE(wait_until(
      [&] {
        return log->compute_count() >= 3 &&
               a.ask<domain::batch>(get_atom_v, acme, id)
                       .processed_activities >= 10;
      },
      10s, 5ms));
  // Node b exists only to take the cancel; it never holds the batch (node a
  // renews its lease, and the lease is far longer than this test).
  auto cfg_b = test_engine_config(db, "node-b");
  cfg_b.lease_timeout = 60s;
  engine_fixture b{cfg_b};

  auto t0 = clock_type::now();
  auto out = b.ask<persistence::cancel_outcome>(cancel_atom_v, acme, id);
  CHECK_FALSE(out.immediate);
  REQUIRE(wait_until(
      [&] {
        return b.ask<domain::batch>(get_atom_v, acme, id).status ==
               domain::batch_status::cancelled;
      },
      5s, 5ms));
  CHECK(clock_type::now() - t0 <= 2s);
  CHECK(text(db, "SELECT coalesce(string_agg(DISTINCT node_id, ','), '') FROM "
                 "batch_chunk_log") == "node-a");
  log->delay_ms = 0;
  log->slow_from_compute = 0;
  check_totals_match_items(db);
}
