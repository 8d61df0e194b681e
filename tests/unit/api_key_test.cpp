// The pure parts of API keys that `keys create` and `keys list` rely on:
// status, names and lifetimes.
#include "domain/api_key.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;
using namespace std::chrono_literals;

TEST_CASE("a key is active, expired at its expiry, and revoked whatever its "
          "expiry") {
  api_key k;
  CHECK(status_at(k, 1000) == key_status::active);
  k.expires_at = 2000;
  CHECK(status_at(k, 1999) == key_status::active);
  CHECK(status_at(k, 2000) == key_status::expired);
  k.revoked_at = 10;
  CHECK(status_at(k, 5) == key_status::revoked);
  CHECK(status_at(k, 3000) == key_status::revoked);
  CHECK(std::string(to_string(key_status::active)) == "active");
  CHECK(std::string(to_string(key_status::revoked)) == "revoked");
  CHECK(std::string(to_string(key_status::expired)) == "expired");
}

TEST_CASE("a key name is up to 200 characters of UTF-8 without control "
          "characters") {
  CHECK(valid_key_name(""));
  CHECK(valid_key_name("ci deploy (prod) #1"));
  CHECK(valid_key_name(std::string(200, 'n')));
  CHECK_FALSE(valid_key_name(std::string(201, 'n')));
  // Characters, not bytes: 200 two-byte characters are fine.
  std::string umlauts;
  for (int i = 0; i < 200; ++i)
    umlauts += "\xc3\xa4";
  CHECK(valid_key_name(umlauts));
  CHECK_FALSE(valid_key_name(umlauts + "a"));
  CHECK(valid_key_name("Zürich \xe2\x82\xac \xf0\x9f\x94\x91"));
  for (std::string bad :
       {std::string("a\nb"), std::string("tab\there"), std::string("a\0b", 3),
        std::string("del\x7f"), std::string("c1 \xc2\x85"),
        std::string("esc\x1b[31m")}) {
    INFO(bad);
    CHECK_FALSE(valid_key_name(bad));
  }
  // Not UTF-8: a lone continuation byte, a cut sequence, an overlong '/',
  // a surrogate, past U+10FFFF, Latin-1.
  for (std::string bad : {"\x80", "\xe2\x82", "\xc0\xaf", "\xed\xa0\x80",
                          "\xf4\x90\x80\x80", "Z\xfcrich"}) {
    INFO(bad);
    CHECK_FALSE(valid_key_name(bad));
  }
}

TEST_CASE("a key lifetime is digits and d, h, m or s, from 1 s to 3650 "
          "days") {
  CHECK(parse_key_lifetime("90d") == std::chrono::seconds(90 * 24 * 3600));
  CHECK(parse_key_lifetime("12h") == std::chrono::seconds(12 * 3600));
  CHECK(parse_key_lifetime("30m") == std::chrono::seconds(30 * 60));
  CHECK(parse_key_lifetime("1s") == 1s);
  CHECK(parse_key_lifetime("3650d") == std::chrono::seconds(3650 * 24 * 3600));
  CHECK(parse_key_lifetime("87600h") == std::chrono::seconds(3650 * 24 * 3600));
  CHECK(parse_key_lifetime("007d") == std::chrono::seconds(7 * 24 * 3600));
  for (const char* bad :
       {"", "d", "0s", "0d", "3651d", "87601h", "99999999999d", "90", "90D",
        "1w", "-1d", "+1d", "1.5d", " 1d", "1d ", "1ms", "1h30m", "never"}) {
    INFO(bad);
    CHECK_FALSE(parse_key_lifetime(bad));
  }
}
