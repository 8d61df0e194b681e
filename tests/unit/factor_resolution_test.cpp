#include "domain/factor_resolution.hpp"

#include <algorithm>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "builtin_factors.hpp"

using namespace ogf::domain;

namespace {

const tenant acme{"acme", "main"};
const tenant acme_other_workspace{"acme", "lab"};
const tenant globex{"globex", "main"};

activity make_activity(std::string type, std::string unit,
                       std::string region = "US",
                       std::string period_start = "2024-06-01") {
  activity a;
  a.id = "act-1";
  a.activity_type = std::move(type);
  a.quantity = "100";
  a.unit = std::move(unit);
  a.region = std::move(region);
  a.period_start = std::move(period_start);
  a.period_end = a.period_start;
  return a;
}

factor_row make_factor(std::string id, std::optional<tenant> owner,
                       std::string type, std::string region, std::string unit,
                       std::string valid_from = "2024-01-01",
                       std::string kg = "1") {
  factor_row row;
  row.owner = std::move(owner);
  row.factor.id = std::move(id);
  row.factor.activity_type = std::move(type);
  row.factor.scope = 1;
  row.factor.region = std::move(region);
  row.factor.unit = std::move(unit);
  row.factor.kg_co2e_per_unit = std::move(kg);
  row.factor.valid_from = std::move(valid_from);
  row.factor.builtin = !row.owner.has_value();
  return row;
}

const std::optional<tenant> builtin = std::nullopt;

// Id of the chosen factor; fails the test if there is none.
std::string chosen_id(const activity& a, const tenant& t,
                      const std::vector<factor_row>& candidates) {
  auto choice = choose_factor(a, t, candidates);
  INFO("failure: " << (choice.failure ? to_string(*choice.failure) : "none"));
  REQUIRE(choice.chosen);
  CHECK_FALSE(choice.failure);
  return choice.chosen->factor.id;
}

std::optional<resolution_failure>
failure_of(const activity& a, const tenant& t,
           const std::vector<factor_row>& candidates) {
  auto choice = choose_factor(a, t, candidates);
  CHECK(choice.chosen.has_value() != choice.failure.has_value());
  return choice.failure;
}

} // namespace

TEST_CASE("the tenant's own factor beats a built-in one, even a GLOBAL one") {
  auto a = make_activity("electricity", "kWh");
  std::vector<factor_row> rows{
      make_factor("builtin-us", builtin, "electricity", "US", "kWh"),
      make_factor("own-global", acme, "electricity", "GLOBAL", "kWh"),
  };
  CHECK(chosen_id(a, acme, rows) == "own-global");
  // The same rows seen by another tenant: only the built-in one is visible.
  CHECK(chosen_id(a, globex, rows) == "builtin-us");
}

TEST_CASE("another tenant's factors are invisible, even in the same org") {
  auto a = make_activity("electricity", "kWh");
  std::vector<factor_row> rows{
      make_factor("builtin-global", builtin, "electricity", "GLOBAL", "kWh"),
      make_factor("globex-us", globex, "electricity", "US", "kWh"),
      make_factor("acme-lab-us", acme_other_workspace, "electricity", "US",
                  "kWh"),
  };
  CHECK(chosen_id(a, acme, rows) == "builtin-global");
  CHECK(chosen_id(a, acme_other_workspace, rows) == "acme-lab-us");
}

TEST_CASE("the owner, not the builtin flag, decides visibility") {
  auto a = make_activity("electricity", "kWh");
  auto mislabelled =
      make_factor("globex-us", globex, "electricity", "US", "kWh");
  mislabelled.factor.builtin = true;
  CHECK(failure_of(a, acme, {mislabelled}) ==
        resolution_failure::no_emission_factor);
}

TEST_CASE("an exact region beats GLOBAL") {
  auto a = make_activity("electricity", "kWh", "US-CAMX");
  std::vector<factor_row> rows{
      make_factor("a-global", builtin, "electricity", "GLOBAL", "kWh"),
      make_factor("z-camx", builtin, "electricity", "US-CAMX", "kWh"),
      make_factor("b-us", builtin, "electricity", "US", "kWh"),
  };
  CHECK(chosen_id(a, acme, rows) == "z-camx");
  // Neither US-CAMX nor GLOBAL: the region is not a prefix match.
  auto other = make_activity("electricity", "kWh", "US-ERCT");
  CHECK(chosen_id(other, acme, rows) == "a-global");
}

