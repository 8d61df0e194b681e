#include "domain/time.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;

namespace {

// Reference instants computed with GNU date(1), e.g.
// `date -u -d 2026-11-28T16:04:05Z +%s`.
constexpr timestamp_us s(std::int64_t seconds) {
  return seconds * 1'000'000;
}
constexpr timestamp_us contract_example = s(1795881845) + 123'000;

} // namespace

TEST_CASE("formats UTC with milliseconds as in the contract example") {
  CHECK(format_rfc3339_ms(contract_example) == "2026-11-28T16:04:05.123Z");
  CHECK(format_rfc3339_ms(0) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(s(1709208000)) == "2024-02-29T12:00:00.000Z");
  CHECK(format_rfc3339_ms(s(951868800) - 1) == "2000-02-29T23:59:59.999Z");
  CHECK(format_rfc3339_ms(s(-2208988800)) == "1900-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(s(253402300799) + 999'999) ==
        "9999-12-31T23:59:59.999Z");
  CHECK(format_rfc3339_ms(s(-62135596800)) == "0001-01-01T00:00:00.000Z");
}

TEST_CASE("formatting truncates microseconds, toward the past before 1970") {
  CHECK(format_rfc3339_ms(999) == "1970-01-01T00:00:00.000Z");
  CHECK(format_rfc3339_ms(1'999) == "1970-01-01T00:00:00.001Z");
  CHECK(format_rfc3339_ms(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339_ms(-1'000) == "1969-12-31T23:59:59.999Z");
  CHECK(format_rfc3339_ms(-1'001) == "1969-12-31T23:59:59.998Z");
}

TEST_CASE("parses Z and numeric offsets to the same instant") {
  CHECK(parse_rfc3339("2026-11-28T16:04:05.123Z") == contract_example);
  CHECK(parse_rfc3339("2026-11-28T18:04:05.123+02:00") == contract_example);
  CHECK(parse_rfc3339("2026-11-28T10:34:05.123-05:30") == contract_example);
  CHECK(parse_rfc3339("2026-11-29T01:04:05.123+09:00") == contract_example);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.123-00:00") == contract_example);
  CHECK(parse_rfc3339("2026-11-28t16:04:05.123z") == contract_example);
}

TEST_CASE("an offset can move the instant across a leap day") {
  // 2024-03-01T01:00+02:00 is 2024-02-29T23:00Z.
  auto t = parse_rfc3339("2024-03-01T01:00:00+02:00");
  REQUIRE(t);
  CHECK(format_rfc3339_ms(*t) == "2024-02-29T23:00:00.000Z");
  CHECK(parse_rfc3339("2024-02-29T12:00:00Z") == s(1709208000));
}

TEST_CASE("parses 0 to 9 fractional digits, truncating below microseconds") {
  const auto base = s(1795881845);
  CHECK(parse_rfc3339("2026-11-28T16:04:05Z") == base);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.1Z") == base + 100'000);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.12Z") == base + 120'000);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.123456Z") == base + 123'456);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.1234569Z") == base + 123'456);
  CHECK(parse_rfc3339("2026-11-28T16:04:05.123456789Z") == base + 123'456);
  CHECK_FALSE(parse_rfc3339("2026-11-28T16:04:05.1234567891Z"));
  CHECK_FALSE(parse_rfc3339("2026-11-28T16:04:05.Z"));
}

TEST_CASE("refuses malformed and impossible date-times") {
  for (const char* bad : {
           "",
           "2026-11-28",
           "2026-11-28T16:04:05",      // no offset
           "2026-11-28 16:04:05Z",     // space instead of T
           "2026-11-28T16:04Z",        // no seconds
           "2026-11-28T24:00:00Z",     // hour 24
           "2026-11-28T16:60:00Z",     // minute 60
           "2026-11-28T16:04:60Z",     // leap second
           "2026-13-01T00:00:00Z",     // month 13
           "2026-00-01T00:00:00Z",     // month 0
           "2026-04-31T00:00:00Z",     // April has 30 days
           "2023-02-29T00:00:00Z",     // not a leap year
           "1900-02-29T00:00:00Z",     // century, not a leap year
           "2026-11-28T16:04:05+0200", // offset without colon
           "2026-11-28T16:04:05+24:00",
           "2026-11-28T16:04:05+02:60",
           "2026-11-28T16:04:05Zjunk",
           "2026-11-28T16:04:05.123+02:00 ",
           "+2026-11-28T16:04:05Z",
           "2026-1-28T16:04:05Z",
           "2026-11-28T16:04:05ZZ",
       }) {
    INFO(bad);
    CHECK_FALSE(parse_rfc3339(bad));
  }
  CHECK(parse_rfc3339("2000-02-29T00:00:00Z") == s(951868800) - s(86400));
}

TEST_CASE("format then parse round-trips at millisecond resolution") {
  for (timestamp_us t :
       {timestamp_us{0}, contract_example, s(1709208000) + 7'000,
        s(-2208988800) + 5'000, s(253402300799) + 999'000, s(-62135596800),
        timestamp_us{-1'000}}) {
    INFO(t);
    CHECK(parse_rfc3339(format_rfc3339_ms(t)) == t);
  }
  // Sub-millisecond parts are dropped by formatting, as documented.
  CHECK(parse_rfc3339(format_rfc3339_ms(contract_example + 456)) ==
        contract_example);
}

TEST_CASE("now is a plausible current time") {
  auto t = now_us();
  CHECK(t > s(1767225600)); // after 2026-01-01
  CHECK(t < s(4102444800)); // before 2100-01-01
}

TEST_CASE("dates must be YYYY-MM-DD and exist on the calendar") {
  CHECK(is_valid_date("2024-02-29"));
  CHECK(is_valid_date("2000-02-29"));
  CHECK(is_valid_date("0001-01-01"));
  CHECK(is_valid_date("9999-12-31"));
  CHECK(is_valid_date("2026-12-31"));
  CHECK_FALSE(is_valid_date("2023-02-29"));
  CHECK_FALSE(is_valid_date("1900-02-29"));
  CHECK_FALSE(is_valid_date("2026-04-31"));
  CHECK_FALSE(is_valid_date("2026-13-01"));
  CHECK_FALSE(is_valid_date("2026-00-10"));
  CHECK_FALSE(is_valid_date("2026-01-00"));
  CHECK_FALSE(is_valid_date("0000-01-01"));
  CHECK_FALSE(is_valid_date("2026-1-01"));
  CHECK_FALSE(is_valid_date("2026/01/01"));
  CHECK_FALSE(is_valid_date("2026-01-01T00:00:00Z"));
  CHECK_FALSE(is_valid_date(" 2026-01-01"));
  CHECK_FALSE(is_valid_date(""));
}

TEST_CASE("date days count from 1970-01-01") {
  CHECK(parse_date_days("1970-01-01") == 0);
  CHECK(parse_date_days("1970-01-02") == 1);
  CHECK(parse_date_days("1969-12-31") == -1);
  CHECK(parse_date_days("2024-02-29") == 1709208000 / 86400);
  CHECK_FALSE(parse_date_days("2024-02-30"));
}
