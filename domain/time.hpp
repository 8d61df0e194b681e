// Time as the API shows it: RFC 3339 UTC with milliseconds, and calendar
// dates YYYY-MM-DD. Pure arithmetic on the proleptic Gregorian calendar, no
// time zone database and no C library time functions (not thread-safe, and
// limited to time_t's range on some platforms).
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "domain/model.hpp"

namespace ogf::domain {

/// Formats `t` as RFC 3339 UTC with exactly three fractional digits, e.g.
/// "2026-11-28T16:04:05.123Z". Microseconds below the millisecond are
/// truncated toward the past (also before 1970). Meant for years 0000-9999,
/// the range RFC 3339 can express.
std::string format_rfc3339_ms(timestamp_us t);

/// Parses an RFC 3339 date-time: "YYYY-MM-DDTHH:MM:SS", then optionally "."
/// and 1-9 fractional digits (digits past the sixth are truncated), then "Z"
/// or a "+hh:mm"/"-hh:mm" offset. "T" and "Z" may be lower case (RFC 3339
/// §5.6 note). The date must exist on the calendar; leap seconds (:60) are
/// refused. nullopt for anything else.
std::optional<timestamp_us> parse_rfc3339(std::string_view text);

/// The current wall-clock time in microseconds since the Unix epoch.
timestamp_us now_us();

/// True for a real calendar date written "YYYY-MM-DD", years 0001-9999
/// (PostgreSQL's `date` has no year 0), February 29 only in leap years.
bool is_valid_date(std::string_view text);

/// Days since 1970-01-01 of a valid date (proleptic Gregorian); nullopt when
/// is_valid_date(text) is false.
std::optional<std::int64_t> parse_date_days(std::string_view text);

} // namespace ogf::domain
