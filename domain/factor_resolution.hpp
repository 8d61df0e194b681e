// The reference implementation of the CONTRACT's factor choice (§2
// "Calculation"): which emission factor an activity is calculated with.
// Written for clarity, not speed; the store does the same in SQL, and a
// property test checks the two agree on random inputs.
#pragma once

#include <optional>
#include <vector>

#include "domain/calculator.hpp"
#include "domain/model.hpp"

namespace ogf::domain {

/// An emission factor with its owner, as one row of `emission_factors`.
struct factor_row {
  /// The tenant that owns the factor; nullopt for a built-in factor (NULL
  /// org_id/workspace_id). This, not factor.builtin, decides visibility.
  std::optional<tenant> owner;
  /// The factor itself.
  emission_factor factor;
};

/// Why no factor could be chosen for an activity.
enum class resolution_failure {
  /// No factor of the activity's type for its region or GLOBAL is visible
  /// to the tenant.
  no_emission_factor,
  /// Such factors exist, but none has a unit of the activity unit's
  /// dimension.
  unit_mismatch,
};

/// "no_emission_factor" or "unit_mismatch", the item error codes.
const char* to_string(resolution_failure f);

/// The factor chosen for an activity, or why there is none.
struct factor_choice {
  /// The chosen row (a copy); nullopt when failure is set.
  std::optional<factor_row> chosen;
  /// Set when no factor qualifies.
  std::optional<resolution_failure> failure;
};

/// Chooses the factor for activity `a` of tenant `requester` among
/// `candidates` (any rows; those not visible or not matching are skipped).
/// A candidate has a's activity_type, is built-in or owned by exactly
/// `requester`, has a's region or "GLOBAL", and a unit of the same
/// dimension as a's unit. Among candidates, in order of preference:
///   1. the tenant's own over built-in;
///   2. region equal to a's over GLOBAL;
///   3. the latest valid_from not after a.period_start; if every remaining
///      candidate starts later, the earliest valid_from;
///   4. a's own unit over another unit of that dimension;
///   5. the smallest id, compared byte-wise (SQL: COLLATE "C").
/// Dates are "YYYY-MM-DD" and compare as strings. An activity unit that is
/// not in the unit table has no dimension, so no candidate matches it.
factor_choice choose_factor(const activity& a, const tenant& requester,
                            const std::vector<factor_row>& candidates);

/// The calculator's input for `a` under `choice`: the chosen factor's id,
/// scope, unit and value, or the failure code.
resolved_activity to_resolved_activity(const activity& a,
                                       const factor_choice& choice);

} // namespace ogf::domain
