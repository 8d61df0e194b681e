#include "domain/duration.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;
using namespace std::chrono_literals;

TEST_CASE("durations accept ms, s, m, h and bare seconds") {
  CHECK(parse_duration("250ms") == 250ms);
  CHECK(parse_duration("30s") == 30s);
  CHECK(parse_duration("2m") == 120s);
  CHECK(parse_duration("1h") == 3600s);
  CHECK(parse_duration("5") == 5s);
  CHECK(parse_duration("0s") == 0ms);
}

TEST_CASE("durations refuse signs, spaces, unknown units and overflow") {
  CHECK_FALSE(parse_duration(""));
  CHECK_FALSE(parse_duration("-1s"));
  CHECK_FALSE(parse_duration("1.5s"));
  CHECK_FALSE(parse_duration(" 1s"));
  CHECK_FALSE(parse_duration("1d"));
  CHECK_FALSE(parse_duration("s"));
  CHECK_FALSE(parse_duration("99999999999999999999s"));
  CHECK_FALSE(parse_duration("31d"));
  CHECK_FALSE(parse_duration("721h")); // over 30 days
}

TEST_CASE("durations format to the shortest exact spelling and round-trip") {
  CHECK(format_duration(30s) == "30s");
  CHECK(format_duration(250ms) == "250ms");
  CHECK(format_duration(120s) == "2m");
  CHECK(format_duration(3600s) == "1h");
  CHECK(format_duration(1500ms) == "1500ms");
  for (auto d : {1ms, 999ms, 1000ms, 61000ms, 7200000ms})
    CHECK(parse_duration(format_duration(d)) == d);
}

TEST_CASE("retention windows accept 0 and numbers with ms, s, m, h or d") {
  CHECK(parse_retention("0") == 0ms);
  CHECK(parse_retention("30d") == 30 * 24h);
  CHECK(parse_retention("12h") == 12h);
  CHECK(parse_retention("90m") == 90min);
  CHECK(parse_retention("3600s") == 1h);
  CHECK(parse_retention("36500d") == 36500 * 24h);
  CHECK(parse_retention("2555d") == 2555 * 24h); // seven years of audits
}

TEST_CASE("retention windows refuse a bare number, signs, spaces, unknown "
          "units and more than 36500 days") {
  CHECK_FALSE(parse_retention(""));
  CHECK_FALSE(parse_retention("30")); // seconds or days? never guessed
  CHECK_FALSE(parse_retention("-1d"));
  CHECK_FALSE(parse_retention("1.5d"));
  CHECK_FALSE(parse_retention(" 30d"));
  CHECK_FALSE(parse_retention("30d "));
  CHECK_FALSE(parse_retention("4w"));
  CHECK_FALSE(parse_retention("d"));
  CHECK_FALSE(parse_retention("00"));
  CHECK_FALSE(parse_retention("36501d"));
  CHECK_FALSE(parse_retention("876001h"));
  CHECK_FALSE(parse_retention("99999999999999999999d"));
}
