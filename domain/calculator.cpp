#include "domain/calculator.hpp"

#include <algorithm>
#include <utility>

#include "domain/decimal.hpp"
#include "domain/units.hpp"

namespace ogf::domain {

namespace {

emissions_result refuse(calculation_error e) {
  return {std::string{}, e};
}

// Exact sum of the terms with at least `emissions_decimals` decimals, so
// summing never rounds.
std::string exact_sum_text(const std::vector<decimal>& terms) {
  decimal sum;
  int places = emissions_decimals;
  for (const auto& term : terms) {
    sum = sum + term;
    places = std::max(places, term.scale());
  }
  return format_fixed(sum, places);
}

} // namespace

const char* to_string(calculation_error e) {
  switch (e) {
  case calculation_error::unknown_unit:
    return "unknown_unit";
  case calculation_error::unit_mismatch:
    return "unit_mismatch";
  case calculation_error::invalid_quantity:
    return "invalid_quantity";
  case calculation_error::invalid_factor:
    return "invalid_factor";
  }
  return "unknown";
}

emissions_result calculate_emissions(std::string_view quantity,
                                     std::string_view activity_unit,
                                     std::string_view kg_co2e_per_unit,
                                     std::string_view factor_unit) {
  auto amount = decimal::parse(quantity);
  if (!amount || amount->sign() < 0)
    return refuse(calculation_error::invalid_quantity);
  auto factor = decimal::parse(kg_co2e_per_unit);
  if (!factor || factor->sign() < 0)
    return refuse(calculation_error::invalid_factor);
  const unit_info* from = find_unit(activity_unit);
  const unit_info* to = find_unit(factor_unit);
  if (from == nullptr || to == nullptr)
    return refuse(calculation_error::unknown_unit);
  if (from->dim != to->dim)
    return refuse(calculation_error::unit_mismatch);
  // One fraction, one rounding: converting first and rounding the converted
  // quantity would lose digits (1 kWh is 0.0341214163... therm).
  decimal numerator = *amount * from->to_base * *factor;
  decimal kg = round_quotient(numerator, to->to_base, emissions_decimals);
  return {kg.to_string(), std::nullopt};
}

emissions_result calculate_emissions(const activity& a,
                                     const emission_factor& f) {
  return calculate_emissions(a.quantity, a.unit, f.kg_co2e_per_unit, f.unit);
}

item_result calculate_item(const resolved_activity& r) {
  item_result result;
  result.activity_id = r.activity_id;
  result.activity_version = r.activity_version;
  if (r.failure) {
    result.error = r.failure;
    return result;
  }
  auto computed = calculate_emissions(r.quantity, r.unit, r.kg_co2e_per_unit,
                                      r.factor_unit);
  if (computed.error) {
    result.error = to_string(*computed.error);
    return result;
  }
  result.succeeded = true;
  result.scope = r.scope;
  result.emissions_kg_co2e = std::move(computed.kg_co2e);
  result.factor_id = r.factor_id;
  return result;
}

std::vector<item_result>
calculate_chunk(const std::vector<resolved_activity>& chunk) {
  std::vector<item_result> results;
  results.reserve(chunk.size());
  for (const auto& r : chunk)
    results.push_back(calculate_item(r));
  return results;
}

std::optional<std::string>
sum_emissions(const std::vector<std::string>& terms) {
  std::vector<decimal> values;
  values.reserve(terms.size());
  for (const auto& text : terms) {
    auto value = decimal::parse(text);
    if (!value)
      return std::nullopt;
    values.push_back(std::move(*value));
  }
  return exact_sum_text(values);
}

std::optional<std::string>
total_emissions(const std::vector<item_result>& items) {
  std::vector<std::string> terms;
  for (const auto& item : items)
    if (item.succeeded && item.emissions_kg_co2e)
      terms.push_back(*item.emissions_kg_co2e);
  return sum_emissions(terms);
}

} // namespace ogf::domain
