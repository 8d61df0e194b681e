// Plain value types of the batch engine's domain. No I/O, no actors: these are
// what the store returns, what actors exchange and what the HTTP layer maps
// to JSON.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace ogf::domain {

/// Microseconds since the Unix epoch, UTC. PostgreSQL's timestamptz has
/// microsecond resolution, so this round-trips exactly (keyset pagination
/// depends on that).
using timestamp_us = std::int64_t;

/// The tenant every request is scoped to: an (org, workspace) pair.
struct tenant {
  std::string org_id;
  std::string workspace_id;
};

inline bool operator==(const tenant& a, const tenant& b) {
  return a.org_id == b.org_id && a.workspace_id == b.workspace_id;
}

/// Life of a batch: pending -> queued -> processing -> completed | failed |
/// cancelled; retry takes failed/cancelled back to pending.
enum class batch_status {
  pending,
  queued,
  processing,
  completed,
  failed,
  cancelled
};

/// Per-activity state inside a batch.
enum class item_status { pending, succeeded, failed };

/// Where a batch's completion callback stands (CONTRACT §7): the
/// delivery of the batch's latest end. Before the batch ends: pending, 0
/// attempts, no error.
struct batch_callback {
  std::string url;
  std::string status = "pending"; ///< pending, delivered or failed
  int attempts = 0;               ///< attempts made so far
  std::optional<std::string> last_error;
};

/// A batch as stored (the CONTRACT §2 batch object).
struct batch {
  std::string id; ///< UUID, lower case with dashes
  tenant owner;
  batch_status status = batch_status::pending;
  int priority = 5;    ///< 1..10, higher runs first
  int max_retries = 3; ///< 0..10
  int retry_count = 0;
  std::int64_t total_activities = 0;
  std::int64_t processed_activities = 0;
  std::int64_t succeeded_activities = 0;
  std::int64_t failed_activities = 0;
  std::string total_emissions_kg_co2e = "0"; ///< exact decimal text
  bool cancel_requested = false;
  std::optional<std::string> error;
  nlohmann::json metadata = nlohmann::json::object();
  std::optional<std::string> idempotency_key;
  timestamp_us created_at = 0;
  timestamp_us updated_at = 0;
  std::optional<timestamp_us> started_at;
  std::optional<timestamp_us> completed_at;
  /// Earliest time the batch may be claimed: its submit time, the time it
  /// was scheduled for (`run_after` on submit), or the end of a retry
  /// backoff.
  timestamp_us run_after = 0;
  /// Set when the batch was submitted with a callback_url (CONTRACT §7).
  std::optional<batch_callback> callback;
};

/// One activity's result inside a batch.
struct batch_item {
  std::string activity_id;
  item_status status = item_status::pending;
  std::optional<int> scope;
  std::optional<std::string> emissions_kg_co2e; ///< exact decimal text
  std::optional<std::string> factor_id;
  std::optional<std::string> error; ///< failure code, e.g. no_emission_factor
  int attempts = 0;
  std::optional<timestamp_us> processed_at;
};

/// A tenant's batches by status (GET /api/v1/batch-counts); a status
/// without batches has no entry.
struct batch_counts {
  std::vector<std::pair<batch_status, std::int64_t>> by_status;
};

/// A batch's succeeded items of one scope and their emissions.
struct scope_emissions {
  int scope = 1; ///< 1..3
  std::int64_t items = 0;
  std::string emissions_kg_co2e = "0"; ///< exact decimal text
};

/// A batch's emissions by scope (GET /api/v1/batches/{id}/emissions); a
/// scope without succeeded items has no entry.
struct batch_emissions {
  std::string batch_id;
  std::vector<scope_emissions> scopes;
};

/// Live progress of a batch (CONTRACT §2 progress object).
struct batch_progress {
  std::string batch_id;
  batch_status status = batch_status::pending;
  std::int64_t total = 0;
  std::int64_t processed = 0;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::string emissions_kg_co2e = "0";
  double throughput_per_second = 0;  ///< items/s over a moving window
  std::optional<double> eta_seconds; ///< null when unknown
  std::optional<timestamp_us> started_at;
  timestamp_us updated_at = 0;
};

/// A customer activity (fuel burnt, electricity used, distance travelled).
struct activity {
  std::string id;
  std::string activity_type;
  std::string quantity; ///< exact decimal text, >= 0
  std::string unit;     ///< a known unit name (see units.hpp)
  std::string region = "GLOBAL";
  std::string period_start; ///< YYYY-MM-DD
  std::string period_end;   ///< YYYY-MM-DD
  nlohmann::json metadata = nlohmann::json::object();
  // Latest calculated result (null until processed).
  std::optional<std::string> emissions_kg_co2e;
  std::optional<int> scope;
  std::optional<std::string> factor_id;
  std::optional<timestamp_us> calculated_at;
};

/// An emission factor: built-in (no tenant) or a tenant's own.
struct emission_factor {
  std::string id;
  std::string activity_type;
  int scope = 1; ///< 1, 2 or 3
  std::string region = "GLOBAL";
  std::string unit;
  std::string kg_co2e_per_unit; ///< exact decimal text
  std::string valid_from;       ///< YYYY-MM-DD
  std::string source;
  bool builtin = true;
};

} // namespace ogf::domain

namespace ogf::domain {

/// "pending", "queued", ... as in the CONTRACT and the database.
const char* to_string(batch_status s);
const char* to_string(item_status s);

/// Parses a status name; nullopt for anything else (case-exact).
std::optional<batch_status> parse_batch_status(std::string_view text);
std::optional<item_status> parse_item_status(std::string_view text);

/// True for completed, failed and cancelled.
bool is_terminal(batch_status s);

} // namespace ogf::domain

namespace ogf::domain {

/// What GET /batches may filter on, already validated. Keyset pagination:
/// `after` is the (created_at, id) of the last batch of the previous page.
struct batch_filter {
  std::vector<batch_status> statuses; ///< empty = any
  std::optional<int> priority;
  std::optional<timestamp_us> created_after;  ///< exclusive
  std::optional<timestamp_us> created_before; ///< exclusive
  int limit = 20;                             ///< 1..100
  std::optional<std::pair<timestamp_us, std::string>> after;
  std::int64_t offset = 0;
};

/// What GET /batches/{id}/items may filter on; keyset by activity_id.
struct item_filter {
  std::optional<item_status> status;
  int limit = 100; ///< 1..1000
  std::optional<std::string> after_activity_id;
};

} // namespace ogf::domain
