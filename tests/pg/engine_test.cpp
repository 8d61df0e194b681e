#include "actors/engine.hpp"

#include <atomic>
#include <set>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf;
using namespace std::chrono_literals;
using ogf::testing::acme;
using ogf::testing::engine_fixture;
using ogf::testing::make_submit;
using ogf::testing::scalar;
using ogf::testing::test_database;
using ogf::testing::text;
using ogf::testing::wait_until;

namespace {

engine_config test_config(const test_database& db) {
  engine_config cfg;
  cfg.database_url = db.url();
  cfg.poll_interval = 30s; // LISTEN/NOTIFY must do the waking
  cfg.poll_jitter = 0ms;
  cfg.lease_timeout = 3s;
  cfg.chunk_size = 50;
  cfg.workers = 3;
  cfg.store_connections = 2;
  return cfg;
}

/// n activities "a0000".."a{n-1}": electricity, US, i+1 kWh each.
std::vector<domain::activity> make_activities(int n) {
  std::vector<domain::activity> out;
  for (int i = 0; i < n; ++i) {
    domain::activity a;
    char id[16];
    std::snprintf(id, sizeof id, "a%04d", i);
    a.id = id;
    a.activity_type = "electricity";
    a.quantity = std::to_string(i + 1);
    a.unit = "kWh";
    a.region = "US";
    a.period_start = "2025-01-01";
    a.period_end = "2025-01-31";
    out.push_back(a);
  }
  return out;
}

} // namespace

TEST_CASE("fifty batches of two hundred activities complete with exact "
          "counts and totals") {
  test_database db;
  engine_fixture f{test_config(db)};
  auto acts = make_activities(200);
  REQUIRE(f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, acts) == 200);
  std::vector<std::string> ids;
  for (const auto& a : acts)
    ids.push_back(a.id);
  std::vector<std::string> batch_ids;
  for (int i = 0; i < 50; ++i)
    batch_ids.push_back(
      f.ask<persistence::submit_outcome>(submit_atom_v, make_submit(ids))
        .batch.id);
  REQUIRE(wait_until(
    [&] {
      return scalar(db, "SELECT count(*) FROM batch_jobs WHERE status = "
                        "'completed'")
             == 50;
    },
    60s));
  // sum(i, 1..200) kWh = 20100 kWh × 0.375294 kg/kWh (built-in US factor)
  // = 7543.4094 kg per batch.
  for (const auto& id : batch_ids) {
    auto b = f.ask<domain::batch>(get_atom_v, acme, id);
    CHECK(b.status == domain::batch_status::completed);
    CHECK(b.succeeded_activities == 200);
    CHECK(b.processed_activities == 200);
    CHECK(b.failed_activities == 0);
    CHECK(b.total_emissions_kg_co2e == "7543.409400");
  }
  CHECK(scalar(db, "SELECT count(*) FROM batch_items WHERE attempts <> 1") == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs b WHERE "
                   "total_emissions_kg_co2e <> (SELECT sum(emissions_kg_co2e) "
                   "FROM batch_items i WHERE i.batch_id = b.id)")
        == 0);
  // The activity carries its latest result.
  auto a = f.ask<domain::activity>(activity_atom_v, get_atom_v, acme,
                                   std::string("a0009"));
  REQUIRE(a.emissions_kg_co2e);
  CHECK(*a.emissions_kg_co2e == "3.752940"); // 10 kWh × 0.375294
}

TEST_CASE("a submitted batch starts at once through LISTEN/NOTIFY despite a "
          "30 s poll interval") {
  test_database db;
  auto cfg = test_config(db);
  engine_fixture f{cfg};
  auto acts = make_activities(1);
  f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, acts);
  // Let the first poll (at start) pass, so only a wake-up can start it.
  std::this_thread::sleep_for(300ms);
  auto out = f.ask<persistence::submit_outcome>(submit_atom_v,
                                                make_submit({"a0000"}));
  // Far below the 30 s poll interval: only LISTEN/NOTIFY can do this.
  CHECK(wait_until(
    [&] {
      return f.ask<domain::batch>(get_atom_v, acme, out.batch.id).status
             == domain::batch_status::completed;
    },
    5s, 5ms));
}

TEST_CASE("permanent item failures are recorded and the batch ends failed") {
  test_database db;
  engine_fixture f{test_config(db)};
  auto acts = make_activities(2);
  acts[1].activity_type = "no_such_type";
  f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, acts);
  auto out = f.ask<persistence::submit_outcome>(
    submit_atom_v, make_submit({"a0000", "a0001", "missing"}));
  REQUIRE(wait_until([&] {
    return domain::is_terminal(
      f.ask<domain::batch>(get_atom_v, acme, out.batch.id).status);
  }));
  auto b = f.ask<domain::batch>(get_atom_v, acme, out.batch.id);
  CHECK(b.status == domain::batch_status::failed);
  CHECK(b.succeeded_activities == 1);
  CHECK(b.failed_activities == 2);
  CHECK(text(db, "SELECT error FROM batch_items WHERE activity_id = 'missing'")
        == "activity_not_found");
  CHECK(text(db, "SELECT error FROM batch_items WHERE activity_id = 'a0001'")
        == "no_emission_factor");
}
