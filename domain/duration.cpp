#include "domain/duration.hpp"

namespace ogf::domain {

std::optional<std::chrono::milliseconds> parse_duration(std::string_view text) {
  std::size_t i = 0;
  long long value = 0;
  if (text.empty())
    return std::nullopt;
  while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    value = value * 10 + (text[i] - '0');
    if (value > 30LL * 24 * 3600 * 1000)
      return std::nullopt;
    ++i;
  }
  if (i == 0)
    return std::nullopt;
  auto unit = text.substr(i);
  long long factor = 0;
  if (unit.empty() || unit == "s")
    factor = 1000;
  else if (unit == "ms")
    factor = 1;
  else if (unit == "m")
    factor = 60 * 1000;
  else if (unit == "h")
    factor = 3600 * 1000;
  else
    return std::nullopt;
  auto ms = value * factor;
  if (ms > 30LL * 24 * 3600 * 1000)
    return std::nullopt;
  return std::chrono::milliseconds{ms};
}

std::optional<std::chrono::milliseconds>
parse_retention(std::string_view text) {
  constexpr long long max_ms = 36500LL * 24 * 3600 * 1000;
  if (text == "0")
    return std::chrono::milliseconds{0};
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
  else if (unit == "s")
    factor = 1000;
  else if (unit == "m")
    factor = 60 * 1000;
  else if (unit == "h")
    factor = 3600 * 1000;
  else if (unit == "d")
    factor = 24 * 3600 * 1000;
  else
    return std::nullopt; // no unit, or an unknown one
  if (value > max_ms / factor)
    return std::nullopt;
  return std::chrono::milliseconds{value * factor};
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
