#include "domain/calculator.hpp"

#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "builtin_factors.hpp"

using namespace ogf::domain;
using ogf::test::builtin_factor;

namespace {

// kg CO2e of `quantity` `unit` under the built-in factor `factor_id`, as
// shipped in data/emission_factors.csv.
std::string emissions_under(const std::string& factor_id,
                            const std::string& quantity,
                            const std::string& unit) {
  emission_factor f = builtin_factor(factor_id);
  activity a;
  a.quantity = quantity;
  a.unit = unit;
  auto result = calculate_emissions(a, f);
  INFO(quantity << " " << unit << " under " << factor_id << " ("
                << f.kg_co2e_per_unit << " kg/" << f.unit << ")");
  REQUIRE_FALSE(result.error);
  return result.kg_co2e;
}

std::string emissions(const std::string& quantity, const std::string& unit,
                      const std::string& kg_per_unit,
                      const std::string& factor_unit) {
  auto result = calculate_emissions(quantity, unit, kg_per_unit, factor_unit);
  INFO(quantity << " " << unit << " × " << kg_per_unit << " kg/"
                << factor_unit);
  REQUIRE_FALSE(result.error);
  return result.kg_co2e;
}

} // namespace

// Each expected value below was worked out by hand (and checked with
// PostgreSQL's round(numeric, 6)) from the factor in data/emission_factors.csv
// named in the call; the comment shows the arithmetic.

TEST_CASE("electricity emissions are quantity times the grid factor") {
  // 1000 kWh × 0.375294 kg/kWh (US average) = 375.294
  CHECK(emissions_under("epa2024-electricity-us", "1000", "kWh") ==
        "375.294000");
  // 1000 kWh × 0.226498 (US-CAMX) = 226.498
  CHECK(emissions_under("epa2024-electricity-us-camx", "1000", "kWh") ==
        "226.498000");
  // 2.5 MWh = 2500 kWh; × 0.20705 (GB) = 517.625
  CHECK(emissions_under("desnz2024-electricity-gb", "2.5", "MWh") ==
        "517.625000");
  // 1000 kWh × 0.473007 (World) = 473.007
  CHECK(emissions_under("ember2025-electricity-global", "1000", "kWh") ==
        "473.007000");
}

TEST_CASE("liquid fuel emissions convert litres and US gallons exactly") {
  // 100 gal × 10.2427 kg/gal (US diesel) = 1024.27
  CHECK(emissions_under("epa2024-diesel-gal", "100", "gal") == "1024.270000");
  // 1000 L = 1000 / 3.785411784 gal = 264.17205235815 gal;
  // × 10.2427 = 2705.83508068... → 2705.835081
  CHECK(emissions_under("epa2024-diesel-gal", "1000", "L") == "2705.835081");
  // 1000 L × 2.51279 kg/L (GB diesel) = 2512.79
  CHECK(emissions_under("desnz2024-diesel-l", "1000", "L") == "2512.790000");
  // 50 gal × 8.81184 (US gasoline) = 440.592
  CHECK(emissions_under("epa2024-gasoline-gal", "50", "gal") == "440.592000");
  // 1000 L × 2.0844 (GB petrol) = 2084.4
  CHECK(emissions_under("desnz2024-petrol-l", "1000", "L") == "2084.400000");
  // 250 gal × 5.74081 (US propane) = 1435.2025
  CHECK(emissions_under("epa2024-propane-gal", "250", "gal") == "1435.202500");
  // 1000 L × 1.54357 (GB propane) = 1543.57
  CHECK(emissions_under("desnz2024-propane-l", "1000", "L") == "1543.570000");
  // 1000 L × 2.75541 (GB gas oil) = 2755.41
  CHECK(emissions_under("desnz2024-gas-oil-l", "1000", "L") == "2755.410000");
}

