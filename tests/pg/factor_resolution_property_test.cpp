// The factor choice is implemented twice: in SQL for the hot path
// (resolve_chunk) and in plain C++ as the reference (domain/
// factor_resolution). On random factor tables they must agree every time.
#include <random>
#include <set>

#include "domain/factor_resolution.hpp"
#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

template <class T>
const T& pick(std::mt19937& rng, const std::vector<T>& from) {
  return from[std::uniform_int_distribution<std::size_t>(0,
                                                         from.size() - 1)(rng)];
}

} // namespace

TEST_CASE("the SQL factor choice agrees with the C++ reference on random "
          "factor tables") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  std::mt19937 rng(20261128); // fixed seed: a failure reproduces
  const std::vector<std::string> types{"fuel", "power"};
  const std::vector<std::string> regions{"US", "GB", "GLOBAL"};
  const std::vector<std::string> activity_regions{"US", "GB", "FR"};
  // Two dimensions, with several units in one, so unit preference and
  // unit_mismatch both occur.
  const std::vector<std::string> factor_units{"kWh", "MWh", "GJ", "L"};
  const std::vector<std::string> activity_units{"kWh", "MWh", "L", "gal", "kg"};
  // Few distinct values, so that candidates often tie on the earlier
  // preferences and the later ones (unit, id) decide.
  const std::vector<std::string> dates{"2023-01-01", "2024-01-01"};
  const std::vector<std::string> periods{"2022-06-01", "2023-06-01",
                                         "2024-06-01"};
  const std::vector<std::string> ids{"f1", "F1", "f10", "f2", "a", "B", "z9"};
  const std::vector<std::optional<tenant>> owners{std::nullopt, tenant_a,
                                                  tenant_b};
  int compared = 0, chosen = 0, mismatches = 0, none = 0;
  for (int round = 0; round < 40; ++round) {
    q.exec("DELETE FROM batch_results; DELETE FROM batch_item_ids; "
           "DELETE FROM batch_jobs; DELETE FROM activities; "
           "DELETE FROM emission_factors");
    std::vector<domain::factor_row> table;
    std::set<std::pair<std::string, std::string>> used; // (owner, id)
    int n = std::uniform_int_distribution<int>(0, 20)(rng);
    for (int i = 0; i < n; ++i) {
      domain::factor_row row;
      row.owner = pick(rng, owners);
      auto owner_key = row.owner ? row.owner->org_id : std::string("-");
      row.factor.id = pick(rng, ids);
      if (!used.insert({owner_key, row.factor.id}).second)
        continue;
      row.factor.activity_type = pick(rng, types);
      row.factor.scope = 1 + i % 3;
      row.factor.region = pick(rng, regions);
      row.factor.unit = pick(rng, factor_units);
      row.factor.kg_co2e_per_unit = std::to_string(1 + i);
      row.factor.valid_from = pick(rng, dates);
      table.push_back(row);
      q.exec("INSERT INTO emission_factors (org_id, workspace_id, id, "
             "activity_type, scope, region, unit, kg_co2e_per_unit, "
             "valid_from) VALUES (" +
             (row.owner ? q.quote(row.owner->org_id) + ", " +
                              q.quote(row.owner->workspace_id)
                        : std::string("NULL, NULL")) +
             ", " + q.quote(row.factor.id) + ", " +
             q.quote(row.factor.activity_type) + ", " +
             std::to_string(row.factor.scope) + ", " +
             q.quote(row.factor.region) + ", " + q.quote(row.factor.unit) +
             ", " + row.factor.kg_co2e_per_unit + ", " +
             q.quote(row.factor.valid_from) + ")");
    }
    std::vector<domain::activity> acts;
    for (int i = 0; i < 12; ++i) {
      domain::activity a;
      a.id = std::string("act") + (i < 10 ? "0" : "") + std::to_string(i);
      a.activity_type = pick(rng, types);
      a.quantity = "10";
      a.unit = pick(rng, activity_units);
      a.region = pick(rng, activity_regions);
      a.period_start = pick(rng, periods);
      a.period_end = "2026-01-01";
      acts.push_back(a);
    }
    store.upsert_activities(tenant_a, acts);
    persistence::submit_request req;
    req.owner = tenant_a;
    req.request_hash = "p";
    for (const auto& a : acts)
      req.activity_ids.push_back(a.id);
    store.submit(req);
    auto claimed = store.claim(1, 30s);
    REQUIRE(claimed.size() == 1);
    persistence::lease_ref lease{claimed[0].batch_id, claimed[0].token};
    REQUIRE(store.start(lease));
    auto rows = store.resolve_chunk(lease, tenant_a, "", 100);
    REQUIRE(rows.size() == acts.size());
    for (std::size_t i = 0; i < acts.size(); ++i) {
      const auto& a = acts[i];
      const auto& r = rows[i]; // both in activity id order: act0, act1, ...
      auto expected = domain::choose_factor(a, tenant_a, table);
      INFO("round " << round << ", " << a.id << ": " << a.activity_type << " "
                    << a.unit << " " << a.region << " " << a.period_start);
      REQUIRE(r.activity_id == a.id);
      REQUIRE(r.found);
      if (expected.chosen) {
        ++chosen;
        REQUIRE(r.factor_id);
        CHECK(*r.factor_id == expected.chosen->factor.id);
        CHECK(r.scope == expected.chosen->factor.scope);
        CHECK(r.factor_unit == expected.chosen->factor.unit);
      } else {
        CHECK_FALSE(r.factor_id);
        bool mismatch =
            expected.failure == domain::resolution_failure::unit_mismatch;
        (mismatch ? mismatches : none)++;
        CHECK(r.any_factor == mismatch);
      }
      ++compared;
    }
  }
  INFO("chosen " << chosen << ", unit_mismatch " << mismatches << ", no factor "
                 << none);
  CHECK(compared == 40 * 12);
  // The random tables exercise every outcome, not just one.
  CHECK(chosen > 50);
  CHECK(mismatches > 5);
  CHECK(none > 5);
}
