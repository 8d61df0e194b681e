// Submit bodies, headers, ids and decimals (CONTRACT §2).
#include "domain/validation.hpp"

#include <cmath>
#include <string>

#include "domain/exact_json.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;
using json = nlohmann::json;

namespace {

json with_ids(json body = json::object()) {
  body["activity_ids"] = {"a"};
  return body;
}

json ids(std::size_t n) {
  json out = json::array();
  for (std::size_t i = 0; i < n; ++i)
    out.push_back("act-" + std::to_string(i));
  return out;
}

// A metadata object whose compact dump is exactly `bytes` long.
json metadata_of_size(std::size_t bytes) {
  // {"k":"..."} is 8 bytes plus the value.
  return {{"k", std::string(bytes - 8, 'x')}};
}

template <class T>
void require_error(const result<T>& r, const char* code,
                   const std::string& field) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK(r.error().field == field);
  CHECK_FALSE(r.error().message.empty());
}

} // namespace

TEST_CASE("a minimal submit takes the defaults") {
  auto r = parse_submit_request(with_ids(), 7);
  REQUIRE(r);
  CHECK(r->activity_ids == std::vector<std::string>{"a"});
  CHECK(r->priority == 5);
  CHECK(r->max_retries == 7);
  CHECK(r->metadata == json::object());
}

TEST_CASE("a full submit keeps every field") {
  json body = {{"activity_ids", {"x:1", "y.2", "Z_3-"}},
               {"priority", 9},
               {"max_retries", 0},
               {"metadata", {{"team", "ops"}, {"n", {1, 2}}}}};
  auto r = parse_submit_request(body, 3);
  REQUIRE(r);
  CHECK(r->activity_ids == std::vector<std::string>{"x:1", "y.2", "Z_3-"});
  CHECK(r->priority == 9);
  CHECK(r->max_retries == 0);
  CHECK(r->metadata == body["metadata"]);
}

TEST_CASE("a submit body that is not an object is invalid_json") {
  for (const json& body :
       {json::array({"a"}), json("a"), json(1), json(nullptr), json(true)}) {
    INFO(body.dump());
    require_error(parse_submit_request(body, 3), code_invalid_json, "");
  }
}

TEST_CASE("an unknown submit field is unknown_field naming it") {
  auto body = with_ids({{"priorty", 3}});
  auto r = parse_submit_request(body, 3);
  require_error(r, code_unknown_field, "priorty");
  CHECK(error_details(r.error()) == json{{"field", "priorty"}});
}

