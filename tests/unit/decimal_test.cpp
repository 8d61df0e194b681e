#include "domain/decimal.hpp"

#include <stdexcept>
#include <string>

#include <catch2/catch.hpp>

using namespace ogf::domain;

namespace {

// Parses text that the test knows to be valid.
decimal dec(const std::string& text) {
  auto value = decimal::parse(text);
  REQUIRE(value);
  return *value;
}

} // namespace

TEST_CASE("decimal text parses and prints back with its own scale") {
  CHECK(dec("0").to_string() == "0");
  CHECK(dec("0.0544953").to_string() == "0.0544953");
  CHECK(dec("1000000000000").to_string() == "1000000000000");
  CHECK(dec("-12.50").to_string() == "-12.50");
  CHECK(dec("1.50").scale() == 2);
  CHECK(dec("007.50").to_string() == "7.50");
  CHECK(dec("0.000001").mantissa() == 1);
}

TEST_CASE("exponent notation, as JSON may send numbers, folds into the scale") {
  CHECK(dec("1e3").to_string() == "1000");
  CHECK(dec("1E+12").to_string() == "1000000000000");
  CHECK(dec("1e12") == dec("1000000000000"));
  CHECK(dec("1.5e-3").to_string() == "0.0015");
  CHECK(dec("1.5e-3").scale() == 4);
  CHECK(dec("-2.5E1").to_string() == "-25");
  CHECK(dec("12.345e1").to_string() == "123.45");
  CHECK(dec("1e-7").to_string() == "0.0000001");
}

TEST_CASE("malformed decimal text is refused") {
  for (const char* text :
       {"", "-", "+1", ".5", "5.", "1.2.3", " 1", "1 ", "1,5", "1e", "1e+",
        "e3", "--1", "0x10", "inf", "nan", "1_000", "١"}) {
    INFO("text: \"" << text << "\"");
    CHECK_FALSE(decimal::parse(text));
  }
}

TEST_CASE("absurdly long numbers and exponents are refused, not parsed") {
  CHECK(decimal::parse("1e1000"));
  CHECK_FALSE(decimal::parse("1e1001"));
  CHECK_FALSE(decimal::parse("1e-99999999999999999999"));
  CHECK(decimal::parse(std::string(max_decimal_digits, '9')));
  CHECK_FALSE(decimal::parse(std::string(max_decimal_digits + 1, '9')));
}

TEST_CASE("negative zero has no sign") {
  CHECK(dec("-0").to_string() == "0");
  CHECK(dec("-0.000").to_string() == "0.000");
  CHECK(dec("-0.000").sign() == 0);
  CHECK(format_fixed(dec("-0.0000004"), 6) == "0.000000");
  CHECK(format_fixed(dec("-0.0000005"), 6) == "-0.000001");
  CHECK(format_fixed(dec("-0"), 6) == "0.000000");
}

TEST_CASE("products and sums are exact") {
  // 0.1 + 0.2 is 0.30000000000000004 in binary floating point.
  CHECK((dec("0.1") + dec("0.2")).to_string() == "0.3");
  CHECK((dec("1.5") + dec("2.000001")).to_string() == "3.500001");
  CHECK((dec("-1.25") + dec("1.25")).to_string() == "0.00");
  // 10^12 × 0.375294 needs 18 significant digits, more than a double has.
  CHECK((dec("999999999999.999999") * dec("0.375294")).to_string() ==
        "375293999999.999999624706");
  CHECK((dec("-2") * dec("0.5")).to_string() == "-1.0");
}

TEST_CASE("decimals compare by value, whatever their scale") {
  CHECK(dec("1.50") == dec("1.5"));
  CHECK(dec("1e3") == dec("1000.000"));
  CHECK(dec("-1") < dec("0"));
  CHECK(dec("0.0000001") > dec("0"));
  CHECK(dec("2.5") >= dec("2.50"));
  CHECK(dec("100") != dec("10"));
  CHECK(compare(dec("-0.5"), dec("-0.4")) == -1);
}

TEST_CASE("rounding is half away from zero, not half to even") {
  CHECK(format_fixed(dec("0.0000015"), 6) == "0.000002");
  CHECK(format_fixed(dec("0.0000025"), 6) == "0.000003");
  CHECK(format_fixed(dec("0.00000249999"), 6) == "0.000002");
  CHECK(format_fixed(dec("-0.0000025"), 6) == "-0.000003");
  CHECK(format_fixed(dec("2.5"), 0) == "3");
  CHECK(format_fixed(dec("-2.5"), 0) == "-3");
  CHECK(format_fixed(dec("0.9999995"), 6) == "1.000000");
  CHECK(format_fixed(dec("12"), 6) == "12.000000");
  CHECK(format_fixed(dec("1.5"), 2) == "1.50");
}

TEST_CASE("a quotient is rounded once, half away from zero") {
  CHECK(round_quotient(big_integer(1), big_integer(3), 6).to_string() ==
        "0.333333");
  CHECK(round_quotient(big_integer(2), big_integer(3), 6).to_string() ==
        "0.666667");
  CHECK(round_quotient(big_integer(-2), big_integer(3), 6).to_string() ==
        "-0.666667");
  CHECK(round_quotient(big_integer(2), big_integer(-3), 6).to_string() ==
        "-0.666667");
  CHECK(round_quotient(big_integer(-2), big_integer(-3), 6).to_string() ==
        "0.666667");
  CHECK(round_quotient(big_integer(5), big_integer(10), 0).to_string() == "1");
  CHECK(round_quotient(big_integer(-5), big_integer(10), 0).to_string() ==
        "-1");
  CHECK(round_quotient(big_integer(-1), big_integer(3000000), 6).to_string() ==
        "0.000000");
  // 1 kWh in therm = 3600000 / 105505585.2 = 0.03412141635...
  CHECK(round_quotient(dec("3600000"), dec("105505585.2"), 6).to_string() ==
        "0.034121");
  CHECK(round_quotient(dec("0.1"), dec("0.0003"), 3).to_string() == "333.333");
  CHECK_THROWS_AS(round_quotient(big_integer(1), big_integer(0), 6),
                  std::domain_error);
}

TEST_CASE("fractions are kept in lowest terms with a positive denominator") {
  fraction f(big_integer(6), big_integer(-4));
  CHECK(f.numerator() == -3);
  CHECK(f.denominator() == 2);
  CHECK(fraction(big_integer(0), big_integer(-7)) == fraction());
  CHECK(dec("0.50").to_fraction() == fraction(big_integer(1), big_integer(2)));
  CHECK(fraction(big_integer(2), big_integer(3)) *
            fraction(big_integer(3), big_integer(4)) ==
        fraction(big_integer(1), big_integer(2)));
  CHECK(fraction(big_integer(1), big_integer(3)) /
            fraction(big_integer(2), big_integer(3)) ==
        fraction(big_integer(1), big_integer(2)));
  CHECK(round_fraction(fraction(big_integer(2500), big_integer(9)), 6)
            .to_string() == "277.777778");
  CHECK_THROWS_AS(fraction(big_integer(1), big_integer(0)), std::domain_error);
}
