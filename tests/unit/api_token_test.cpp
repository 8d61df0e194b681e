#include <set>

#include <catch2/catch.hpp>

#include "common/api_token.hpp"
#include "domain/api_key.hpp"

using namespace ogf;

namespace {
const std::string id16 = "0123456789abcdef";
const std::string secret64 =
    "00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff";
} // namespace

TEST_CASE("a token is ogf_, 16 hex digits, _, 64 hex digits") {
  auto t = auth::parse_token("ogf_" + id16 + "_" + secret64);
  REQUIRE(t);
  CHECK(t->key_id == id16);
  CHECK(t->secret == secret64);
  CHECK(auth::format_token(*t) == "ogf_" + id16 + "_" + secret64);
}

TEST_CASE("malformed tokens are refused") {
  auto good = "ogf_" + id16 + "_" + secret64;
  CHECK_FALSE(auth::parse_token(""));
  CHECK_FALSE(auth::parse_token("ogf_"));
  CHECK_FALSE(auth::parse_token("OGF_" + id16 + "_" + secret64));
  CHECK_FALSE(auth::parse_token("ogf_" + id16 + "-" + secret64));
  CHECK_FALSE(auth::parse_token(good + "0"));
  CHECK_FALSE(auth::parse_token(good.substr(0, good.size() - 1)));
  auto upper = good;
  upper.back() = 'F';
  CHECK_FALSE(auth::parse_token(upper));
  auto non_hex = good;
  non_hex[6] = 'g';
  CHECK_FALSE(auth::parse_token(non_hex));
  auto with_nul = good;
  with_nul[10] = '\0';
  CHECK_FALSE(auth::parse_token(with_nul));
}

TEST_CASE("an Authorization header needs the Bearer scheme and one token") {
  auto tok = "ogf_" + id16 + "_" + secret64;
  CHECK(auth::parse_authorization("Bearer " + tok));
  CHECK(auth::parse_authorization("bearer " + tok));
  CHECK(auth::parse_authorization("  BEARER \t " + tok + " "));
  CHECK_FALSE(auth::parse_authorization(tok));
  CHECK_FALSE(auth::parse_authorization("Bearer"));
  CHECK_FALSE(auth::parse_authorization("Bearer "));
  CHECK_FALSE(auth::parse_authorization("Bearer" + tok));
  CHECK_FALSE(auth::parse_authorization("Basic " + tok));
  CHECK_FALSE(auth::parse_authorization("Bearer " + tok + " " + tok));
  CHECK_FALSE(auth::parse_authorization("Bearer " + tok + ","));
}

TEST_CASE("new tokens parse back, differ, and hash to 64 hex digits") {
  std::set<std::string> seen;
  for (int i = 0; i < 100; ++i) {
    auto t = auth::new_token();
    auto text = auth::format_token(t);
    auto back = auth::parse_token(text);
    REQUIRE(back);
    CHECK(back->secret == t.secret);
    CHECK(seen.insert(text).second);
    auto h = auth::hash_secret(t.secret);
    CHECK(h.size() == 64);
    CHECK(h != t.secret);
  }
}

TEST_CASE("the secret hash is SHA-256 and compares equal only to itself") {
  // SHA-256("abc"), FIPS 180-2 appendix B.1.
  CHECK(auth::hash_secret("abc") ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  auto a = auth::hash_secret(secret64);
  auto b = auth::hash_secret(secret64 + "0");
  CHECK(auth::same_hash(a, a));
  CHECK_FALSE(auth::same_hash(a, b));
  CHECK_FALSE(auth::same_hash(a, a.substr(1)));
  CHECK_FALSE(auth::same_hash(a, ""));
}

TEST_CASE("key roles and usability") {
  CHECK(domain::parse_key_role("read") == domain::key_role::read);
  CHECK(domain::parse_key_role("write") == domain::key_role::write);
  CHECK_FALSE(domain::parse_key_role("admin"));
  CHECK_FALSE(domain::parse_key_role("Write"));
  CHECK(std::string(domain::to_string(domain::key_role::read)) == "read");
  domain::api_key k;
  CHECK(domain::key_usable(k, 1000));
  k.expires_at = 2000;
  CHECK(domain::key_usable(k, 1999));
  CHECK_FALSE(domain::key_usable(k, 2000));
  k.expires_at.reset();
  k.revoked_at = 10;
  CHECK_FALSE(domain::key_usable(k, 5));
}
