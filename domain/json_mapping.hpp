// The JSON the API answers with (CONTRACT §2): one function per object, so
// that every endpoint, the event stream and embedders show the same fields.
// Decimal texts become JSON numbers with every digit (raw numbers, printed
// by dump_exact in domain/exact_json.hpp); times become RFC 3339 UTC strings
// with milliseconds; absent optional values become null.
#pragma once

#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/exact_json.hpp"
#include "domain/model.hpp"
#include "domain/time.hpp"
#include "domain/validation.hpp"

namespace ogf::domain {

/// The batch object: id, org_id, workspace_id, status, priority, max_retries,
/// retry_count, total_activities, processed_activities, succeeded_activities,
/// failed_activities, progress_percent, total_emissions_kg_co2e,
/// cancel_requested, error, metadata, idempotency_key, created_at,
/// updated_at, started_at, completed_at; and callback ({url, status,
/// attempts, last_error}) only when the batch has a callback URL.
nlohmann::json to_json(const batch& b);

/// An item of GET /batches/{id}/items: activity_id, status, scope,
/// emissions_kg_co2e, factor_id, error, attempts, processed_at.
nlohmann::json to_json(const batch_item& item);

/// The progress object: batch_id, status, total, processed, succeeded,
/// failed, remaining, percent, emissions_kg_co2e, throughput_per_second,
/// eta_seconds, started_at, updated_at. Rates and ETA are rounded to 2
/// decimals; started_at is null until a worker first starts the batch.
nlohmann::json to_json(const batch_progress& p);

/// GET /batch-counts: {"counts": {each of the six statuses: n}, "total"}.
nlohmann::json to_json(const batch_counts& c);

/// GET /batches/{id}/emissions: {"batch_id", "scopes": [{"scope",
/// "items", "emissions_kg_co2e"} for scopes 1, 2 and 3],
/// "total_emissions_kg_co2e"}; exact decimals, a scope without items 0.
nlohmann::json to_json(const batch_emissions& e);

/// An activity and its latest result: id, activity_type, quantity, unit,
/// region, period_start, period_end, metadata, emissions_kg_co2e, scope,
/// factor_id, calculated_at (the last four null until calculated).
nlohmann::json to_json(const activity& a);

/// An emission factor: id, activity_type, scope, region, unit,
/// kg_co2e_per_unit, valid_from, source, builtin.
nlohmann::json to_json(const emission_factor& f);

/// Percentage of `processed` in `total`, 0-100, rounded to 2 decimals. A
/// batch with nothing to do counts as 100 % once completed, else 0 %.
double progress_percent(std::int64_t processed, std::int64_t total,
                        batch_status status);

/// A decimal text (as stored, e.g. PostgreSQL numeric output) as a JSON
/// number with exactly its digits: a raw number (domain/exact_json.hpp), so
/// print answers with dump_exact. Redundant leading zeros are dropped
/// ("007.50" gives 7.50); trailing zeros stay. null for text that is not a
/// number ("NaN", "").
nlohmann::json decimal_to_json(std::string_view text);

/// The error body every non-2xx answer has:
/// {"error": {"code", "message", "details" (omitted when null), "timestamp"}}.
nlohmann::json error_body(std::string_view code, std::string_view message,
                          const nlohmann::json& details = nullptr,
                          timestamp_us at = now_us());

/// The error body of a refused input: its code, message and
/// error_details(e).
nlohmann::json error_body(const input_error& e, timestamp_us at = now_us());

} // namespace ogf::domain