TEST_CASE("a huge unknown field name is not echoed in full") {
  auto body = with_ids({{std::string(10'000, 'q'), 1}});
  auto r = parse_submit_request(body, 3);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code_unknown_field);
  CHECK(r.error().field.size() <= 70);
  CHECK(r.error().message.size() < 200);
}

TEST_CASE("activity_ids is required and must be an array") {
  require_error(parse_submit_request(json::object(), 3), code_validation_error,
                "activity_ids");
  require_error(parse_submit_request({{"activity_ids", nullptr}}, 3),
                code_validation_error, "activity_ids");
  for (const json& bad : {json("a"), json(1), json({{"a", 1}}), json(true)}) {
    INFO(bad.dump());
    require_error(parse_submit_request({{"activity_ids", bad}}, 3),
                  code_validation_error, "activity_ids");
  }
}

TEST_CASE("activity_ids holds 1 to max ids") {
  require_error(parse_submit_request({{"activity_ids", ids(0)}}, 3),
                code_validation_error, "activity_ids");
  auto one = parse_submit_request({{"activity_ids", ids(1)}}, 3);
  REQUIRE(one);
  CHECK(one->activity_ids.size() == 1);
  auto max = parse_submit_request({{"activity_ids", ids(10'000)}}, 3);
  REQUIRE(max);
  CHECK(max->activity_ids.size() == 10'000);
  CHECK(max->activity_ids.back() == "act-9999");
  require_error(parse_submit_request({{"activity_ids", ids(10'001)}}, 3),
                code_validation_error, "activity_ids");
}

TEST_CASE("the activity limit follows --max-batch-activities") {
  CHECK(parse_submit_request({{"activity_ids", ids(3)}}, 3, 3));
  require_error(parse_submit_request({{"activity_ids", ids(4)}}, 3, 3),
                code_validation_error, "activity_ids");
}

TEST_CASE("each activity id must be a string of the id characters") {
  for (const json& bad :
       {json(1), json(nullptr), json(true), json::object(), json(""),
        json(std::string(129, 'a')), json("a b"), json("a/b"), json("a#b"),
        json("caf\xc3\xa9"), json("a+b"), json("a,b")}) {
    INFO(bad.dump());
    json body = {{"activity_ids", {"ok-0", "ok-1", bad}}};
    auto r = parse_submit_request(body, 3);
    require_error(r, code_validation_error, "activity_ids[2]");
  }
  auto longest = parse_submit_request(
      {{"activity_ids", {std::string(128, 'a'), "A-Za-z0-9_.:-"}}}, 3);
  REQUIRE(longest);
  CHECK(longest->activity_ids[0].size() == 128);
}

TEST_CASE("a bad id's message does not echo a huge input") {
  json body = {{"activity_ids", {std::string(100'000, '!')}}};
  auto r = parse_submit_request(body, 3);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.size() < 200);
}

TEST_CASE("duplicate activity ids are refused and listed") {
  json body = {{"activity_ids", {"a", "b", "a", "c", "b", "a"}}};
  auto r = parse_submit_request(body, 3);
  require_error(r, code_validation_error, "activity_ids");
  CHECK(r.error().details["duplicates"] == json{"a", "b"});
  CHECK(r.error().details["duplicate_count"] == 2);
  CHECK(error_details(r.error())["field"] == "activity_ids");
}

TEST_CASE("at most 10 duplicates are listed") {
  json list = json::array();
  for (int i = 0; i < 15; ++i) {
    list.push_back("d" + std::to_string(i));
    list.push_back("d" + std::to_string(i));
  }
  auto r = parse_submit_request({{"activity_ids", list}}, 3);
  REQUIRE_FALSE(r);
  CHECK(r.error().details["duplicates"].size() == 10);
  CHECK(r.error().details["duplicates"][0] == "d0");
  CHECK(r.error().details["duplicate_count"] == 15);
}

TEST_CASE("priority is an integer from 1 to 10") {
  for (int ok : {1, 5, 10}) {
    auto r = parse_submit_request(with_ids({{"priority", ok}}), 3);
    REQUIRE(r);
    CHECK(r->priority == ok);
  }
  for (const json& bad :
       {json(0), json(11), json(-1), json(5.5), json(5.0), json("5"),
        json(true), json::array({5}), json::object(),
        json(std::uint64_t{18446744073709551615u}),
        json(std::int64_t{-9223372036854775807 - 1})}) {
    INFO(bad.dump());
    require_error(parse_submit_request(with_ids({{"priority", bad}}), 3),
                  code_validation_error, "priority");
  }
  auto null_priority =
      parse_submit_request(with_ids({{"priority", nullptr}}), 3);
  REQUIRE(null_priority);
  CHECK(null_priority->priority == 5);
}

TEST_CASE("a float priority written in the body is refused") {
  auto r = parse_submit_request(
      json::parse(R"({"activity_ids": ["a"], "priority": 5.0})"), 3);
  require_error(r, code_validation_error, "priority");
}

TEST_CASE("max_retries is an integer from 0 to 10") {
  for (int ok : {0, 1, 10}) {
    auto r = parse_submit_request(with_ids({{"max_retries", ok}}), 3);
    REQUIRE(r);
    CHECK(r->max_retries == ok);
  }
  for (const json& bad :
       {json(-1), json(11), json(2.5), json("3"), json(false), json::array()}) {
    INFO(bad.dump());
    require_error(parse_submit_request(with_ids({{"max_retries", bad}}), 3),
                  code_validation_error, "max_retries");
  }
}

TEST_CASE("metadata is an object of at most 16 KiB") {
  auto fits = metadata_of_size(16 * 1024);
  REQUIRE(fits.dump().size() == 16 * 1024);
  auto r = parse_submit_request(with_ids({{"metadata", fits}}), 3);
  REQUIRE(r);
  CHECK(r->metadata == fits);
  require_error(
      parse_submit_request(
          with_ids({{"metadata", metadata_of_size(16 * 1024 + 1)}}), 3),
      code_validation_error, "metadata");
  for (const json& bad : {json::array(), json("x"), json(1), json(true)}) {
    INFO(bad.dump());
    require_error(parse_submit_request(with_ids({{"metadata", bad}}), 3),
                  code_validation_error, "metadata");
  }
  auto empty =
      parse_submit_request(with_ids({{"metadata", json::object()}}), 3);
  REQUIRE(empty);
  CHECK(empty->metadata == json::object());
}

TEST_CASE("tenant header values are 1-64 chars of A-Z a-z 0-9 _ -") {
  CHECK(validate_tenant_header("a"));
  CHECK(validate_tenant_header("Org_1-x"));
  CHECK(validate_tenant_header(std::string(64, 'o')));
  CHECK_FALSE(validate_tenant_header(""));
  CHECK_FALSE(validate_tenant_header(std::string(65, 'o')));
  for (const char* bad : {"a b", "a.b", "a:b", "a/b", "caf\xc3\xa9", "a\tb"}) {
    INFO(bad);
    CHECK_FALSE(validate_tenant_header(bad));
  }
}

TEST_CASE("idempotency keys are 1-255 chars of printable ASCII") {
  CHECK(validate_idempotency_key("k"));
  CHECK(validate_idempotency_key("order 17 / retry #2 ~!"));
  CHECK(validate_idempotency_key(std::string(255, 'k')));
  CHECK_FALSE(validate_idempotency_key(""));
  CHECK_FALSE(validate_idempotency_key(std::string(256, 'k')));
  CHECK_FALSE(validate_idempotency_key("a\tb"));
  CHECK_FALSE(validate_idempotency_key("a\nb"));
  CHECK_FALSE(validate_idempotency_key("a\x7f"));
  CHECK_FALSE(validate_idempotency_key("caf\xc3\xa9"));
}

TEST_CASE("UUIDs are 8-4-4-4-12 hex digits in either case") {
  CHECK(is_valid_uuid("0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d"));
  CHECK(is_valid_uuid("0F8B1C2D-3E4F-4A5B-8C6D-7E8F9A0B1C2D"));
  CHECK(normalize_uuid("0F8B1C2D-3e4f-4A5B-8c6d-7E8F9A0B1C2D") ==
        "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d");
  for (const char* bad :
       {"", "0f8b1c2d3e4f4a5b8c6d7e8f9a0b1c2d",
        "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2",
        "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d0",
        "0f8b1c2d-3e4f-4a5b-8c6d7-e8f9a0b1c2d",
        "0f8b1c2g-3e4f-4a5b-8c6d-7e8f9a0b1c2d",
        "{0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c}", "not-a-uuid"}) {
    INFO(bad);
    CHECK_FALSE(is_valid_uuid(bad));
    CHECK_FALSE(normalize_uuid(bad));
  }
}

TEST_CASE("activity ids, types and regions follow their character rules") {
  CHECK(is_valid_activity_id("a"));
  CHECK(is_valid_activity_id(std::string(128, 'a')));
  CHECK_FALSE(is_valid_activity_id(""));
  CHECK_FALSE(is_valid_activity_id(std::string(129, 'a')));
  CHECK(is_valid_activity_type("natural_gas"));
  CHECK(is_valid_activity_type("fuel_oil_2"));
  CHECK(is_valid_activity_type(std::string(64, 't')));
  CHECK_FALSE(is_valid_activity_type(""));
  CHECK_FALSE(is_valid_activity_type(std::string(65, 't')));
  CHECK_FALSE(is_valid_activity_type("Natural_gas"));
  CHECK_FALSE(is_valid_activity_type("natural-gas"));
  CHECK_FALSE(is_valid_activity_type("natural gas"));
  CHECK(is_valid_region("GLOBAL"));
  CHECK(is_valid_region("US-CAMX"));
  CHECK(is_valid_region("r_1"));
  CHECK(is_valid_region(std::string(32, 'R')));
  CHECK_FALSE(is_valid_region(""));
  CHECK_FALSE(is_valid_region(std::string(33, 'R')));
  CHECK_FALSE(is_valid_region("US CAMX"));
  CHECK_FALSE(is_valid_region("US.CAMX"));
}

TEST_CASE("integer quantities keep their exact digits") {
  CHECK(parse_non_negative_decimal(json(0)) == "0");
  CHECK(parse_non_negative_decimal(json(42)) == "42");
  CHECK(parse_non_negative_decimal(json(
            std::uint64_t{18446744073709551615u})) == "18446744073709551615");
  CHECK(parse_non_negative_decimal(json::parse("9007199254740993")) ==
        "9007199254740993");
  CHECK_FALSE(parse_non_negative_decimal(json(-1)));
}

TEST_CASE("float quantities become the shortest plain decimal") {
  CHECK(parse_non_negative_decimal(json::parse("2.5")) == "2.5");
  CHECK(parse_non_negative_decimal(json::parse("2.50")) == "2.5");
  CHECK(parse_non_negative_decimal(json::parse("0.1")) == "0.1");
  CHECK(parse_non_negative_decimal(json::parse("100.0")) == "100");
  CHECK(parse_non_negative_decimal(json::parse("1e-7")) == "0.0000001");
  CHECK(parse_non_negative_decimal(json::parse("1.5E+20")) ==
        "150000000000000000000");
  CHECK(parse_non_negative_decimal(json::parse("123456.789012345")) ==
        "123456.789012345");
  CHECK(parse_non_negative_decimal(json::parse("0.30000000000000004")) ==
        "0.30000000000000004");
  CHECK(parse_non_negative_decimal(json::parse("-0.0")) == "0");
  CHECK(parse_non_negative_decimal(json::parse("1e29")) ==
        "1" + std::string(29, '0'));
  CHECK(parse_non_negative_decimal(json::parse("1e-30")) ==
        "0." + std::string(29, '0') + "1");
  CHECK_FALSE(parse_non_negative_decimal(json::parse("1e30")));
  CHECK_FALSE(parse_non_negative_decimal(json::parse("1e-31")));
  CHECK_FALSE(parse_non_negative_decimal(json::parse("-2.5")));
  CHECK_FALSE(parse_non_negative_decimal(json(std::nan(""))));
  CHECK_FALSE(parse_non_negative_decimal(json(1.0 / 0.0)));
}

TEST_CASE("decimal strings are kept, minus redundant leading zeros") {
  CHECK(parse_non_negative_decimal(json("12.50")) == "12.50");
  CHECK(parse_non_negative_decimal(json("0")) == "0");
  CHECK(parse_non_negative_decimal(json("0.5")) == "0.5");
  CHECK(parse_non_negative_decimal(json("007.5")) == "7.5");
  CHECK(parse_non_negative_decimal(json("000")) == "0");
  CHECK(parse_non_negative_decimal(json("00.25")) == "0.25");
  CHECK(parse_non_negative_decimal(json(std::string(40, '0') + "1")) == "1");
  CHECK(parse_non_negative_decimal(json(std::string(30, '9'))) ==
        std::string(30, '9'));
  CHECK(parse_non_negative_decimal(json("0." + std::string(30, '1'))));
  CHECK_FALSE(parse_non_negative_decimal(json(std::string(31, '9'))));
  CHECK_FALSE(parse_non_negative_decimal(json("0." + std::string(31, '1'))));
  for (const char* bad : {"", ".5", "5.", "-1", "+1", "1e3", " 1", "1 ", "1,5",
                          "1.2.3", "abc", "NaN", "0x10"}) {
    INFO(bad);
    CHECK_FALSE(parse_non_negative_decimal(json(bad)));
  }
}

TEST_CASE("quantities of other JSON types are refused") {
  CHECK_FALSE(parse_non_negative_decimal(json(nullptr)));
  CHECK_FALSE(parse_non_negative_decimal(json(true)));
  CHECK_FALSE(parse_non_negative_decimal(json::array({1})));
  CHECK_FALSE(parse_non_negative_decimal(json::object()));
}

TEST_CASE("error details merge the field with the extra facts") {
  input_error e{
      code_validation_error, "activities[2].unit", "bad", {{"row", 2}}};
  CHECK(error_details(e) == json{{"field", "activities[2].unit"}, {"row", 2}});
  input_error whole{code_invalid_json, "", "not an object", nullptr};
  CHECK(error_details(whole).is_null());
}

TEST_CASE("integer ranges hold for integers parsed from JSON text") {
  // The parser stores non-negative integers as unsigned; check that path.
  auto parse = [](const std::string& field, const std::string& value) {
    return parse_submit_request(json::parse(R"({"activity_ids": ["a"], ")" +
                                            field + "\": " + value + "}"),
                                3);
  };
  auto top = parse("priority", "10");
  REQUIRE(top);
  CHECK(top->priority == 10);
  require_error(parse("priority", "11"), code_validation_error, "priority");
  require_error(parse("priority", "0"), code_validation_error, "priority");
  require_error(parse("priority", "-0"), code_validation_error, "priority");
  auto zero = parse("max_retries", "0");
  REQUIRE(zero);
  CHECK(zero->max_retries == 0);
  require_error(parse("max_retries", "11"), code_validation_error,
                "max_retries");
  require_error(parse("max_retries", "4294967297"), code_validation_error,
                "max_retries");
}

TEST_CASE("U+0000 anywhere in submit metadata is refused naming metadata") {
  const std::string nul(1, '\0');
  for (const json& metadata :
       {json{{"k", "a" + nul}}, json{{nul, 1}},
        json{{"list", json::array({json::object({{"x", nul}})})}}}) {
    INFO(metadata.dump());
    require_error(parse_submit_request(with_ids({{"metadata", metadata}}), 3),
                  code_validation_error, "metadata");
  }
}

TEST_CASE("quantities parsed from JSON text keep the client's digits") {
  auto quantity = [](const std::string& text) {
    auto v = parse_json_exact(text);
    REQUIRE(v);
    return parse_non_negative_decimal(*v);
  };
  // Issue 18: the nearest double is 12345678901234568.
  CHECK(quantity("12345678901234567.5") == "12345678901234567.5");
  CHECK(quantity("999999999999.999999") == "999999999999.999999");
  CHECK(quantity("2.50") == "2.50");
  CHECK(quantity("0.1") == "0.1");
  CHECK(quantity("1e-7") == "0.0000001");
  CHECK(quantity("1.5E+20") == "150000000000000000000");
  CHECK(quantity("-0.0") == "0.0");
  CHECK(quantity("0e5") == "0");
  CHECK(quantity("123456789012345678901234567890") ==
        "123456789012345678901234567890");
  CHECK(quantity("0." + std::string(29, '0') + "1") ==
        "0." + std::string(29, '0') + "1");
  CHECK_FALSE(quantity("1e30"));
  CHECK_FALSE(quantity("1e-31"));
  CHECK_FALSE(quantity("1234567890123456789012345678901"));
  CHECK_FALSE(quantity("-2.5"));
  CHECK_FALSE(quantity("-1e-9"));
  // Exponents a double underflows to zero are refused, not expanded.
  CHECK_FALSE(quantity("1e-99999999999999999999"));
  CHECK_FALSE(quantity("1e-400"));
}

TEST_CASE("integer fields refuse raw numbers as they refuse doubles") {
  for (const char* priority :
       {"5.0", "1e0", "99999999999999999999999", "-99999999999999999999999"}) {
    INFO(priority);
    auto body = parse_json_exact(
        std::string(R"({"activity_ids": ["a"], "priority": )") + priority +
        "}");
    REQUIRE(body);
    require_error(parse_submit_request(*body, 3), code_validation_error,
                  "priority");
  }
}

TEST_CASE("metadata numbers keep their digits and count with their text") {
  auto body = parse_json_exact(
      R"({"activity_ids": ["a"], "metadata": {"n": 123456789012345678901234567890, "x": 1.50}})");
  REQUIRE(body);
  auto r = parse_submit_request(*body, 3);
  REQUIRE(r);
  CHECK(dump_exact(r->metadata) ==
        R"({"n":123456789012345678901234567890,"x":1.50})");
  // 16 KiB of raw numbers as printed, not as nlohmann would print binary.
  std::string text = R"({"k":[)";
  while (text.size() + 6 < 16 * 1024)
    text += "1.5,";
  text += "1.5]}";
  auto big = parse_json_exact(text);
  REQUIRE(big);
  REQUIRE(dump_exact(*big).size() <= 16 * 1024);
  CHECK(parse_submit_request(with_ids({{"metadata", *big}}), 3));
}

TEST_CASE("metadata numbers count with the digits the database prints for "
          "their exponent, so 16 KiB cannot come back as megabytes") {
  // jsonb prints numbers without an exponent: "1e-1000" returns as 1,002
  // characters. 2,000 of them fit 16 KiB of text but not of storage.
  std::string text = R"({"k":[)";
  for (int i = 0; i < 2000; ++i)
    text += i == 0 ? "1e-1000" : ",1e-1000";
  text += "]}";
  REQUIRE(text.size() < 16 * 1024);
  auto amplified = parse_json_exact(text);
  REQUIRE(amplified);
  auto r = parse_submit_request(with_ids({{"metadata", *amplified}}), 3);
  REQUIRE_FALSE(r);
  CHECK(r.error().field == "metadata");
  // An exponent too long to count is refused the same way.
  auto huge = parse_json_exact(R"({"x": 1e-99999999999999999999})");
  REQUIRE(huge);
  CHECK_FALSE(parse_submit_request(with_ids({{"metadata", *huge}}), 3));
  // A few small exponents stay well within the limit.
  auto small = parse_json_exact(R"({"x": 1.5e-3, "y": 2E+10})");
  REQUIRE(small);
  CHECK(parse_submit_request(with_ids({{"metadata", *small}}), 3));
}
