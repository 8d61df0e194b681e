// Reading the API's JSON answers in the client commands: fields that may
// be missing or of another type never throw, raw numbers (exact decimals,
// domain/exact_json.hpp) read as numbers or as their text.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "client/format.hpp"
#include "client/http_client.hpp"

namespace ogf::app {

/// `j[key]` as a string; `fallback` when missing or not a string.
std::string string_field(const nlohmann::json& j, const char* key,
                         const std::string& fallback = {});

/// `j[key]` as an integer; 0 when missing or not a number.
std::int64_t int_field(const nlohmann::json& j, const char* key);

/// `j[key]` as a double (raw numbers too); 0 when missing or not a number.
double number_field(const nlohmann::json& j, const char* key);

/// `j[key]` as its JSON number text, every digit kept; "0" when missing or
/// not a number.
std::string number_text(const nlohmann::json& j, const char* key);

/// A progress view of a batch object (GET /api/v1/batches/{id}); the rate
/// of an ended batch is its average from start to end.
client::progress_view progress_of_batch(const nlohmann::json& batch);

/// Seconds from a batch object's started_at to its completed_at; nullopt
/// while either is missing or unreadable.
std::optional<double> elapsed_seconds(const nlohmann::json& batch);

/// True for a status name the API calls terminal (completed, failed,
/// cancelled).
bool is_terminal_status(const std::string& status);

/// The exit code of CONTRACT §5 for a failed request: 3 unreachable or
/// 5xx, 4 for 401/403, 5 for another 4xx.
int exit_code_of(const client::request_error& e);

} // namespace ogf::app
