// Durations as written in flags and environment variables: "250ms", "30s",
// "2m", "1h", or a bare number of seconds.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace ogf::domain {

/// Parses "<digits>[ms|s|m|h]" (no unit = seconds); nullopt for anything
/// else, including negative values and overflow beyond 30 days.
std::optional<std::chrono::milliseconds> parse_duration(std::string_view text);

/// Parses a retention window (--retention): "0" = keep forever, or
/// "<digits><unit>" with unit ms, s, m, h or d (days). The unit is
/// required: a bare "30" could mean seconds or days, and guessing wrong
/// deletes data. nullopt for anything else, including values beyond 36500
/// days. The range (0 or 1 h..36500 d) is engine_config::validate's.
std::optional<std::chrono::milliseconds> parse_retention(std::string_view text);

/// "250ms", "30s", "2m", "1h": the shortest exact spelling.
std::string format_duration(std::chrono::milliseconds d);

} // namespace ogf::domain
