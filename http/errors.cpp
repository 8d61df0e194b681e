#include "http/errors.hpp"

#include "actors/messages.hpp"
#include "domain/model.hpp"

namespace ogf::http {

http_error from_engine_error(const caf::error& err, std::string_view subject,
                             std::string_view action) {
  std::string what(subject);
  switch (engine_code(err)) {
  case engine_errc::not_found:
    return {404, "not_found", what + " not found", nullptr};
  case engine_errc::invalid_state: {
    // The store names the batch's current status as the message.
    auto status = engine_message(err);
    if (!domain::parse_batch_status(status))
      return {409, "invalid_state",
              "the " + what + "'s status does not allow " + std::string(action),
              nullptr};
    return {409,
            "invalid_state",
            "the " + what + " is " + status + "; " + std::string(action) +
                " is not allowed",
            {{"status", status}}};
  }
  case engine_errc::conflict:
    return {422, "idempotency_key_reused",
            "Idempotency-Key was already used with a different request body",
            nullptr};
  case engine_errc::unavailable:
    // A write dropped at its deadline says so: a client may retry it
    // without creating a duplicate.
    if (engine_message(err) == persistence::deadline_passed_message)
      return {503, "unavailable",
              "the request waited too long; nothing was written; retry later",
              nullptr};
    return {503, "unavailable",
            "the service is temporarily unavailable; retry later", nullptr};
  case engine_errc::quota_exceeded: {
    // The store's own message (quota_message) names the limit; anything
    // else is not passed on.
    auto message = engine_message(err);
    if (message.rfind("the tenant already has ", 0) != 0)
      message = "the tenant has too many unfinished batches; submit again "
                "when some have finished";
    return {429, "quota_exceeded", message, nullptr};
  }
  case engine_errc::validation:
    return {400, "validation_error",
            "the request holds a value that cannot be stored", nullptr};
  default:
    return {500, "internal", "internal error", nullptr};
  }
}

http_error from_input_error(const domain::input_error& e) {
  return {400, e.code, e.message, domain::error_details(e)};
}

std::string code_for_status(int status) {
  switch (status) {
  case 400:
    return "bad_request";
  case 404:
    return "not_found";
  case 405:
    return "method_not_allowed";
  case 408:
    return "request_timeout";
  case 411:
    return "length_required";
  case 413:
    return "payload_too_large";
  case 414:
    return "uri_too_long";
  case 415:
    return "unsupported_media_type";
  case 416:
    return "range_not_satisfiable";
  case 431:
    return "request_header_fields_too_large";
  case 503:
    return "unavailable";
  default:
    return status >= 500 ? "internal" : "bad_request";
  }
}

} // namespace ogf::http
