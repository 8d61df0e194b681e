// Validation of everything a client sends: request bodies, headers and query
// strings, checked against CONTRACT §2 and turned into plain domain values.
// Every refusal is an input_error that names the offending field, so the HTTP
// layer only has to map it to a 400 answer.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "domain/model.hpp"
#include "domain/page_token.hpp"
#include "domain/time.hpp"

namespace ogf::domain {

// -- errors ------------------------------------------------------------------

/// Error code: the body is not JSON or not a JSON object.
inline constexpr const char* code_invalid_json = "invalid_json";
/// Error code: a field is missing, of the wrong type or out of range.
inline constexpr const char* code_validation_error = "validation_error";
/// Error code: a field (or query parameter, or CSV column) is not known.
inline constexpr const char* code_unknown_field = "unknown_field";

/// Why input was refused; becomes a 400 answer with `code`.
struct input_error {
  std::string code; ///< code_invalid_json, code_validation_error or
                    ///< code_unknown_field
  /// What is wrong, as a JSON-path-like name: "priority", "activity_ids[3]",
  /// "activities[2].quantity"; a CSV column name; "csv" for CSV syntax.
  /// Empty when the body as a whole is wrong.
  std::string field;
  /// Human text. Quotes at most a short excerpt of the input, with bytes
  /// outside printable ASCII replaced by '?', so it is always valid UTF-8.
  std::string message;
  /// Further facts as a JSON object, or null: "row", "line", "duplicates".
  nlohmann::json details;
};

/// The `details` object of the error body: {"field": field} (when field is
/// not empty) merged with e.details; null when both are empty.
nlohmann::json error_details(const input_error& e);

/// Either a value or the input_error that refused it (a small std::expected).
template <class T>
class result {
public:
  /// A success holding `value`.
  result(T value) : state_(std::move(value)) {}
  /// A failure holding `error`.
  result(input_error error) : state_(std::move(error)) {}

  /// True on success.
  bool has_value() const noexcept { return state_.index() == 0; }
  /// True on success.
  explicit operator bool() const noexcept { return has_value(); }

  /// The value; throws std::bad_variant_access on a failure.
  T& value() & { return std::get<0>(state_); }
  /// The value; throws std::bad_variant_access on a failure.
  const T& value() const& { return std::get<0>(state_); }
  /// The value, moved out; throws std::bad_variant_access on a failure.
  T&& value() && { return std::get<0>(std::move(state_)); }
  /// The value; undefined on a failure.
  T& operator*() & { return *std::get_if<0>(&state_); }
  /// The value; undefined on a failure.
  const T& operator*() const& { return *std::get_if<0>(&state_); }
  /// Member access to the value; undefined on a failure.
  T* operator->() { return std::get_if<0>(&state_); }
  /// Member access to the value; undefined on a failure.
  const T* operator->() const { return std::get_if<0>(&state_); }

