#include "domain/units.hpp"

#include <regex>
#include <set>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "builtin_factors.hpp"

using namespace ogf::domain;

namespace {

decimal dec(const std::string& text) {
  auto value = decimal::parse(text);
  REQUIRE(value);
  return *value;
}

fraction frac(const std::string& numerator, const std::string& denominator) {
  return dec(numerator).to_fraction() / dec(denominator).to_fraction();
}

fraction converted(const std::string& quantity, const std::string& from,
                   const std::string& to) {
  auto result = convert(dec(quantity), from, to);
  INFO(quantity << " " << from << " -> " << to);
  REQUIRE_FALSE(result.error);
  return result.quantity;
}

struct sql_unit {
  std::string name;
  std::string dimension;
  std::string to_base;
};

// The rows of `INSERT INTO units ... VALUES (...)` in migration 001.
std::vector<sql_unit> units_of_migration_001() {
  auto sql = ogf::test::read_text_file(
      ogf::test::source_path("migrations/001_initial_schema.up.sql"));
  auto begin = sql.find("INSERT INTO units");
  REQUIRE(begin != std::string::npos);
  auto end = sql.find(';', begin);
  std::string block = sql.substr(begin, end - begin);
  std::regex row(R"(\(\s*'([^']+)'\s*,\s*'([^']+)'\s*,\s*([0-9.]+)\s*\))");
  std::vector<sql_unit> rows;
  for (std::sregex_iterator it(block.begin(), block.end(), row), last;
       it != last; ++it)
    rows.push_back({(*it)[1], (*it)[2], (*it)[3]});
  return rows;
}

} // namespace

TEST_CASE("the unit table equals the SQL units table of migration 001") {
  auto sql = units_of_migration_001();
  REQUIRE(sql.size() == all_units().size());
  for (std::size_t i = 0; i < sql.size(); ++i) {
    const auto& unit = all_units()[i];
    INFO("SQL row " << i << ": " << sql[i].name);
    CHECK(unit.name == sql[i].name);
    CHECK(dimension_name(unit.dim) == sql[i].dimension);
    CHECK(unit.to_base_text == sql[i].to_base);
    CHECK(unit.to_base == dec(sql[i].to_base));
  }
}

TEST_CASE("units hold the CONTRACT's names in their dimensions") {
  const std::vector<std::pair<dimension, std::vector<std::string>>> expected{
      {dimension::energy, {"kWh", "MWh", "GJ", "MJ", "therm", "MMBtu"}},
      {dimension::volume, {"L", "m3", "gal", "scf"}},
      {dimension::mass, {"kg", "t", "lb"}},
      {dimension::distance, {"km", "mi"}},
      {dimension::passenger_distance, {"pkm", "pmi"}},
      {dimension::money, {"USD"}},
      {dimension::stay, {"night"}},
  };
  std::size_t count = 0;
  for (const auto& [dim, names] : expected)
    for (const auto& name : names) {
      const unit_info* unit = find_unit(name);
      INFO(name);
      REQUIRE(unit != nullptr);
      CHECK(unit->name == name);
      CHECK(unit->dim == dim);
      CHECK(unit->to_base.sign() > 0);
      ++count;
    }
  CHECK(all_units().size() == count);
}

TEST_CASE("unit names are case-exact") {
  CHECK(find_unit("kWh") != nullptr);
  CHECK(find_unit("kwh") == nullptr);
  CHECK(find_unit("KWH") == nullptr);
  CHECK(find_unit("mmbtu") == nullptr);
  CHECK(find_unit("l") == nullptr);
  CHECK(find_unit("") == nullptr);
  CHECK(find_unit("J") == nullptr);
}

TEST_CASE("dimension names match the SQL column and parse back") {
  const std::vector<std::pair<dimension, std::string>> names{
      {dimension::energy, "energy"},
      {dimension::volume, "volume"},
      {dimension::mass, "mass"},
      {dimension::distance, "distance"},
      {dimension::passenger_distance, "passenger_distance"},
      {dimension::money, "money"},
      {dimension::stay, "stay"},
  };
  for (const auto& [dim, name] : names) {
    CHECK(dimension_name(dim) == name);
    CHECK(parse_dimension(name) == dim);
  }
  CHECK_FALSE(parse_dimension("Energy"));
  CHECK_FALSE(parse_dimension("length"));
}

