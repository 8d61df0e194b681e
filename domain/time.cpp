#include "domain/time.hpp"

#include <chrono>
#include <cstdio>

namespace ogf::domain {

namespace {

constexpr std::int64_t us_per_second = 1'000'000;
constexpr std::int64_t us_per_day = 86'400 * us_per_second;

// Howard Hinnant's days_from_civil / civil_from_days
// (http://howardhinnant.github.io/date_algorithms.html): exact for every
// year of the proleptic Gregorian calendar, no tables, no time_t.
std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2 ? 1 : 0;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const auto yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

struct civil_date {
  std::int64_t year;
  unsigned month;
  unsigned day;
};

civil_date civil_from_days(std::int64_t z) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const auto doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  return {static_cast<std::int64_t>(yoe) + era * 400 + (m <= 2 ? 1 : 0), m, d};
}

bool is_leap_year(std::int64_t y) {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

unsigned days_in_month(std::int64_t y, unsigned m) {
  static constexpr unsigned days[] = {31, 28, 31, 30, 31, 30,
                                      31, 31, 30, 31, 30, 31};
  return m == 2 && is_leap_year(y) ? 29 : days[m - 1];
}

// Reads exactly `n` ASCII digits at `pos`; nullopt if any is not a digit.
std::optional<unsigned> digits(std::string_view s, std::size_t pos,
                               std::size_t n) {
  if (pos + n > s.size())
    return std::nullopt;
  unsigned v = 0;
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9')
      return std::nullopt;
    v = v * 10 + static_cast<unsigned>(s[i] - '0');
  }
  return v;
}

// "YYYY-MM-DD" at the start of `s` (length not checked beyond 10 chars).
std::optional<civil_date> read_date(std::string_view s) {
  if (s.size() < 10 || s[4] != '-' || s[7] != '-')
    return std::nullopt;
  auto y = digits(s, 0, 4);
  auto m = digits(s, 5, 2);
  auto d = digits(s, 8, 2);
  if (!y || !m || !d || *m < 1 || *m > 12 || *d < 1 ||
      *d > days_in_month(*y, *m))
    return std::nullopt;
  return civil_date{*y, *m, *d};
}

} // namespace

std::string format_rfc3339_ms(timestamp_us t) {
  // Floor division, so that times before 1970 truncate toward the past too.
  std::int64_t days = t / us_per_day;
  std::int64_t rest = t % us_per_day;
  if (rest < 0) {
    rest += us_per_day;
    --days;
  }
  const auto date = civil_from_days(days);
  const auto ms = (rest / 1000) % 1000;
  const auto secs = rest / us_per_second;
  char buf[48];
  std::snprintf(buf, sizeof buf,
                "%04lld-%02u-%02uT%02lld:%02lld:%02lld.%03lldZ",
                static_cast<long long>(date.year), date.month, date.day,
                static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60),
                static_cast<long long>(secs % 60), static_cast<long long>(ms));
  return buf;
}

std::optional<timestamp_us> parse_rfc3339(std::string_view s) {
  // YYYY-MM-DDTHH:MM:SS is 19 characters; the shortest form adds "Z".
  if (s.size() < 20)
    return std::nullopt;
  auto date = read_date(s);
  if (!date)
    return std::nullopt;
  if (s[10] != 'T' && s[10] != 't')
    return std::nullopt;
  if (s[13] != ':' || s[16] != ':')
    return std::nullopt;
  auto hh = digits(s, 11, 2);
  auto mi = digits(s, 14, 2);
  auto ss = digits(s, 17, 2);
  if (!hh || !mi || !ss || *hh > 23 || *mi > 59 || *ss > 59)
    return std::nullopt;
  std::size_t pos = 19;
  std::int64_t fraction_us = 0;
  if (s[pos] == '.') {
    ++pos;
    std::size_t n = 0;
    std::int64_t scale = 100'000;
    while (pos < s.size() && s[pos] >= '0' && s[pos] <= '9') {
      if (++n > 9)
        return std::nullopt;
      fraction_us += (s[pos] - '0') * scale;
      scale /= 10;
      ++pos;
    }
    if (n == 0)
      return std::nullopt;
  }
  if (pos >= s.size())
    return std::nullopt;
  std::int64_t offset_minutes = 0;
  if (s[pos] == 'Z' || s[pos] == 'z') {
    ++pos;
  } else if (s[pos] == '+' || s[pos] == '-') {
    auto oh = digits(s, pos + 1, 2);
    auto om = digits(s, pos + 4, 2);
    if (!oh || !om || s[pos + 3] != ':' || *oh > 23 || *om > 59)
      return std::nullopt;
    offset_minutes =
        static_cast<std::int64_t>(*oh * 60 + *om) * (s[pos] == '-' ? -1 : 1);
    pos += 6;
  } else {
    return std::nullopt;
  }
  if (pos != s.size())
    return std::nullopt;
  const std::int64_t seconds =
      days_from_civil(date->year, date->month, date->day) * 86'400 +
      *hh * 3600 + *mi * 60 + *ss - offset_minutes * 60;
  return seconds * us_per_second + fraction_us;
}

timestamp_us now_us() {
  using namespace std::chrono;
  return duration_cast<microseconds>(system_clock::now().time_since_epoch())
      .count();
}

bool is_valid_date(std::string_view text) {
  return parse_date_days(text).has_value();
}

std::optional<std::int64_t> parse_date_days(std::string_view text) {
  if (text.size() != 10)
    return std::nullopt;
  auto date = read_date(text);
  if (!date || date->year < 1)
    return std::nullopt;
  return days_from_civil(date->year, date->month, date->day);
}

} // namespace ogf::domain