  /// The error; throws std::bad_variant_access on a success.
  const input_error& error() const { return std::get<1>(state_); }

private:
  std::variant<T, input_error> state_;
};

// -- limits (CONTRACT §2)
// ------------------------------------------------------

/// Default of --max-batch-activities: ids per submitted batch.
inline constexpr int default_max_batch_activities = 10'000;
/// Most activities per POST /api/v1/activities request.
inline constexpr std::size_t max_activities_per_upsert = 10'000;
/// Most factors per PUT /api/v1/emission-factors request.
inline constexpr std::size_t max_factors_per_upsert = 1'000;
/// Largest metadata object, in bytes of its compact JSON text.
inline constexpr std::size_t max_metadata_bytes = 16 * 1024;
/// Longest emission factor source text, in Unicode code points.
inline constexpr std::size_t max_source_chars = 1'000;
/// Most digits of a decimal quantity before and after the decimal point.
inline constexpr std::size_t max_input_decimal_digits = 30;
/// Deepest nesting of arrays and objects in client JSON: whole bodies and
/// JSON text inside CSV cells. parse_json_exact (domain/exact_json.hpp),
/// which does not recurse, refuses deeper input as soon as it gets there,
/// because copying and printing JSON recurse once per level.
inline constexpr std::size_t max_json_depth = 64;

// -- single values
// -------------------------------------------------------------

/// Most nesting of arrays and objects in a JSON text, counted up to
/// `limit` + 1: a cheap scan that needs no parse (the server itself now
/// relies on parse_json_exact's own limit). Brackets inside
/// strings do not count; the text need not be valid JSON.
std::size_t json_nesting_depth(std::string_view text, std::size_t limit);

/// True for an X-Org-ID / X-Workspace-ID value: 1-64 chars of
/// `A-Z a-z 0-9 _ -`. The HTTP layer answers 401 unauthenticated otherwise.
bool validate_tenant_header(std::string_view value);

/// True for an Idempotency-Key: 1-255 chars of printable ASCII (0x20-0x7E,
/// space included). Anything else (control characters, non-ASCII bytes) is
/// refused so the key can be stored, logged and compared byte for byte.
bool validate_idempotency_key(std::string_view value);

/// True for a canonical UUID, 8-4-4-4-12 hex digits, either case.
bool is_valid_uuid(std::string_view text);

/// The UUID in lower case (as PostgreSQL prints it); nullopt when
/// !is_valid_uuid(text). A malformed batch id is a 404, not a 400.
std::optional<std::string> normalize_uuid(std::string_view text);

/// True for an activity (or factor) id: 1-128 chars of `A-Z a-z 0-9 _ . : -`.
bool is_valid_activity_id(std::string_view text);

/// True for an activity type: 1-64 chars of `a-z 0-9 _` (snake_case, like
/// the built-in factors' "natural_gas" or "air_travel_long_haul"). Lower case
/// only so that "Diesel" and "diesel" cannot name two different types.
bool is_valid_activity_type(std::string_view text);

/// True for a region: 1-32 chars of `A-Z a-z 0-9 _ -` ("GLOBAL", "US-CAMX").
bool is_valid_region(std::string_view text);

/// Exact decimal text of a non-negative quantity given as JSON:
/// - an integer: its digits, exactly;
/// - a raw number (a number with a fraction or an exponent, or beyond 64
///   bits, as parse_json_exact reads it): its exact value in plain
///   notation, with the client's digits ("12345678901234567.5" stays that,
///   "2.50" stays "2.50", "1.5e-7" becomes "0.00000015", "-0.0" becomes
///   "0.0");
/// - a double (a value built in code, not parsed by parse_json_exact): the
///   shortest decimal that reads back as the same double, in plain notation
///   ("1e-07" becomes "0.0000001", "2.50" becomes "2.5");
/// - a string: `digits` or `digits.digits` (no sign, no exponent, no
///   spaces), kept as given except that redundant leading zeros are dropped
///   ("007.50" becomes "7.50"; trailing zeros state precision and stay).
/// At most max_input_decimal_digits digits on either side of the point. nullopt
/// for anything else: negative, NaN, infinite, other types, bad strings.
std::optional<std::string> parse_non_negative_decimal(const nlohmann::json& v);

// -- request bodies
// ------------------------------------------------------------

/// Decides whether a unit name exists (domain/units.hpp provides one). An
/// empty function accepts every unit name (for tools without a unit table);
/// the server always passes one.
using unit_check = std::function<bool(std::string_view)>;

/// POST /api/v1/batches, validated.
struct submit_request {
  std::vector<std::string> activity_ids; ///< 1..max ids, distinct
  int priority = 5;                      ///< 1..10, higher runs first
  int max_retries = 3;                   ///< 0..10
  nlohmann::json metadata = nlohmann::json::object(); ///< <= 16 KiB
  /// Not claimed before this time (CONTRACT §7 scheduled batches); none:
  /// at once. A time already past is kept as given (the store makes it
  /// now), so that the request's idempotency fingerprint is the body's.
  std::optional<timestamp_us> run_after;
  /// Where to POST the batch when it ends (CONTRACT §7): an absolute http
  /// or https URL of at most 2,048 bytes (domain/callback_url.hpp).
  std::optional<std::string> callback_url;
};

/// How far ahead `run_after` may lie: 365 days. Farther is almost
/// certainly a mistake (a year typed wrong, milliseconds sent as seconds),
/// and a batch parked that long holds its tenant's quota.
inline constexpr timestamp_us max_run_after_ahead_us =
    timestamp_us{365} * 24 * 3600 * 1000000;

/// Validates a submit body (CONTRACT §2 POST /api/v1/batches). Fields:
/// activity_ids (required; 1..max_activities distinct activity ids; up to 10
/// repeated ids are listed in details.duplicates), priority (integer 1-10,
/// default 5), max_retries (integer 0-10, default `default_max_retries`),
/// metadata (object <= 16 KiB, no U+0000 in any key or string: PostgreSQL
/// cannot store it), run_after (an RFC 3339 date-time with "Z" or an
/// offset, at most max_run_after_ahead_us after `now`; earlier than now
/// means now). Integers must be JSON integers: 5.0, 5.5,
/// "5" and true are refused. An optional field given as null takes its
/// default. Fields are checked in a fixed order (unknown fields first, then
/// activity_ids, priority, max_retries, metadata, run_after, callback_url)
/// and the first problem is reported. callback_url is checked for its form
/// only; whether its target is allowed is check_callback_url's
/// (callback_url.hpp).
result<submit_request>
parse_submit_request(const nlohmann::json& body, int default_max_retries,
                     int max_activities = default_max_batch_activities,
                     timestamp_us now = now_us());

/// Validates a POST /api/v1/activities JSON body:
/// {"activities": [{"id", "activity_type", "quantity", "unit", "region",
/// "period_start", "period_end", "metadata"}]}, 1-10,000 rows.
/// Per row: id (activity id rules, unique in the request), activity_type
/// (is_valid_activity_type), quantity (parse_non_negative_decimal), unit (a
/// non-empty string of at most 32 bytes that `is_known_unit` accepts), region
/// (is_valid_region, default "GLOBAL"), period_start and period_end (dates,
/// end >= start), metadata (object <= 16 KiB without U+0000, default {}). A
/// null optional
/// field takes its default. The first bad row is reported with
/// details.row = its zero-based index and field "activities[<row>].<name>".
result<std::vector<activity>>
parse_activities_json(const nlohmann::json& body,
                      const unit_check& is_known_unit);

/// Validates a POST /api/v1/activities text/csv body with the same rules.
/// - RFC 4180: comma-separated, fields optionally in double quotes (then
///   they may hold commas, line breaks and "" for a quote); a quote inside an
///   unquoted field is refused. Records end with CRLF or LF; the last may end
///   at the end of the text. A UTF-8 byte order mark is skipped; blank lines
///   are skipped.
/// - The first record is the header: the column names of the JSON rows, in
///   any order, each at most once. region and metadata are optional columns;
///   the others are required. An unknown column is unknown_field.
/// - An empty cell means "not given": a required field is then missing, an
///   optional one takes its default. metadata cells hold JSON object text.
/// - Errors name the column in `field`; details.row is the 1-based number of
///   the data record (the header and blank lines are not counted: the first
///   record after the header is row 1) and details.line the 1-based line of
///   the text where that record starts (the header is line 1). Syntax errors
///   have field "csv".
result<std::vector<activity>>
parse_activities_csv(std::string_view csv, const unit_check& is_known_unit);

/// Validates a PUT /api/v1/emission-factors body:
/// {"factors": [{"id", "activity_type", "scope", "region", "unit",
/// "kg_co2e_per_unit", "valid_from", "source"}]}, 1-1,000 rows.
/// id (activity id rules, unique in the request), activity_type, scope
/// (integer 1, 2 or 3), region (default "GLOBAL"), unit (as for
/// activities), kg_co2e_per_unit (parse_non_negative_decimal), valid_from
/// (date), source (string of at most 1,000 code points without U+0000,
/// default "").
/// Returned factors have builtin = false. Errors as parse_activities_json,
/// with field "factors[<row>].<name>".
result<std::vector<emission_factor>>
parse_factors_json(const nlohmann::json& body, const unit_check& is_known_unit);

// -- query strings
// ---------------------------------------------------------------

/// Decoded query parameters, name -> value (cpp-httplib's Params type).
using query_params = std::multimap<std::string, std::string>;

/// GET /api/v1/batches query, validated.
struct list_query {
  std::vector<batch_status> statuses; ///< any of these; empty = every status
  std::optional<int> priority;        ///< exactly this priority
  std::optional<timestamp_us> created_after;  ///< created_at > this
  std::optional<timestamp_us> created_before; ///< created_at < this
  int limit = 20;                             ///< 1..100
  std::optional<std::string> page_token;      ///< as sent
  std::optional<batch_cursor> after;          ///< page_token, decoded
  std::optional<std::int64_t> offset;         ///< >= 0
};

/// Validates the batch-list query. status: one name or a comma-separated
/// list (the parameter may also repeat); priority: integer 1-10; created_after
/// / created_before: RFC 3339; limit: integer 1-100, default 20; page_token:
/// from a previous page; offset: integer >= 0, not together with page_token.
/// Integers are plain decimal digits (no sign, no spaces). Every parameter
/// but status may appear once. Unknown parameters are refused with
/// unknown_field rather than ignored, so a misspelt filter ("stauts=failed")
/// cannot silently return everything.
result<list_query> parse_list_query(const query_params& params);

/// GET /api/v1/batches/{id}/items query, validated.
struct items_query {
  std::optional<item_status> status;            ///< only items in this status
  int limit = 100;                              ///< 1..1000
  std::optional<std::string> page_token;        ///< as sent
  std::optional<std::string> after_activity_id; ///< page_token, decoded
};

/// Validates the items query: status (pending|succeeded|failed), limit
/// (integer 1-1000, default 100), page_token. Same rules as
/// parse_list_query for repeats and unknown parameters.
result<items_query> parse_items_query(const query_params& params);

} // namespace ogf::domain