TEST_CASE("conversions agree with the published definitions") {
  // 1 MWh = 1000 kWh; 1 GJ = 1000 MJ; 1 kWh = 3.6 MJ (3 600 000 J).
  CHECK(converted("1", "MWh", "kWh") == frac("1000", "1"));
  CHECK(converted("1", "GJ", "MJ") == frac("1000", "1"));
  CHECK(converted("1", "kWh", "MJ") == frac("3.6", "1"));
  // 1 GJ = 10^9 / 3.6·10^6 kWh = 2500/9 kWh (no finite decimal).
  CHECK(converted("1", "GJ", "kWh") == frac("2500", "9"));
  // 1 MMBtu = 10 therm = 293.07107 kWh (the SQL table's comment).
  CHECK(converted("1", "MMBtu", "therm") == frac("10", "1"));
  CHECK(converted("1", "MMBtu", "kWh") == frac("293.07107", "1"));
  CHECK(converted("1", "therm", "MJ") == frac("105.5055852", "1"));
  // 1 m3 = 1000 L; 1 gal = 231 in^3 = 3.785411784 L; 1 scf = 28.3168466 L.
  CHECK(converted("1", "m3", "L") == frac("1000", "1"));
  CHECK(converted("1", "gal", "L") == frac("3.785411784", "1"));
  CHECK(converted("1", "scf", "L") == frac("28.3168466", "1"));
  CHECK(converted("1", "m3", "scf") == frac("1000", "28.3168466"));
  CHECK(round_fraction(converted("1", "m3", "scf"), 6).to_string() ==
        "35.314667");
  // 1 t = 1000 kg; 1 lb = 0.45359237 kg, so 1 t = 2204.622622 lb.
  CHECK(converted("1", "t", "kg") == frac("1000", "1"));
  CHECK(converted("1", "lb", "kg") == frac("0.45359237", "1"));
  CHECK(round_fraction(converted("1", "t", "lb"), 6).to_string() ==
        "2204.622622");
  // 1 mi = 1.609344 km, the same for passenger distance.
  CHECK(converted("1", "mi", "km") == frac("1.609344", "1"));
  CHECK(converted("1", "pmi", "pkm") == frac("1.609344", "1"));
  CHECK(converted("1000", "pkm", "pmi") == frac("1000", "1.609344"));
  CHECK(converted("12.5", "USD", "USD") == frac("12.5", "1"));
  CHECK(converted("3", "night", "night") == frac("3", "1"));
}

TEST_CASE(
    "every pair of units of a dimension converts and round-trips exactly") {
  const std::vector<std::string> quantities{"0", "1", "123.456789",
                                            "1000000000000", "0.000001"};
  std::size_t pairs = 0;
  for (const auto& a : all_units())
    for (const auto& b : all_units()) {
      if (a.dim != b.dim)
        continue;
      ++pairs;
      for (const auto& q : quantities) {
        INFO(q << " " << a.name << " -> " << b.name << " -> " << a.name);
        auto there = convert(dec(q), a.name, b.name);
        REQUIRE_FALSE(there.error);
        // Same amount of the dimension's base unit on both sides.
        CHECK(there.quantity * b.to_base.to_fraction() ==
              dec(q).to_fraction() * a.to_base.to_fraction());
        // Back again: exactly the original quantity (as a fraction; the
        // way back multiplies by to_base(b)/to_base(a)).
        CHECK(there.quantity * b.to_base.to_fraction() /
                  a.to_base.to_fraction() ==
              dec(q).to_fraction());
        if (a.name == b.name)
          CHECK(there.quantity == dec(q).to_fraction());
      }
    }
  // 6² + 4² + 3² + 2² + 2² + 1 + 1
  CHECK(pairs == 71);
}

TEST_CASE("converting through a third unit equals converting directly") {
  for (const auto& a : all_units())
    for (const auto& b : all_units())
      for (const auto& c : all_units()) {
        if (a.dim != b.dim || b.dim != c.dim)
          continue;
        INFO(a.name << " -> " << b.name << " -> " << c.name);
        auto via_b = convert(dec("7.25"), a.name, b.name).quantity *
                     b.to_base.to_fraction() / c.to_base.to_fraction();
        CHECK(via_b == convert(dec("7.25"), a.name, c.name).quantity);
      }
}

TEST_CASE("units of different dimensions never convert") {
  std::size_t refused = 0;
  for (const auto& a : all_units())
    for (const auto& b : all_units()) {
      if (a.dim == b.dim)
        continue;
      INFO(a.name << " -> " << b.name);
      auto result = convert(dec("1"), a.name, b.name);
      REQUIRE(result.error);
      CHECK(*result.error == conversion_error::unit_mismatch);
      CHECK(std::string(to_string(*result.error)) == "unit_mismatch");
      ++refused;
    }
  CHECK(refused == 19 * 19 - 71);
  // Distance and passenger distance are different dimensions on purpose:
  // a car's km is not a passenger's km.
  CHECK(convert(dec("1"), "km", "pkm").error ==
        conversion_error::unit_mismatch);
}

TEST_CASE("unknown units are refused as unknown, not as a mismatch") {
  auto from_unknown = convert(dec("1"), "kwh", "kWh");
  REQUIRE(from_unknown.error);
  CHECK(*from_unknown.error == conversion_error::unknown_unit);
  auto to_unknown = convert(dec("1"), "kWh", "Wh");
  REQUIRE(to_unknown.error);
  CHECK(*to_unknown.error == conversion_error::unknown_unit);
  CHECK(std::string(to_string(conversion_error::unknown_unit)) ==
        "unknown_unit");
}
