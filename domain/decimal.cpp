#include "domain/decimal.hpp"

#include <algorithm>
#include <stdexcept>
#include <utility>

namespace ogf::domain {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

big_integer pow10(int exponent) {
  return boost::multiprecision::pow(big_integer(10), exponent);
}

// n / d rounded to an integer, half away from zero; d != 0.
big_integer round_divide(const big_integer& n, const big_integer& d) {
  if (d == 0)
    throw std::domain_error("decimal: division by zero");
  big_integer abs_n = abs(n);
  big_integer abs_d = abs(d);
  big_integer quotient;
  big_integer remainder;
  divide_qr(abs_n, abs_d, quotient, remainder);
  if (2 * remainder >= abs_d)
    ++quotient;
  return (n.sign() * d.sign() < 0) ? big_integer(-quotient) : quotient;
}

// Reads a run of digits starting at pos; returns its end.
std::size_t digit_run_end(std::string_view text, std::size_t pos) {
  while (pos < text.size() && is_digit(text[pos]))
    ++pos;
  return pos;
}

} // namespace

fraction::fraction(big_integer numerator, big_integer denominator)
    : numerator_(std::move(numerator)), denominator_(std::move(denominator)) {
  if (denominator_ == 0)
    throw std::domain_error("fraction: zero denominator");
  if (denominator_ < 0) {
    numerator_ = -numerator_;
    denominator_ = -denominator_;
  }
  big_integer divisor = gcd(numerator_, denominator_);
  if (divisor > 1) {
    numerator_ /= divisor;
    denominator_ /= divisor;
  }
}

fraction operator*(const fraction& a, const fraction& b) {
  return fraction(a.numerator() * b.numerator(),
                  a.denominator() * b.denominator());
}

fraction operator/(const fraction& a, const fraction& b) {
  return fraction(a.numerator() * b.denominator(),
                  a.denominator() * b.numerator());
}

decimal::decimal(big_integer mantissa, int scale)
    : mantissa_(std::move(mantissa)), scale_(scale) {
  if (scale_ < 0) {
    mantissa_ *= pow10(-scale_);
    scale_ = 0;
  }
}

std::optional<decimal> decimal::parse(std::string_view text) {
  std::size_t pos = 0;
  bool negative = false;
  if (pos < text.size() && text[pos] == '-') {
    negative = true;
    ++pos;
  }
  std::size_t int_begin = pos;
  pos = digit_run_end(text, pos);
  std::string_view int_digits = text.substr(int_begin, pos - int_begin);
  if (int_digits.empty())
    return std::nullopt;
  std::string_view frac_digits;
  if (pos < text.size() && text[pos] == '.') {
    std::size_t frac_begin = ++pos;
    pos = digit_run_end(text, pos);
    frac_digits = text.substr(frac_begin, pos - frac_begin);
    if (frac_digits.empty())
      return std::nullopt;
  }
  long exponent = 0;
  if (pos < text.size() && (text[pos] == 'e' || text[pos] == 'E')) {
    ++pos;
    bool exponent_negative = false;
    if (pos < text.size() && (text[pos] == '+' || text[pos] == '-')) {
      exponent_negative = text[pos] == '-';
      ++pos;
    }
    std::size_t exp_begin = pos;
    pos = digit_run_end(text, pos);
    if (pos == exp_begin)
      return std::nullopt;
    for (std::size_t i = exp_begin; i < pos; ++i) {
      exponent = exponent * 10 + (text[i] - '0');
      if (exponent > max_decimal_exponent)
        return std::nullopt;
    }
    if (exponent_negative)
      exponent = -exponent;
  }
  if (pos != text.size())
    return std::nullopt;
  if (int_digits.size() + frac_digits.size() > max_decimal_digits)
    return std::nullopt;
  // Build the significand digit by digit: cpp_int's string constructor would
  // read a leading 0 as an octal prefix.
  big_integer mantissa;
  for (std::string_view run : {int_digits, frac_digits})
    for (char c : run) {
      mantissa *= 10;
      mantissa += c - '0';
    }
  if (negative)
    mantissa = -mantissa;
  return decimal(std::move(mantissa), static_cast<int>(frac_digits.size()) -
                                          static_cast<int>(exponent));
}

int decimal::sign() const {
  return mantissa_.sign();
}

fraction decimal::to_fraction() const {
  return fraction(mantissa_, pow10(scale_));
}

std::string decimal::to_string() const {
  std::string digits = big_integer(abs(mantissa_)).str();
  auto width = static_cast<std::size_t>(scale_) + 1;
  if (digits.size() < width)
    digits.insert(0, width - digits.size(), '0');
  if (scale_ > 0)
    digits.insert(digits.size() - static_cast<std::size_t>(scale_), 1, '.');
  if (mantissa_ < 0)
    digits.insert(0, 1, '-');
  return digits;
}

decimal decimal::rounded(int places) const {
  if (places < 0)
    throw std::invalid_argument("decimal: negative number of places");
  if (scale_ <= places)
    return decimal(mantissa_ * pow10(places - scale_), places);
  decimal result;
  result.mantissa_ = round_divide(mantissa_, pow10(scale_ - places));
  result.scale_ = places;
  return result;
}

decimal operator*(const decimal& a, const decimal& b) {
  return decimal(a.mantissa() * b.mantissa(), a.scale() + b.scale());
}

decimal operator+(const decimal& a, const decimal& b) {
  if (a.scale() < b.scale())
    return b + a;
  return decimal(a.mantissa() + b.mantissa() * pow10(a.scale() - b.scale()),
                 a.scale());
}

int compare(const decimal& a, const decimal& b) {
  int scale = std::max(a.scale(), b.scale());
  big_integer lhs = a.mantissa() * pow10(scale - a.scale());
  big_integer rhs = b.mantissa() * pow10(scale - b.scale());
  return lhs < rhs ? -1 : (rhs < lhs ? 1 : 0);
}

decimal round_quotient(const big_integer& numerator,
                       const big_integer& denominator, int places) {
  if (places < 0)
    throw std::invalid_argument("decimal: negative number of places");
  return decimal(round_divide(numerator * pow10(places), denominator), places);
}

decimal round_quotient(const decimal& numerator, const decimal& denominator,
                       int places) {
  // (a / 10^sa) / (b / 10^sb) = (a * 10^sb) / (b * 10^sa)
  return round_quotient(numerator.mantissa() * pow10(denominator.scale()),
                        denominator.mantissa() * pow10(numerator.scale()),
                        places);
}

decimal round_fraction(const fraction& value, int places) {
  return round_quotient(value.numerator(), value.denominator(), places);
}

std::string format_fixed(const decimal& value, int places) {
  return value.rounded(places).to_string();
}

} // namespace ogf::domain
