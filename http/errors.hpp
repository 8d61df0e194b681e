// The one table from failures to HTTP answers (CONTRACT §2 "Errors").
// Handlers never pick a status for an engine error themselves.
#pragma once

#include <string>
#include <string_view>

#include <caf/error.hpp>
#include <nlohmann/json.hpp>

#include "domain/validation.hpp"

namespace ogf::http {

/// A non-2xx answer: status, error code, human message and details.
struct http_error {
  int status = 500;
  std::string code = "internal";
  /// Safe for clients: never SQL, exception text, paths or stack traces.
  std::string message = "internal error";
  nlohmann::json details; ///< an object, or null when there are none
};

/// Maps an engine failure. `subject` names the thing asked about ("batch",
/// "activity") and `action` what was tried ("cancel"), for the messages.
///
/// | engine_errc   | status | code                   |
/// |---------------|--------|------------------------|
/// | not_found     | 404    | not_found              |
/// | invalid_state | 409    | invalid_state (+ details.status) |
/// | conflict      | 422    | idempotency_key_reused |
/// | unavailable   | 503    | unavailable (+ Retry-After) |
/// | quota_exceeded| 429    | quota_exceeded (+ Retry-After) |
/// | validation    | 400    | validation_error       |
/// | anything else | 500    | internal               |
///
/// CAF's own request timeouts and dead receivers arrive as unavailable.
http_error from_engine_error(const caf::error& err, std::string_view subject,
                             std::string_view action);

/// Maps refused client input (domain/validation.hpp) to a 400.
http_error from_input_error(const domain::input_error& e);

/// Error code for a status that cpp-httplib answers by itself (malformed
/// request line, URI too long, body over the limit).
std::string code_for_status(int status);

/// Seconds a client should wait before retrying a 503.
inline constexpr int retry_after_seconds = 1;

} // namespace ogf::http
