#include "domain/page_token.hpp"

#include <limits>
#include <string>

#include <catch2/catch.hpp>

using namespace ogf::domain;

namespace {

const batch_cursor sample{1795881845123456,
                          "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"};

bool url_safe(const std::string& s) {
  for (char c : s)
    if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
          (c >= '0' && c <= '9') || c == '-' || c == '_'))
      return false;
  return true;
}

} // namespace

TEST_CASE("a batch page token round-trips created_at and id exactly") {
  for (timestamp_us t : {timestamp_us{0}, timestamp_us{1}, sample.created_at,
                         timestamp_us{253402300799999999}}) {
    batch_cursor c{t, sample.id};
    auto token = encode_batch_page_token(c);
    INFO(token);
    CHECK(url_safe(token));
    auto back = decode_batch_page_token(token);
    REQUIRE(back);
    CHECK(back->created_at == t);
    CHECK(back->id == sample.id);
  }
}

TEST_CASE("a batch page token normalises an upper-case id to lower case") {
  batch_cursor upper{5, "0F8B1C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D"};
  auto back = decode_batch_page_token(encode_batch_page_token(upper));
  REQUIRE(back);
  CHECK(back->id == sample.id);
}

TEST_CASE("different cursors give different tokens") {
  batch_cursor later{sample.created_at + 1, sample.id};
  CHECK(encode_batch_page_token(sample) != encode_batch_page_token(later));
}

TEST_CASE("every single-character change of a batch token is refused") {
  const auto token = encode_batch_page_token(sample);
  int refused = 0;
  int tried = 0;
  for (std::size_t i = 0; i < token.size(); ++i) {
    for (char c : {'A', 'z', '5', '_'}) {
      if (token[i] == c)
        continue;
      auto tampered = token;
      tampered[i] = c;
      ++tried;
      if (!decode_batch_page_token(tampered))
        ++refused;
    }
  }
  CHECK(tried > 100);
  CHECK(refused == tried);
}

TEST_CASE("truncated, extended and garbage tokens are refused") {
  const auto token = encode_batch_page_token(sample);
  CHECK_FALSE(decode_batch_page_token(""));
  CHECK_FALSE(decode_batch_page_token(token.substr(0, token.size() - 1)));
  CHECK_FALSE(decode_batch_page_token(token.substr(0, token.size() - 4)));
  CHECK_FALSE(decode_batch_page_token(token + "A"));
  CHECK_FALSE(decode_batch_page_token(token + "AAAA"));
  CHECK_FALSE(decode_batch_page_token(token + "="));
  CHECK_FALSE(decode_batch_page_token("not a token"));
  CHECK_FALSE(decode_batch_page_token("abc+/def"));
  CHECK_FALSE(decode_batch_page_token(std::string(300, 'A')));
  CHECK_FALSE(decode_batch_page_token(sample.id));
}

TEST_CASE("a token whose last character has unused bits set is refused") {
  // 49 token bytes end in a 1-byte group: its second character carries 4
  // unused bits. Setting one gives the same bytes in a second spelling.
  const auto token = encode_batch_page_token(sample);
  REQUIRE(token.size() % 4 == 2);
  const std::string alphabet =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  auto last = alphabet.find(token.back());
  REQUIRE(last % 16 == 0);
  auto spelling = token;
  spelling.back() = alphabet[last + 1];
  CHECK_FALSE(decode_batch_page_token(spelling));
  CHECK(decode_batch_page_token(token));
}

TEST_CASE("a batch token needs a UUID id") {
  batch_cursor not_uuid{1, "not-a-uuid"};
  CHECK_FALSE(decode_batch_page_token(encode_batch_page_token(not_uuid)));
}

TEST_CASE("an item page token round-trips the activity id") {
  for (std::string id : {std::string("a"), std::string("meter-17:2026.01_x"),
                         std::string(128, 'z')}) {
    auto token = encode_item_page_token(id);
    INFO(token);
    CHECK(url_safe(token));
    CHECK(decode_item_page_token(token) == id);
  }
}

TEST_CASE("item and batch tokens cannot be swapped") {
  CHECK_FALSE(decode_item_page_token(encode_batch_page_token(sample)));
  CHECK_FALSE(decode_batch_page_token(encode_item_page_token("meter-1")));
}

TEST_CASE("item tokens with changed characters or bad ids are refused") {
  auto token = encode_item_page_token("meter-1");
  for (std::size_t i = 0; i < token.size(); ++i) {
    auto tampered = token;
    tampered[i] = tampered[i] == 'Q' ? 'R' : 'Q';
    INFO(i);
    CHECK_FALSE(decode_item_page_token(tampered));
  }
  CHECK_FALSE(decode_item_page_token(encode_item_page_token("")));
  CHECK_FALSE(decode_item_page_token(encode_item_page_token("has space")));
  CHECK_FALSE(
      decode_item_page_token(encode_item_page_token(std::string(129, 'a'))));
}

TEST_CASE("a batch token whose timestamp no batch can have is refused, "
          "although its checksum is right") {
  // The checksum is not a secret, so anyone can seal any value: every field
  // is checked. created_at runs from the epoch to 9999-12-31T23:59:59.999999Z.
  for (timestamp_us t :
       {timestamp_us{-1}, std::numeric_limits<timestamp_us>::min(),
        timestamp_us{253402300800000000},
        timestamp_us{9'000'000'000'000'000'000},
        std::numeric_limits<timestamp_us>::max()}) {
    INFO(t);
    CHECK_FALSE(
        decode_batch_page_token(encode_batch_page_token({t, sample.id})));
  }
}
