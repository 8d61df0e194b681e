#include "domain/duration.hpp"

namespace ogf::domain {

namespace {

/// Digits, then a unit: ms, s, m, h, and d when `days`; no unit means
/// seconds when `bare_is_seconds`. Nothing above `max_ms`.
std::optional<std::chrono::milliseconds> digits_with_unit(std::string_view text,
                                                          long long max_ms,
                                                          bool bare_is_seconds,
                                                          bool days) {
  std::size_t i = 0;
  long long value = 0;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (text[i] - '0');
    if (value > max_ms)
      return std::nullopt;
    ++i;
  }
  if (i == 0)
    return std::nullopt;
  auto unit = text.substr(i);
  long long factor = 0;
  if (unit == "ms")
    factor = 1;
  else if (unit == "s" || (unit.empty() && bare_is_seconds))
    factor = 1000;
  else if (unit == "m")
    factor = 60 * 1000;
  else if (unit == "h")
    factor = 3600 * 1000;
  else if (unit == "d" && days)
    factor = 24 * 3600 * 1000;
  else
    return std::nullopt; // an unknown unit, or none where one is needed
  if (value > max_ms / factor)
    return std::nullopt;
  return std::chrono::milliseconds{value * factor};
}

} // namespace

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  return digits_with_unit(text, 30LL * 24 * 3600 * 1000, true, false);
}

std::optional<std::chrono::milliseconds>
parse_retention(std::string_view text) {
  if (text == "0")
    return std::chrono::milliseconds{0};
  return digits_with_unit(text, 36500LL * 24 * 3600 * 1000, false, true);
}

std::string format_duration(std::chrono::milliseconds d) {
  auto ms = d.count();
  if (ms != 0 && ms % 3600000 == 0)
    return std::to_string(ms / 3600000) + "h";
  if (ms != 0 && ms % 60000 == 0)
    return std::to_string(ms / 60000) + "m";
  if (ms % 1000 == 0)
    return std::to_string(ms / 1000) + "s";
  return std::to_string(ms) + "ms";
}

} // namespace ogf::domain
