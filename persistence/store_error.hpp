// The small error vocabulary of the engine. Every libpqxx exception is
// classified into one of these at the store boundary (store actors); nothing
// else crosses actor boundaries. http/ maps each to one HTTP status.
#pragma once

#include <cstdint>
#include <exception>
#include <stdexcept>
#include <string>
#include <vector>

namespace ogf {

/// Why an engine request failed.
enum class engine_errc : std::uint8_t {
  none = 0,
  not_found,     ///< unknown id, or another tenant's
  invalid_state, ///< the batch's status does not allow the action
  conflict,      ///< idempotency key reused with a different request
  lease_lost,    ///< the fencing token no longer holds
  unavailable,   ///< database unreachable, timed out, read-only; retryable
  validation,    ///< the database refused a value (should be caught earlier)
  internal,      ///< a bug
  /// The tenant already has as many unfinished batches (pending, queued or
  /// processing) as --max-pending-batches allows; only a submit gets it.
  quota_exceeded,
};

/// Name of a code, for logs and metrics labels.
const char* to_string(engine_errc code);

/// True for errors worth retrying with backoff.
inline bool is_transient(engine_errc code) {
  return code == engine_errc::unavailable;
}

/// Thrown inside persistence/ and caught by the owning actor.
struct store_exception : std::runtime_error {
  store_exception(engine_errc code, const std::string& what)
      : std::runtime_error(what), code(code) {}
  engine_errc code;
};

/// SQLSTATE of the pending-batch quota's refusal (the INSERT trigger of
/// migration 006).
inline constexpr const char* quota_sqlstate = "OGF01";

/// A tenant the quota refused in one statement: its unfinished batches
/// before the statement, and the limit.
struct quota_refusal {
  std::string org_id;
  std::string workspace_id;
  std::int64_t open = 0;
  std::int64_t limit = 0;
};

/// The tenants a quota refusal (`ep`, SQLSTATE quota_sqlstate) names; empty
/// for any other exception.
std::vector<quota_refusal> quota_refusals(std::exception_ptr ep);

/// The message of quota_exceeded, for logs and clients (`limit` <= 0:
/// unknown).
std::string quota_message(std::int64_t limit);

/// Classifies whatever a libpqxx call threw. `needs_reconnect` is set when
/// the connection is broken and must be replaced.
engine_errc classify_exception(std::exception_ptr ep, std::string& message,
                               bool& needs_reconnect);

/// True when `ep` says the connection broke before anything was committed
/// (pqxx::broken_connection: a read, or a transaction that never reached
/// COMMIT; a break during COMMIT is in_doubt_error instead), so the same
/// store call may run once more on a new connection without writing twice.
bool broke_before_commit(std::exception_ptr ep);

} // namespace ogf