TEST_CASE("natural gas converts between therm, MMBtu, kWh, scf and m3") {
  // 10 therm = 10 × 105505585.2 J = 1055055852 J = 1 MMBtu; × 53.1145
  CHECK(emissions_under("epa2024-natural-gas-mmbtu", "10", "therm") ==
        "53.114500");
  // 1 therm = 0.1 MMBtu; × 53.1145 = 5.31145
  CHECK(emissions_under("epa2024-natural-gas-mmbtu", "1", "therm") ==
        "5.311450");
  // 1 MWh = 3.6e9 / 1055055852 MMBtu = 3.41214163... MMBtu; × 53.1145
  // = 181.2341968... → 181.234197
  CHECK(emissions_under("epa2024-natural-gas-mmbtu", "1", "MWh") ==
        "181.234197");
  // 1000 scf × 0.0544953 kg/scf = 54.4953
  CHECK(emissions_under("epa2024-natural-gas-scf", "1000", "scf") ==
        "54.495300");
  // 100 m3 = 100000 L / 28.3168466 L = 3531.4666711 scf; × 0.0544953
  // = 192.4483356... → 192.448336
  CHECK(emissions_under("epa2024-natural-gas-scf", "100", "m3") ==
        "192.448336");
  // 12345.678 kWh × 0.1829 (GB, gross CV) = 2258.0245062 → 2258.024506
  CHECK(emissions_under("desnz2024-natural-gas-kwh", "12345.678", "kWh") ==
        "2258.024506");
  // 1 GJ = 2500/9 kWh = 277.777... kWh; × 0.1829 = 50.8055555... → 50.805556
  CHECK(emissions_under("desnz2024-natural-gas-kwh", "1", "GJ") == "50.805556");
  // 37 m3 × 2.04542 kg/m3 (GB) = 75.68054
  CHECK(emissions_under("desnz2024-natural-gas-m3", "37", "m3") == "75.680540");
}

TEST_CASE("other stationary fuels and purchased heat use MMBtu factors") {
  // 3 MMBtu × 74.203 (fuel oil no. 2) = 222.609
  CHECK(emissions_under("epa2024-fuel-oil-2-mmbtu", "3", "MMBtu") ==
        "222.609000");
  // 1 GJ = 1e9 / 1055055852 MMBtu = 0.947817120 MMBtu; × 94.012
  // (bituminous) = 89.1061831... → 89.106183
  CHECK(emissions_under("epa2024-coal-bituminous-mmbtu", "1", "GJ") ==
        "89.106183");
  // 100 therm = 10 MMBtu; × 66.3981 (steam and heat) = 663.981
  CHECK(emissions_under("epa2024-steam-heat-mmbtu", "100", "therm") ==
        "663.981000");
}

TEST_CASE("flights convert between passenger-miles and passenger-km") {
  // 500 pmi × 0.208854 kg/pmi (US short haul) = 104.427
  CHECK(emissions_under("epa2024-air-short-haul-pmi", "500", "pmi") ==
        "104.427000");
  // 1000 pkm = 1000 / 1.609344 pmi = 621.371192 pmi; × 0.208854
  // = 129.7758589... → 129.775859
  CHECK(emissions_under("epa2024-air-short-haul-pmi", "1000", "pkm") ==
        "129.775859");
  // 1000 pkm × 0.10974 kg/pkm (GB short haul) = 109.74
  CHECK(emissions_under("desnz2024-air-short-haul-pkm", "1000", "pkm") ==
        "109.740000");
  // 100 pmi = 160.9344 pkm; × 0.16098 (GB domestic) = 25.907219712
  // → 25.907220
  CHECK(emissions_under("desnz2024-air-domestic-pkm", "100", "pmi") ==
        "25.907220");
  // 400 pkm × 0.27257 (GB domestic with RF) = 109.028
  CHECK(emissions_under("desnz2024-air-domestic-rf-pkm", "400", "pkm") ==
        "109.028000");
}

