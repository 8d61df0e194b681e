// Exact decimal numbers for quantities, emission factors and emissions.
// PostgreSQL stores these as numeric; doubles would make a batch total differ
// from the sum of its items, so every step here is exact and only the final
// result is rounded, once, to a fixed number of decimals.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>

#include <boost/multiprecision/cpp_int.hpp>

namespace ogf::domain {

/// Arbitrary-precision signed integer (Boost.Multiprecision, header-only).
using big_integer = boost::multiprecision::cpp_int;

/// An exact fraction, kept in lowest terms with a positive denominator.
/// Unit conversions produce these because, e.g., 1 kWh in therm has no
/// finite decimal form. (Boost's cpp_rational would do, but trips a false
/// -Wmaybe-uninitialized in GCC 12 with Boost 1.74.)
class fraction {
public:
  /// Zero.
  fraction() = default;

  /// numerator / denominator, reduced. Throws std::domain_error when the
  /// denominator is zero.
  fraction(big_integer numerator, big_integer denominator);

  /// The integer value.
  explicit fraction(big_integer value) : numerator_(std::move(value)) {}

  /// Numerator in lowest terms; carries the sign.
  const big_integer& numerator() const noexcept { return numerator_; }

  /// Denominator in lowest terms, > 0.
  const big_integer& denominator() const noexcept { return denominator_; }

private:
  big_integer numerator_ = 0;
  big_integer denominator_ = 1;
};

/// Exact product.
fraction operator*(const fraction& a, const fraction& b);

/// Exact quotient; throws std::domain_error when b is zero.
fraction operator/(const fraction& a, const fraction& b);

/// Equality by value (both are in lowest terms).
inline bool operator==(const fraction& a, const fraction& b) {
  return a.numerator() == b.numerator() && a.denominator() == b.denominator();
}

/// Inequality by value.
inline bool operator!=(const fraction& a, const fraction& b) {
  return !(a == b);
}

/// Most digits `decimal::parse` accepts in the significand (1000). Longer
/// input is refused rather than parsed in quadratic time.
inline constexpr std::size_t max_decimal_digits = 1000;

/// Largest magnitude of an exponent `decimal::parse` accepts (1000).
inline constexpr int max_decimal_exponent = 1000;

/// An exact decimal number: mantissa × 10^-scale, scale >= 0. Keeps the scale
/// it was written with ("1.50" has scale 2), like PostgreSQL's numeric;
/// comparison is by value.
class decimal {
public:
  /// Zero, scale 0.
  decimal() = default;

  /// mantissa × 10^-scale. A negative scale is folded into the mantissa, so
  /// decimal(5, -2) is 500 with scale 0.
  explicit decimal(big_integer mantissa, int scale = 0);

  /// Parses plain decimal notation, optionally with an exponent, as JSON
  /// writes numbers: `-?digits(.digits)?([eE][+-]?digits)?`. Leading zeros
  /// are allowed ("007"); a leading '+', a bare '.', "5.", ".5", whitespace,
  /// "inf" and "nan" are not. The exponent is folded into the scale, so
  /// "1e3" is 1000 (scale 0) and "1.5e-3" is 0.0015 (scale 4). nullopt for
  /// anything else, for more than `max_decimal_digits` digits or for an
  /// exponent beyond ±`max_decimal_exponent`.
  static std::optional<decimal> parse(std::string_view text);

  /// The integer m of m × 10^-scale.
  const big_integer& mantissa() const noexcept { return mantissa_; }

  /// Number of decimals, >= 0.
  int scale() const noexcept { return scale_; }

  /// -1, 0 or 1.
  int sign() const;

  /// The same value as an exact fraction.
  fraction to_fraction() const;

  /// Plain notation with exactly scale() decimals: "-12.50", "3", "0.000".
  /// Never "-0": zero has no sign.
  std::string to_string() const;

  /// The value with exactly `places` decimals (>= 0): padded with zeros, or
  /// rounded half away from zero when it has more.
  decimal rounded(int places) const;

private:
  big_integer mantissa_;
  int scale_ = 0;
};

/// Exact product; its scale is the sum of the scales.
decimal operator*(const decimal& a, const decimal& b);

/// Exact sum; its scale is the larger of the two.
decimal operator+(const decimal& a, const decimal& b);

/// -1, 0 or 1 as a is less than, equal to or greater than b, by value
/// (so 1.50 equals 1.5).
int compare(const decimal& a, const decimal& b);

/// Comparison by value.
inline bool operator==(const decimal& a, const decimal& b) {
  return compare(a, b) == 0;
}
/// Comparison by value.
inline bool operator!=(const decimal& a, const decimal& b) {
  return compare(a, b) != 0;
}
/// Comparison by value.
inline bool operator<(const decimal& a, const decimal& b) {
  return compare(a, b) < 0;
}
/// Comparison by value.
inline bool operator<=(const decimal& a, const decimal& b) {
  return compare(a, b) <= 0;
}
/// Comparison by value.
inline bool operator>(const decimal& a, const decimal& b) {
  return compare(a, b) > 0;
}
/// Comparison by value.
inline bool operator>=(const decimal& a, const decimal& b) {
  return compare(a, b) >= 0;
}

/// numerator / denominator rounded to `places` decimals (>= 0), half away
/// from zero, as one exact operation. Throws std::domain_error when the
/// denominator is zero (a caller bug: unit constants are never zero).
decimal round_quotient(const big_integer& numerator,
                       const big_integer& denominator, int places);

/// numerator / denominator of two decimals, rounded as above.
decimal round_quotient(const decimal& numerator, const decimal& denominator,
                       int places);

/// An exact fraction rounded to `places` decimals, half away from zero.
decimal round_fraction(const fraction& value, int places);

/// The value as text with exactly `places` decimals, rounded half away from
/// zero: format_fixed(2.5e-7, 6) is "0.000001"; never "-0.000000".
std::string format_fixed(const decimal& value, int places);

} // namespace ogf::domain