TEST_CASE("the latest factor valid on period_start wins") {
  auto a = make_activity("electricity", "kWh", "US", "2024-06-01");
  std::vector<factor_row> rows{
      make_factor("f2022", builtin, "electricity", "US", "kWh", "2022-01-01"),
      make_factor("f2023", builtin, "electricity", "US", "kWh", "2023-01-01"),
      make_factor("f2025", builtin, "electricity", "US", "kWh", "2025-01-01"),
  };
  CHECK(chosen_id(a, acme, rows) == "f2023");
  // A factor starting on period_start itself is valid on it.
  rows.push_back(make_factor("f-same-day", builtin, "electricity", "US", "kWh",
                             "2024-06-01"));
  CHECK(chosen_id(a, acme, rows) == "f-same-day");
}

TEST_CASE("when every factor starts later, the earliest one wins") {
  auto a = make_activity("electricity", "kWh", "US", "2019-03-15");
  std::vector<factor_row> rows{
      make_factor("f2026", builtin, "electricity", "US", "kWh", "2026-01-01"),
      make_factor("f2024", builtin, "electricity", "US", "kWh", "2024-01-01"),
      make_factor("f2025", builtin, "electricity", "US", "kWh", "2025-01-01"),
  };
  CHECK(chosen_id(a, acme, rows) == "f2024");
}

TEST_CASE("the date rule ranks below ownership and region") {
  auto a = make_activity("electricity", "kWh", "US", "2024-06-01");
  // The tenant's own factor starts after period_start; a built-in one is
  // valid on it. Ownership comes first.
  std::vector<factor_row> rows{
      make_factor("builtin-valid", builtin, "electricity", "US", "kWh",
                  "2020-01-01"),
      make_factor("own-later", acme, "electricity", "US", "kWh", "2030-01-01"),
  };
  CHECK(chosen_id(a, acme, rows) == "own-later");
  // Exact region starting later beats a GLOBAL one valid on period_start.
  std::vector<factor_row> regional{
      make_factor("global-valid", builtin, "electricity", "GLOBAL", "kWh",
                  "2020-01-01"),
      make_factor("us-later", builtin, "electricity", "US", "kWh",
                  "2030-01-01"),
  };
  CHECK(chosen_id(a, acme, regional) == "us-later");
}

TEST_CASE("the activity's own unit beats another unit of its dimension") {
  auto a = make_activity("electricity", "MWh");
  std::vector<factor_row> rows{
      make_factor("a-kwh", builtin, "electricity", "US", "kWh"),
      make_factor("z-mwh", builtin, "electricity", "US", "MWh"),
  };
  CHECK(chosen_id(a, acme, rows) == "z-mwh");
  // But a later valid_from comes first: the date rule ranks above the unit.
  rows.push_back(make_factor("m-kwh-newer", builtin, "electricity", "US", "kWh",
                             "2024-03-01"));
  CHECK(chosen_id(a, acme, rows) == "m-kwh-newer");
}

TEST_CASE("factors in another dimension are not candidates") {
  // US natural gas has an energy (MMBtu) and a volume (scf) factor.
  auto in_m3 = make_activity("natural_gas", "m3");
  auto in_therm = make_activity("natural_gas", "therm");
  std::vector<factor_row> rows{
      make_factor("a-mmbtu", builtin, "natural_gas", "US", "MMBtu"),
      make_factor("z-scf", builtin, "natural_gas", "US", "scf"),
  };
  CHECK(chosen_id(in_m3, acme, rows) == "z-scf");
  CHECK(chosen_id(in_therm, acme, rows) == "a-mmbtu");
  // A same-type own factor in the wrong dimension does not win either.
  rows.push_back(make_factor("own-kwh", acme, "natural_gas", "US", "kWh"));
  CHECK(chosen_id(in_m3, acme, rows) == "z-scf");
}