TEST_CASE("rail and car travel use passenger and vehicle distance") {
  // 250 pmi × 0.113947 (US intercity rail) = 28.48675
  CHECK(emissions_under("epa2024-rail-intercity-pmi", "250", "pmi") ==
        "28.486750");
  // 1000 pkm × 0.03546 (GB national rail) = 35.46
  CHECK(emissions_under("desnz2024-rail-national-pkm", "1000", "pkm") ==
        "35.460000");
  // 100 mi × 0.307976 kg/vehicle-mile (US car) = 30.7976
  CHECK(emissions_under("epa2024-car-passenger-mi", "100", "mi") ==
        "30.797600");
  // 100 km = 62.1371192 mi; × 0.307976 = 19.1367414... → 19.136741
  CHECK(emissions_under("epa2024-car-passenger-mi", "100", "km") ==
        "19.136741");
  // 100 km × 0.16691 (GB average car) = 16.691
  CHECK(emissions_under("desnz2024-car-average-km", "100", "km") ==
        "16.691000");
}

TEST_CASE("waste, hotel stays and spend use tonnes, nights and dollars") {
  // 2.5 t × 639.341 kg/t (US MSW landfill) = 1598.3525
  CHECK(emissions_under("epa2024-waste-msw-landfill-t", "2.5", "t") ==
        "1598.352500");
  // 1000 lb = 453.59237 kg = 0.45359237 t; × 520.334 (GB C&I landfill)
  // = 236.0195322... → 236.019532
  CHECK(emissions_under("desnz2024-waste-ci-landfill-t", "1000", "lb") ==
        "236.019532");
  // 3 nights × 10.4 (GB hotel) = 31.2
  CHECK(emissions_under("desnz2024-hotel-gb", "3", "night") == "31.200000");
  // 2 nights × 6.7 (FR hotel) = 13.4
  CHECK(emissions_under("desnz2024-hotel-fr", "2", "night") == "13.400000");
  // 1234.56 USD × 0.058 (NAICS 334111) = 71.60448
  CHECK(emissions_under("useeio13-naics-334111-usd", "1234.56", "USD") ==
        "71.604480");
  // 10000 USD × 0.084 (NAICS 541511) = 840
  CHECK(emissions_under("useeio13-naics-541511-usd", "10000", "USD") ==
        "840.000000");
}

TEST_CASE("conversion and factor are one fraction, rounded once") {
  // 1 kWh under 1000 kg/therm: 3600000 / 105505585.2 × 1000 = 34.1214163...
  // Rounding the converted quantity first (0.034121 therm) would give
  // 34.121000.
  CHECK(emissions("1", "kWh", "1000", "therm") == "34.121416");
  // 2000 mi × 0.000001 kg/km = 3218.688 km × 0.000001 = 0.003218688
  CHECK(emissions("2000", "mi", "0.000001", "km") == "0.003219");
}

TEST_CASE("the 7th decimal rounds half away from zero") {
  // 0.0000015 kg × 1 kg/kg = 0.0000015 → 0.000002
  CHECK(emissions("0.0000015", "kg", "1", "kg") == "0.000002");
  // 0.0000025 → 0.000003 (half to even would give 0.000002)
  CHECK(emissions("0.0000025", "kg", "1", "kg") == "0.000003");
  // 0.00000049 → 0.000000
  CHECK(emissions("0.00000049", "kg", "1", "kg") == "0.000000");
  // 0.0000000005 t = 0.0000005 kg; × 1 kg/kg → 0.000001
  CHECK(emissions("0.0000000005", "t", "1", "kg") == "0.000001");
  // 0.0000000004999 t = 0.0000004999 kg → 0.000000
  CHECK(emissions("0.0000000004999", "t", "1", "kg") == "0.000000");
}

TEST_CASE("zero emissions are 0.000000, never -0.000000") {
  CHECK(emissions("0", "kWh", "0.375294", "kWh") == "0.000000");
  CHECK(emissions("-0", "kWh", "0.375294", "kWh") == "0.000000");
  CHECK(emissions("-0.000", "MWh", "0.2", "kWh") == "0.000000");
  CHECK(emissions("12", "kWh", "0", "kWh") == "0.000000");
  CHECK(emissions("12", "kWh", "-0.0", "kWh") == "0.000000");
}

