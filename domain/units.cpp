#include "domain/units.hpp"

#include <array>
#include <utility>

namespace ogf::domain {

namespace {

constexpr std::array<std::pair<dimension, const char*>, 7> dimension_names{{
    {dimension::energy, "energy"},
    {dimension::volume, "volume"},
    {dimension::mass, "mass"},
    {dimension::distance, "distance"},
    {dimension::passenger_distance, "passenger_distance"},
    {dimension::money, "money"},
    {dimension::stay, "stay"},
}};

struct unit_row {
  const char* name;
  dimension dim;
  const char* to_base;
};

// Each constant is an exact decimal traceable to a published definition
// (NIST SP 811 App. B; docs/emissions.md has the table): gal = 231 in^3 =
// 3.785411784 L, lb = 0.45359237 kg, mi = 1.609344 km exactly. MMBtu is
// 10^6 Btu(IT) = 1 055 055 852.62 J, held as 1 055 055 852 J (= 293.07107 kWh)
// like the SQL table, and therm = MMBtu / 10; scf = 1 ft^3 = 28.316846592 L,
// held as 28.3168466 L. Both differ from the definition by < 1e-8 relative,
// far below the 6 significant digits of any emission factor.
constexpr std::array<unit_row, 19> unit_rows{{
    {"kWh", dimension::energy, "3600000"},
    {"MWh", dimension::energy, "3600000000"},
    {"GJ", dimension::energy, "1000000000"},
    {"MJ", dimension::energy, "1000000"},
    {"therm", dimension::energy, "105505585.2"},
    {"MMBtu", dimension::energy, "1055055852"},
    {"L", dimension::volume, "1"},
    {"m3", dimension::volume, "1000"},
    {"gal", dimension::volume, "3.785411784"},
    {"scf", dimension::volume, "28.3168466"},
    {"kg", dimension::mass, "1"},
    {"t", dimension::mass, "1000"},
    {"lb", dimension::mass, "0.45359237"},
    {"km", dimension::distance, "1"},
    {"mi", dimension::distance, "1.609344"},
    {"pkm", dimension::passenger_distance, "1"},
    {"pmi", dimension::passenger_distance, "1.609344"},
    {"USD", dimension::money, "1"},
    {"night", dimension::stay, "1"},
}};

std::vector<unit_info> make_unit_table() {
  std::vector<unit_info> result;
  result.reserve(unit_rows.size());
  for (const auto& row : unit_rows)
    // The constants are literals above; parse cannot fail on them.
    result.push_back(unit_info{row.name, row.dim, row.to_base,
                               *decimal::parse(row.to_base)});
  return result;
}

} // namespace

const char* dimension_name(dimension d) {
  for (const auto& [value, name] : dimension_names)
    if (value == d)
      return name;
  return "unknown";
}

std::optional<dimension> parse_dimension(std::string_view name) {
  for (const auto& [value, text] : dimension_names)
    if (name == text)
      return value;
  return std::nullopt;
}

const std::vector<unit_info>& all_units() {
  static const std::vector<unit_info> table = make_unit_table();
  return table;
}

const unit_info* find_unit(std::string_view name) {
  for (const auto& unit : all_units())
    if (unit.name == name)
      return &unit;
  return nullptr;
}

const char* to_string(conversion_error e) {
  switch (e) {
  case conversion_error::unknown_unit:
    return "unknown_unit";
  case conversion_error::unit_mismatch:
    return "unit_mismatch";
  }
  return "unknown";
}

conversion_result convert(const decimal& quantity, std::string_view from,
                          std::string_view to) {
  const unit_info* from_unit = find_unit(from);
  const unit_info* to_unit = find_unit(to);
  if (from_unit == nullptr || to_unit == nullptr)
    return {fraction{}, conversion_error::unknown_unit};
  if (from_unit->dim != to_unit->dim)
    return {fraction{}, conversion_error::unit_mismatch};
  return {convert(quantity, *from_unit, *to_unit), std::nullopt};
}

fraction convert(const decimal& quantity, const unit_info& from,
                 const unit_info& to) {
  return (quantity * from.to_base).to_fraction() / to.to_base.to_fraction();
}

} // namespace ogf::domain
