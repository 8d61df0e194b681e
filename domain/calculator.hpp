// Emissions of an activity under a chosen emission factor (CONTRACT §2
// "Calculation"), exactly: the quantity is converted to the factor's unit and
// multiplied by the factor as one fraction,
//   quantity × to_base(activity unit) × kg_co2e_per_unit / to_base(factor unit)
// and that fraction is rounded once, half away from zero, to 6 decimals.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "domain/model.hpp"

namespace ogf::domain {

/// Decimals of every emissions figure (kg CO2e): 6, i.e. milligrams.
inline constexpr int emissions_decimals = 6;

/// Why an emissions calculation was refused. With the schema's constraints
/// (units reference the unit table, numeric columns, quantity and factor
/// >= 0) only unit_mismatch can happen; the others guard against bad input.
enum class calculation_error {
  unknown_unit,     ///< activity or factor unit not in the unit table
  unit_mismatch,    ///< the two units measure different dimensions
  invalid_quantity, ///< quantity is not a decimal number >= 0
  invalid_factor,   ///< kg_co2e_per_unit is not a decimal number >= 0
};

/// The error code as it appears in an item's `error`: "unknown_unit",
/// "unit_mismatch", "invalid_quantity" or "invalid_factor".
const char* to_string(calculation_error e);

/// The emissions of one activity, or why they could not be computed.
struct emissions_result {
  /// kg CO2e with exactly 6 decimals, e.g. "375.294000"; empty on error.
  std::string kg_co2e;
  /// Set when the calculation was refused.
  std::optional<calculation_error> error;
};

/// kg CO2e of `quantity` `activity_unit` under a factor of
/// `kg_co2e_per_unit` kg per `factor_unit`. Quantity and factor are decimal
/// text as decimal::parse reads it (exponents allowed).
emissions_result calculate_emissions(std::string_view quantity,
                                     std::string_view activity_unit,
                                     std::string_view kg_co2e_per_unit,
                                     std::string_view factor_unit);

/// kg CO2e of an activity under a factor (its quantity and unit, the
/// factor's unit and kg_co2e_per_unit; nothing else is looked at).
emissions_result calculate_emissions(const activity& a,
                                     const emission_factor& f);

/// One activity of a chunk, as the resolver hands it to the calculation:
/// either the activity with the factor chosen for it, or the resolver's
/// failure code. Plain data, so it can travel in an actor message.
struct resolved_activity {
  /// The activity's id.
  std::string activity_id;
  /// Set when the resolver already decided the outcome: "activity_not_found",
  /// "no_emission_factor" or "unit_mismatch". The fields below are then
  /// ignored.
  std::optional<std::string> failure;
  /// Exact decimal text, >= 0.
  std::string quantity;
  /// The activity's unit.
  std::string unit;
  /// Id of the chosen factor.
  std::string factor_id;
  /// Scope of the chosen factor: 1, 2 or 3.
  int scope = 0;
  /// The chosen factor's unit.
  std::string factor_unit;
  /// The chosen factor, kg CO2e per factor_unit, exact decimal text.
  std::string kg_co2e_per_unit;
  /// Version of the activity these inputs were read from (bumped by every
  /// upsert; 0 = unknown). Carried to the item_result, so that the store
  /// writes the activity's latest result only if the activity is unchanged.
  std::int64_t activity_version = 0;
};

/// The outcome for one activity of a chunk, what gets written to its batch
/// item. Plain data, so it can travel in an actor message.
struct item_result {
  /// The activity's id.
  std::string activity_id;
  /// True when emissions were computed; false when the item failed.
  bool succeeded = false;
  /// Scope of the factor used; null when failed.
  std::optional<int> scope;
  /// kg CO2e with exactly 6 decimals; null when failed.
  std::optional<std::string> emissions_kg_co2e;
  /// Id of the factor used; null when failed.
  std::optional<std::string> factor_id;
  /// Failure code (resolver's or calculation_error's); null when succeeded.
  std::optional<std::string> error;
  /// resolved_activity::activity_version of the inputs.
  std::int64_t activity_version = 0;
};

/// The outcome for one resolved activity. Every failure is permanent:
/// retrying the same inputs gives the same answer.
item_result calculate_item(const resolved_activity& r);

/// The outcomes for a whole chunk, one per input, in input order.
std::vector<item_result>
calculate_chunk(const std::vector<resolved_activity>& chunk);

/// The exact sum of decimal texts (e.g. emissions of items), with as many
/// decimals as the longest term and at least 6: {"1.5", "2.000001"} gives
/// "3.500001". "0.000000" for no terms; nullopt if a term is not a decimal.
std::optional<std::string> sum_emissions(const std::vector<std::string>& terms);

/// The exact sum of the emissions of the succeeded items, 6 decimals or
/// more (see sum_emissions); failed items count as nothing. nullopt if a
/// succeeded item's emissions are not decimal text (a caller bug).
std::optional<std::string>
total_emissions(const std::vector<item_result>& items);

} // namespace ogf::domain
