#include "domain/factor_resolution.hpp"

#include <string>
#include <tuple>

#include "domain/units.hpp"

namespace ogf::domain {

namespace {

bool visible_to(const factor_row& row, const tenant& requester) {
  return !row.owner || *row.owner == requester;
}

// What a candidate is ranked by, in order; better_than says which of two
// ranks first. The date rule needs two keys: candidates valid on
// period_start rank before those that start later; among the former the
// latest valid_from ranks first, among the latter the earliest.
struct preference {
  bool builtin;          // own (false) before built-in
  bool global;           // exact region (false) before GLOBAL
  bool starts_later;     // valid on period_start (false) before later
  std::string_view date; // valid_from
  bool other_unit;       // activity's own unit (false) before another
  std::string_view id;   // smallest first, byte-wise
};

preference preference_of(const factor_row& row, const activity& a) {
  const auto& f = row.factor;
  return preference{
      !row.owner.has_value(),
      f.region != a.region,
      f.valid_from > a.period_start,
      f.valid_from,
      f.unit != a.unit,
      f.id,
  };
}

bool better_than(const preference& x, const preference& y) {
  auto head = [](const preference& p) {
    return std::tie(p.builtin, p.global, p.starts_later);
  };
  if (head(x) != head(y))
    return head(x) < head(y);
  if (x.date != y.date)
    // Both valid on period_start: latest first; both later: earliest first.
    return x.starts_later ? x.date < y.date : x.date > y.date;
  if (x.other_unit != y.other_unit)
    return !x.other_unit;
  // std::string_view compares through char_traits<char>, which orders
  // bytes as unsigned char, like memcmp and PostgreSQL's "C" collation.
  return x.id < y.id;
}

} // namespace

const char* to_string(resolution_failure f) {
  switch (f) {
  case resolution_failure::no_emission_factor:
    return "no_emission_factor";
  case resolution_failure::unit_mismatch:
    return "unit_mismatch";
  }
  return "unknown";
}

factor_choice choose_factor(const activity& a, const tenant& requester,
                            const std::vector<factor_row>& candidates) {
  const unit_info* activity_unit = find_unit(a.unit);
  bool any_of_type = false;
  const factor_row* best = nullptr;
  for (const auto& row : candidates) {
    const auto& f = row.factor;
    if (f.activity_type != a.activity_type || !visible_to(row, requester))
      continue;
    if (f.region != a.region && f.region != "GLOBAL")
      continue;
    any_of_type = true;
    const unit_info* factor_unit = find_unit(f.unit);
    if (activity_unit == nullptr || factor_unit == nullptr ||
        factor_unit->dim != activity_unit->dim)
      continue;
    if (best == nullptr ||
        better_than(preference_of(row, a), preference_of(*best, a)))
      best = &row;
  }
  if (best != nullptr)
    return {*best, std::nullopt};
  return {std::nullopt, any_of_type ? resolution_failure::unit_mismatch
                                    : resolution_failure::no_emission_factor};
}

resolved_activity to_resolved_activity(const activity& a,
                                       const factor_choice& choice) {
  resolved_activity r;
  r.activity_id = a.id;
  r.quantity = a.quantity;
  r.unit = a.unit;
  if (!choice.chosen) {
    r.failure = to_string(
        choice.failure.value_or(resolution_failure::no_emission_factor));
    return r;
  }
  const auto& f = choice.chosen->factor;
  r.factor_id = f.id;
  r.scope = f.scope;
  r.factor_unit = f.unit;
  r.kg_co2e_per_unit = f.kg_co2e_per_unit;
  return r;
}

} // namespace ogf::domain