TEST_CASE("the smallest id wins a tie, compared byte-wise") {
  auto a = make_activity("electricity", "kWh");
  std::vector<factor_row> rows{
      make_factor("b", builtin, "electricity", "US", "kWh"),
      make_factor("a", builtin, "electricity", "US", "kWh"),
  };
  CHECK(chosen_id(a, acme, rows) == "a");
  // Byte order: 'B' (0x42) before 'a' (0x61), unlike a case-folding
  // collation.
  rows.push_back(make_factor("B", builtin, "electricity", "US", "kWh"));
  CHECK(chosen_id(a, acme, rows) == "B");
  // UTF-8 'é' starts with byte 0xC3, after 'z' (0x7A); a signed char
  // compare would put it first.
  std::vector<factor_row> utf8{
      make_factor("\xC3\xA9t\xC3\xA9", builtin, "electricity", "US", "kWh"),
      make_factor("z", builtin, "electricity", "US", "kWh"),
  };
  CHECK(chosen_id(a, acme, utf8) == "z");
  // A prefix sorts before its extensions.
  std::vector<factor_row> prefix{
      make_factor("f-1", builtin, "electricity", "US", "kWh"),
      make_factor("f", builtin, "electricity", "US", "kWh"),
  };
  CHECK(chosen_id(a, acme, prefix) == "f");
}

TEST_CASE("the choice does not depend on the order of the candidates") {
  auto a = make_activity("electricity", "kWh", "US", "2024-06-01");
  std::vector<factor_row> rows{
      make_factor("own-global", acme, "electricity", "GLOBAL", "kWh"),
      make_factor("own-us-2023", acme, "electricity", "US", "MWh",
                  "2023-01-01"),
      make_factor("own-us-2023-kwh", acme, "electricity", "US", "kWh",
                  "2023-01-01"),
      make_factor("own-us-2025", acme, "electricity", "US", "kWh",
                  "2025-01-01"),
      make_factor("builtin-us", builtin, "electricity", "US", "kWh",
                  "2024-01-01"),
      make_factor("globex-us", globex, "electricity", "US", "kWh",
                  "2024-01-01"),
  };
  std::sort(rows.begin(), rows.end(), [](const auto& x, const auto& y) {
    return x.factor.id < y.factor.id;
  });
  int permutations = 0;
  do {
    REQUIRE(chosen_id(a, acme, rows) == "own-us-2023-kwh");
    ++permutations;
  } while (std::next_permutation(
      rows.begin(), rows.end(),
      [](const auto& x, const auto& y) { return x.factor.id < y.factor.id; }));
  CHECK(permutations == 720);
}

TEST_CASE("no factor of the type for the region or GLOBAL is "
          "no_emission_factor") {
  auto a = make_activity("electricity", "kWh", "BR");
  CHECK(failure_of(a, acme, {}) == resolution_failure::no_emission_factor);
  // Only other regions, other types, or other tenants' factors.
  std::vector<factor_row> rows{
      make_factor("us", builtin, "electricity", "US", "kWh"),
      make_factor("br-heat", builtin, "purchased_steam_heat", "BR", "kWh"),
      make_factor("globex-br", globex, "electricity", "BR", "kWh"),
      make_factor("globex-global", globex, "electricity", "GLOBAL", "kWh"),
  };
  CHECK(failure_of(a, acme, rows) == resolution_failure::no_emission_factor);
  CHECK(std::string(to_string(resolution_failure::no_emission_factor)) ==
        "no_emission_factor");
  // Activity types match exactly.
  auto upper = make_activity("Electricity", "kWh", "US");
  CHECK(failure_of(upper, acme, rows) ==
        resolution_failure::no_emission_factor);
}

TEST_CASE("factors of the type that are all in another dimension are "
          "unit_mismatch") {
  auto a = make_activity("hotel_night", "kWh", "GB");
  std::vector<factor_row> rows{
      make_factor("hotel-gb", builtin, "hotel_night", "GB", "night"),
      make_factor("hotel-global", builtin, "hotel_night", "GLOBAL", "USD"),
  };
  CHECK(failure_of(a, acme, rows) == resolution_failure::unit_mismatch);
  CHECK(std::string(to_string(resolution_failure::unit_mismatch)) ==
        "unit_mismatch");
  // Vehicle and passenger distance are different dimensions.
  auto car = make_activity("car_travel_average", "pkm", "GB");
  CHECK(failure_of(car, acme,
                   {make_factor("car-km", builtin, "car_travel_average", "GB",
                                "km")}) == resolution_failure::unit_mismatch);
  // An activity unit outside the table has no dimension at all.
  auto unknown = make_activity("hotel_night", "room", "GB");
  CHECK(failure_of(unknown, acme, rows) == resolution_failure::unit_mismatch);
}

