// Units of activity quantities and emission factors, and exact conversion
// between units of one dimension. The table mirrors the SQL `units` table of
// migration 001 constant for constant; a test reads that migration and checks
// that both agree.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/decimal.hpp"

namespace ogf::domain {

/// What a unit measures. Quantities convert only within one dimension.
enum class dimension {
  energy,             ///< base unit J
  volume,             ///< base unit L
  mass,               ///< base unit kg
  distance,           ///< base unit km (vehicle distance)
  passenger_distance, ///< base unit pkm
  money,              ///< base unit USD
  stay,               ///< base unit night
};

/// "energy", "volume", "mass", "distance", "passenger_distance", "money" or
/// "stay": the names in the SQL `units.dimension` column.
const char* dimension_name(dimension d);

/// The dimension named by `name` (case-exact, as dimension_name writes it);
/// nullopt for anything else.
std::optional<dimension> parse_dimension(std::string_view name);

/// One row of the unit table.
struct unit_info {
  /// Case-exact name, e.g. "kWh", "m3", "pmi".
  std::string name;
  /// What the unit measures.
  dimension dim;
  /// How many base units of its dimension one of this unit is, as written
  /// in the SQL `units.to_base` column, e.g. "105505585.2" for therm (J).
  std::string to_base_text;
  /// to_base_text, parsed.
  decimal to_base;
};

/// Every known unit, in the order of the SQL table (energy, volume, mass,
/// distance, passenger distance, money, stays).
const std::vector<unit_info>& all_units();

/// The unit called `name` (case-exact: "kwh" is unknown); nullptr if none.
/// The pointer stays valid for the life of the program.
const unit_info* find_unit(std::string_view name);

/// Why a quantity could not be converted.
enum class conversion_error {
  unknown_unit,  ///< a unit name is not in the table
  unit_mismatch, ///< the two units measure different dimensions
};

/// "unknown_unit" or "unit_mismatch".
const char* to_string(conversion_error e);

/// A converted quantity, or why there is none.
struct conversion_result {
  /// The exact quantity in the target unit (0 when error is set). A
  /// fraction, because e.g. 1 kWh is 3600000/105505585.2 therm.
  fraction quantity;
  /// Set when the conversion was refused.
  std::optional<conversion_error> error;
};

/// `quantity` in unit `from` expressed, exactly, in unit `to`:
/// quantity × to_base(from) / to_base(to).
conversion_result convert(const decimal& quantity, std::string_view from,
                          std::string_view to);

/// As above, for units already looked up. Precondition: both measure the
/// same dimension (not checked here).
fraction convert(const decimal& quantity, const unit_info& from,
                 const unit_info& to);

} // namespace ogf::domain