TEST_CASE("quantities up to 1e12 stay exact") {
  // 10^12 kWh × 0.375294 = 375 294 000 000
  CHECK(emissions("1000000000000", "kWh", "0.375294", "kWh") ==
        "375294000000.000000");
  CHECK(emissions("1e12", "kWh", "0.375294", "kWh") == "375294000000.000000");
  // 123456789012.345678 × 0.375294 = 46332592175.599259148... (a double
  // prints 46332592175.59926)
  CHECK(emissions("123456789012.345678", "kWh", "0.375294", "kWh") ==
        "46332592175.599259");
  // 987654321098.765432 gal × 10.2427 = 10116246914718.3246903...
  CHECK(emissions("987654321098.765432", "gal", "10.2427", "gal") ==
        "10116246914718.324690");
  // 999999999999.999999 therm = 99999999999.9999999 MMBtu; × 53.1145
  // = 5311449999999.99999468855 → 5311449999999.999995
  CHECK(emissions("999999999999.999999", "therm", "53.1145", "MMBtu") ==
        "5311449999999.999995");
  // 10^12 pmi = 1.609344e12 pkm; × 0.16098 = 259 072 197 120
  CHECK(emissions("1e12", "pmi", "0.16098", "pkm") == "259072197120.000000");
}

TEST_CASE("a calculation across dimensions is refused as unit_mismatch") {
  auto result = calculate_emissions("10", "night", "0.375294", "kWh");
  REQUIRE(result.error);
  CHECK(*result.error == calculation_error::unit_mismatch);
  CHECK(result.kg_co2e.empty());
  CHECK(std::string(to_string(*result.error)) == "unit_mismatch");
  CHECK(calculate_emissions("10", "km", "0.1", "pkm").error ==
        calculation_error::unit_mismatch);
}

TEST_CASE("bad quantities, factors and units are refused with their code") {
  CHECK(calculate_emissions("-1", "kWh", "0.375294", "kWh").error ==
        calculation_error::invalid_quantity);
  CHECK(calculate_emissions("ten", "kWh", "0.375294", "kWh").error ==
        calculation_error::invalid_quantity);
  CHECK(calculate_emissions("", "kWh", "0.375294", "kWh").error ==
        calculation_error::invalid_quantity);
  CHECK(calculate_emissions("1", "kWh", "-0.1", "kWh").error ==
        calculation_error::invalid_factor);
  CHECK(calculate_emissions("1", "kWh", "0,1", "kWh").error ==
        calculation_error::invalid_factor);
  CHECK(calculate_emissions("1", "kwh", "0.1", "kWh").error ==
        calculation_error::unknown_unit);
  CHECK(calculate_emissions("1", "kWh", "0.1", "Wh").error ==
        calculation_error::unknown_unit);
  CHECK(std::string(to_string(calculation_error::invalid_quantity)) ==
        "invalid_quantity");
  CHECK(std::string(to_string(calculation_error::invalid_factor)) ==
        "invalid_factor");
  CHECK(std::string(to_string(calculation_error::unknown_unit)) ==
        "unknown_unit");
}