TEST_CASE("a chosen factor becomes the calculator's input") {
  auto a = make_activity("natural_gas", "therm");
  auto mmbtu = make_factor("gas-mmbtu", builtin, "natural_gas", "US", "MMBtu",
                           "2024-01-01", "53.1145");
  mmbtu.factor.scope = 1;
  auto choice = choose_factor(a, acme, {mmbtu});
  auto r = to_resolved_activity(a, choice);
  CHECK(r.activity_id == "act-1");
  CHECK_FALSE(r.failure);
  CHECK(r.quantity == "100");
  CHECK(r.unit == "therm");
  CHECK(r.factor_id == "gas-mmbtu");
  CHECK(r.scope == 1);
  CHECK(r.factor_unit == "MMBtu");
  CHECK(r.kg_co2e_per_unit == "53.1145");
  // 100 therm = 10 MMBtu; × 53.1145 = 531.145
  CHECK(calculate_item(r).emissions_kg_co2e == "531.145000");

  auto failed = to_resolved_activity(make_activity("coal", "t"),
                                     choose_factor(a, acme, {}));
  CHECK(failed.failure == "no_emission_factor");
}

TEST_CASE("the built-in factor set resolves real activities") {
  auto rows = ogf::test::builtin_factors();
  // Brazil has no electricity factor of its own: the GLOBAL one applies.
  CHECK(chosen_id(make_activity("electricity", "kWh", "BR"), acme, rows) ==
        "ember2025-electricity-global");
  CHECK(chosen_id(make_activity("electricity", "MWh", "US-NYCW"), acme, rows) ==
        "epa2024-electricity-us-nycw");
  // US natural gas: energy units take the MMBtu row, volumes the scf row.
  CHECK(chosen_id(make_activity("natural_gas", "therm", "US"), acme, rows) ==
        "epa2024-natural-gas-mmbtu");
  CHECK(chosen_id(make_activity("natural_gas", "m3", "US"), acme, rows) ==
        "epa2024-natural-gas-scf");
  // GB natural gas in kWh and m3 each find their own-unit row.
  CHECK(chosen_id(make_activity("natural_gas", "kWh", "GB"), acme, rows) ==
        "desnz2024-natural-gas-kwh");
  CHECK(chosen_id(make_activity("natural_gas", "L", "GB"), acme, rows) ==
        "desnz2024-natural-gas-m3");
  // An activity from before 2024 falls back to the earliest factor.
  CHECK(chosen_id(make_activity("diesel", "L", "GB", "2019-01-01"), acme,
                  rows) == "desnz2024-diesel-l");
  CHECK(chosen_id(make_activity("hotel_night", "night", "FR"), acme, rows) ==
        "desnz2024-hotel-fr");
  // Natural gas has no GLOBAL row; hotel nights are not energy.
  CHECK(failure_of(make_activity("natural_gas", "kWh", "DE"), acme, rows) ==
        resolution_failure::no_emission_factor);
  CHECK(failure_of(make_activity("hotel_night", "kWh", "GB"), acme, rows) ==
        resolution_failure::unit_mismatch);
  // A tenant's own factor with a built-in id wins, and leaves the built-in
  // row as it was.
  rows.push_back(make_factor("epa2024-electricity-us", acme, "electricity",
                             "US", "kWh", "2024-01-01", "0.3"));
  auto choice = choose_factor(make_activity("electricity", "kWh"), acme, rows);
  REQUIRE(choice.chosen);
  CHECK(choice.chosen->owner == std::optional<tenant>(acme));
  CHECK(choice.chosen->factor.kg_co2e_per_unit == "0.3");
  auto for_globex =
      choose_factor(make_activity("electricity", "kWh"), globex, rows);
  REQUIRE(for_globex.chosen);
  CHECK_FALSE(for_globex.chosen->owner);
  CHECK(for_globex.chosen->factor.kg_co2e_per_unit == "0.375294");
}
