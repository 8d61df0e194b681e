#include "domain/exact_json.hpp"

#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

using namespace ogf::domain;
using json = nlohmann::json;

namespace {

// Parses `text`, which must be accepted, and prints it back.
std::string round_trip(const std::string& text) {
  auto parsed = parse_json_exact(text);
  INFO(text);
  REQUIRE(parsed);
  return dump_exact(*parsed);
}

std::string refusal(const std::string& text) {
  auto parsed = parse_json_exact(text);
  INFO(text);
  REQUIRE_FALSE(parsed);
  CHECK(parsed.error().code == code_invalid_json);
  CHECK(parsed.error().field.empty());
  return parsed.error().message;
}

} // namespace

TEST_CASE("JSON number syntax is exactly RFC 8259's") {
  for (const char* ok : {"0", "-0", "7", "-12", "0.5", "12.500", "1e5", "1E+5",
                         "1.5e-7", "123456789012345678901234567890"}) {
    INFO(ok);
    CHECK(is_json_number(ok));
  }
  for (const char* bad :
       {"", "-", "+1", "01", "-01", ".5", "5.", "1e", "1e+", "1.e5", "0x10",
        " 1", "1 ", "NaN", "Infinity", "1,5", "\"5\"", "1.5.5", "--1"}) {
    INFO(bad);
    CHECK_FALSE(is_json_number(bad));
  }
}

TEST_CASE("a raw number holds its text and prints as that text, unquoted") {
  auto n = raw_number("375293999999999.999625");
  REQUIRE(raw_number_text(n));
  CHECK(*raw_number_text(n) == "375293999999999.999625");
  CHECK(dump_exact(n) == "375293999999999.999625");
  CHECK(dump_exact(json{{"total", n}, {"n", 1}}) ==
        R"({"n":1,"total":375293999999999.999625})");
  // Anything that is not a number stays out of the output.
  CHECK(raw_number("1; DROP").is_null());
  CHECK(raw_number("\"x\"").is_null());
  CHECK_FALSE(raw_number_text(json(1.5)));
  CHECK_FALSE(raw_number_text(json("1.5")));
  CHECK_FALSE(raw_number_text(json::binary({'1'}, 7)));
  CHECK_FALSE(raw_number_text(json::binary({'1'})));
}

TEST_CASE("parsing keeps every number's digits and integers stay integers") {
  CHECK(round_trip(R"({"q":12345678901234567.5})") ==
        R"({"q":12345678901234567.5})");
  CHECK(round_trip(R"({"order":123456789012345678901234567890})") ==
        R"({"order":123456789012345678901234567890})");
  CHECK(round_trip("[0.10000000000000000555,1.50,1E+3,-2.5e-7,-0.0]") ==
        "[0.10000000000000000555,1.50,1E+3,-2.5e-7,-0.0]");
  auto v = parse_json_exact(
      R"({"i":5,"u":18446744073709551615,"n":-9223372036854775808})");
  REQUIRE(v);
  CHECK((*v)["i"].is_number_integer());
  CHECK((*v)["i"] == 5);
  CHECK((*v)["u"].is_number_unsigned());
  CHECK((*v)["n"] == std::numeric_limits<std::int64_t>::min());
  // One past 64 bits becomes a raw number with the digits as given.
  auto big = parse_json_exact("[18446744073709551616,-9223372036854775809]");
  REQUIRE(big);
  CHECK(raw_number_text((*big)[0]) == "18446744073709551616");
  CHECK(raw_number_text((*big)[1]) == "-9223372036854775809");
  auto f = parse_json_exact("[1.0]");
  REQUIRE(f);
  CHECK_FALSE((*f)[0].is_number());
  CHECK(raw_number_text((*f)[0]) == "1.0");
}

TEST_CASE("parsing keeps strings, literals and nesting as nlohmann does") {
  const std::string text =
      R"({"a":[true,false,null,"x\"y\\z\n\u0001é",{},[]],"b":{"c":{"d":[1]}}})";
  CHECK(round_trip(text) == json::parse(text).dump());
  CHECK(round_trip(" [ 1 , 2 ] ") == "[1,2]");
  CHECK(round_trip("\"top\"") == "\"top\"");
  CHECK(round_trip("0") == "0");
  CHECK(round_trip("2.5") == "2.5");
}

TEST_CASE("an object naming a key twice is refused at any level") {
  CHECK(refusal(R"({"priority":11,"priority":1})") ==
        "names the key \"priority\" twice in one object");
  refusal(R"({"a":{"b":[{"c":1,"c":1}]}})");
  refusal(R"([{"x":1},{"y":{"z":null,"z":null}}])");
  refusal(R"({"":1,"":2})");
  // The same key in different objects, or in nested ones, is fine.
  CHECK(round_trip(R"({"k":{"k":{"k":1}},"j":[{"k":1},{"k":2}]})") ==
        R"({"j":[{"k":1},{"k":2}],"k":{"k":{"k":1}}})");
}

TEST_CASE("text that is not one JSON value is refused with the byte") {
  CHECK(refusal("{\"a\": 01}").find("is not valid JSON (error at byte") == 0);
  CHECK(refusal("{\"a\": 1e999}") ==
        "is not valid JSON (a number is out of range)");
  for (const std::string& bad : std::vector<std::string>{
           "", " ", "{", "{\"a\":1,}", "{} {}", "nul", "{'a':1}", "[1,]",
           "\"\xff\"", std::string("\"a\0b\"", 5), "{\"a\":NaN}"}) {
    INFO(bad);
    refusal(bad);
  }
}

TEST_CASE("nesting deeper than the limit is refused without recursion") {
  CHECK(round_trip(std::string(64, '[') + std::string(64, ']')).size() == 128);
  CHECK(refusal(std::string(65, '[') + std::string(65, ']')) ==
        "nests arrays and objects deeper than 64 levels");
  // A million levels: refused at level 65, long before any stack trouble.
  refusal(std::string(1'000'000, '['));
  auto shallow = parse_json_exact("[[[1]]]", 2);
  REQUIRE_FALSE(shallow);
  CHECK(parse_json_exact("[[1]]", 2));
}

TEST_CASE("dump_exact prints what nlohmann prints for values without raw "
          "numbers, and replaces invalid UTF-8") {
  json v = {{"s", "tab\there"},
            {"d", 0.1},
            {"i", -3},
            {"u", 42u},
            {"b", true},
            {"z", nullptr},
            {"a", json::array()},
            {"o", json::object()},
            {"nan", std::nan("")}};
  CHECK(dump_exact(v) == v.dump());
  CHECK(dump_exact(json("bad \xff byte")) ==
        json("bad \xff byte")
            .dump(-1, ' ', false, json::error_handler_t::replace));
  CHECK(
      dump_exact(json{{"k\xff", 1}}) ==
      json{{"k\xff", 1}}.dump(-1, ' ', false, json::error_handler_t::replace));
}

TEST_CASE("dump_exact prints every kind of string as nlohmann does") {
  for (const std::string& s : std::vector<std::string>{
           "", "plain-ascii_09:.", "a\"quote", "back\\slash", "slash/",
           "del\x7f", "ctl\x01\x1f", "nl\n", "caf\xc3\xa9", "\xe2\x82\xac",
           "bad\xc3", std::string("nul\0x", 5)}) {
    INFO(json(s).dump(-1, ' ', true, json::error_handler_t::replace));
    const auto expected =
        json(s).dump(-1, ' ', false, json::error_handler_t::replace);
    CHECK(dump_exact(json(s)) == expected);
    CHECK(dump_exact(json{{s, s}}) == "{" + expected + ":" + expected + "}");
  }
}