TEST_CASE("a chunk yields one result per activity, in order") {
  std::vector<resolved_activity> chunk(4);
  chunk[0].activity_id = "a-electricity";
  chunk[0].quantity = "1000";
  chunk[0].unit = "kWh";
  chunk[0].factor_id = "epa2024-electricity-us";
  chunk[0].scope = 2;
  chunk[0].factor_unit = "kWh";
  chunk[0].kg_co2e_per_unit = "0.375294";
  chunk[1].activity_id = "b-missing";
  chunk[1].failure = "activity_not_found";
  chunk[2].activity_id = "c-gas";
  chunk[2].quantity = "10";
  chunk[2].unit = "therm";
  chunk[2].factor_id = "epa2024-natural-gas-mmbtu";
  chunk[2].scope = 1;
  chunk[2].factor_unit = "MMBtu";
  chunk[2].kg_co2e_per_unit = "53.1145";
  chunk[3].activity_id = "d-hotel-in-kwh";
  chunk[3].quantity = "3";
  chunk[3].unit = "night";
  chunk[3].factor_id = "epa2024-electricity-us";
  chunk[3].scope = 2;
  chunk[3].factor_unit = "kWh";
  chunk[3].kg_co2e_per_unit = "0.375294";

  auto results = calculate_chunk(chunk);
  REQUIRE(results.size() == 4);

  CHECK(results[0].activity_id == "a-electricity");
  CHECK(results[0].succeeded);
  CHECK(results[0].scope == 2);
  CHECK(results[0].emissions_kg_co2e == "375.294000");
  CHECK(results[0].factor_id == "epa2024-electricity-us");
  CHECK_FALSE(results[0].error);

  CHECK(results[1].activity_id == "b-missing");
  CHECK_FALSE(results[1].succeeded);
  CHECK(results[1].error == "activity_not_found");
  CHECK_FALSE(results[1].scope);
  CHECK_FALSE(results[1].emissions_kg_co2e);
  CHECK_FALSE(results[1].factor_id);

  CHECK(results[2].activity_id == "c-gas");
  CHECK(results[2].succeeded);
  CHECK(results[2].scope == 1);
  CHECK(results[2].emissions_kg_co2e == "53.114500");

  CHECK(results[3].activity_id == "d-hotel-in-kwh");
  CHECK_FALSE(results[3].succeeded);
  CHECK(results[3].error == "unit_mismatch");
  CHECK_FALSE(results[3].emissions_kg_co2e);
  CHECK_FALSE(results[3].factor_id);

  // 375.294 + 53.1145; failed items count as nothing.
  CHECK(total_emissions(results) == "428.408500");
  CHECK(calculate_chunk({}).empty());
}

TEST_CASE("the resolver's failure codes pass through unchanged") {
  for (const char* code :
       {"activity_not_found", "no_emission_factor", "unit_mismatch"}) {
    resolved_activity r;
    r.activity_id = "x";
    r.failure = code;
    // Even with a usable factor: the resolver's word is final.
    r.quantity = "1";
    r.unit = "kWh";
    r.factor_unit = "kWh";
    r.kg_co2e_per_unit = "1";
    auto item = calculate_item(r);
    CHECK_FALSE(item.succeeded);
    CHECK(item.error == code);
    CHECK_FALSE(item.emissions_kg_co2e);
  }
}

TEST_CASE("emission texts sum exactly") {
  CHECK(sum_emissions({}) == "0.000000");
  CHECK(sum_emissions({"0.100000", "0.200000"}) == "0.300000");
  CHECK(sum_emissions({"375294000000.000000", "0.000001"}) ==
        "375294000000.000001");
  CHECK(sum_emissions({"0.000001", "0.000001", "0.000001"}) == "0.000003");
  // Never rounds: a term with more decimals widens the result.
  CHECK(sum_emissions({"1.5", "2.0000015"}) == "3.5000015");
  CHECK(sum_emissions({"1e3", "0.5"}) == "1000.500000");
  CHECK_FALSE(sum_emissions({"1.0", "one"}));
}

TEST_CASE("the sum of many items equals the exact total") {
  // 100 000 × 0.000001 + 100 000 × 0.1 = 0.1 + 10000 = 10000.1 (a double
  // accumulator, alternating the terms, ends at 10000.10000003757).
  std::vector<std::string> terms;
  for (int i = 0; i < 100000; ++i) {
    terms.push_back("0.000001");
    terms.push_back("0.100000");
  }
  CHECK(sum_emissions(terms) == "10000.100000");
}
