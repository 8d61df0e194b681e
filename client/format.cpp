#include "client/format.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

namespace ogf::client {

namespace {

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// Inserts a comma every three digits of a string of digits.
std::string group_digits(std::string_view digits) {
  std::string out;
  out.reserve(digits.size() + digits.size() / 3);
  for (std::size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0)
      out += ',';
    out += digits[i];
  }
  return out;
}

// Server text in a progress bar must also keep its width: one byte, one
// column. UTF-8 would take fewer columns than bytes, so it is replaced too.
std::string ascii_only(std::string_view text) {
  std::string out(text);
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 ||
        static_cast<unsigned char>(c) > 0x7E)
      c = '?';
  return out;
}

// A double made safe for integer conversion: NaN and negatives are 0, and
// huge values stop at a bound that llround can convert.
double clamp_non_negative(double v, double max) {
  if (!(v > 0))
    return 0;
  return std::min(v, max);
}

// Percent for display, whole: floor, so that 99.6 % of a batch is not
// shown as 100 % while work remains.
int whole_percent(double percent) {
  return static_cast<int>(std::floor(clamp_non_negative(percent, 100)));
}

std::string counts_text(const progress_view& p) {
  return format_count(p.processed) + "/" + format_count(p.total);
}

std::string eta_text(const progress_view& p) {
  return "ETA " + format_duration(*p.eta_seconds);
}

// Number of terminal columns of UTF-8 text: one per code point (no wide
// characters in what the client prints).
std::size_t display_width(std::string_view text) {
  std::size_t n = 0;
  for (char c : text)
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80)
      ++n;
  return n;
}

// Length of the well-formed UTF-8 sequence at text[i] (RFC 3629: no
// overlong forms, no surrogates, at most U+10FFFF), or 0 when it is not
// one.
std::size_t utf8_sequence(std::string_view text, std::size_t i) {
  auto at = [&](std::size_t k) -> unsigned {
    return i + k < text.size() ? static_cast<unsigned char>(text[i + k]) : 0;
  };
  unsigned b0 = at(0);
  auto cont = [&](std::size_t k, unsigned lo = 0x80, unsigned hi = 0xBF) {
    unsigned b = at(k);
    return b >= lo && b <= hi;
  };
  if (b0 >= 0xC2 && b0 <= 0xDF)
    return cont(1) ? 2 : 0;
  if (b0 == 0xE0)
    return cont(1, 0xA0) && cont(2) ? 3 : 0;
  if ((b0 >= 0xE1 && b0 <= 0xEC) || b0 == 0xEE || b0 == 0xEF)
    return cont(1) && cont(2) ? 3 : 0;
  if (b0 == 0xED)
    return cont(1, 0x80, 0x9F) && cont(2) ? 3 : 0;
  if (b0 == 0xF0)
    return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (b0 >= 0xF1 && b0 <= 0xF3)
    return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (b0 == 0xF4)
    return cont(1, 0x80, 0x8F) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

} // namespace

std::string format_count(std::int64_t n) {
  // The magnitude as unsigned, so that INT64_MIN has one.
  std::uint64_t magnitude =
      n < 0 ? 0 - static_cast<std::uint64_t>(n) : static_cast<std::uint64_t>(n);
  auto grouped = group_digits(std::to_string(magnitude));
  return n < 0 ? "-" + grouped : grouped;
}

std::string format_decimal(std::string_view number_text, int decimals) {
  decimals = std::max(decimals, 0);
  // JSON number syntax: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
  std::string_view s = number_text;
  std::size_t i = 0;
  bool negative = false;
  if (i < s.size() && s[i] == '-') {
    negative = true;
    ++i;
  }
  std::size_t int_begin = i;
  if (i < s.size() && s[i] == '0')
    ++i;
  else
    while (i < s.size() && is_digit(s[i]))
      ++i;
  if (i == int_begin)
    return std::string(number_text);
  std::string digits(s.substr(int_begin, i - int_begin));
  std::int64_t point = static_cast<std::int64_t>(digits.size());
  if (i < s.size() && s[i] == '.') {
    std::size_t frac_begin = ++i;
    while (i < s.size() && is_digit(s[i]))
      ++i;
    if (i == frac_begin)
      return std::string(number_text);
    digits.append(s.substr(frac_begin, i - frac_begin));
  }
  if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
    ++i;
    bool exp_negative = false;
    if (i < s.size() && (s[i] == '+' || s[i] == '-'))
      exp_negative = s[i++] == '-';
    std::size_t exp_begin = i;
    std::int64_t exponent = 0;
    while (i < s.size() && is_digit(s[i])) {
      // Saturates: an exponent this large is out of reach anyway.
      exponent =
          std::min<std::int64_t>(exponent * 10 + (s[i] - '0'), 1'000'000'000);
      ++i;
    }
    if (i == exp_begin)
      return std::string(number_text);
    point += exp_negative ? -exponent : exponent;
  }
  if (i != s.size())
    return std::string(number_text);

  // value = 0.<digits> x 10^point; leading zeros carry no information.
  std::size_t first = digits.find_first_not_of('0');
  if (first == std::string::npos) {
    digits.clear();
  } else {
    digits.erase(0, first);
    point -= static_cast<std::int64_t>(first);
  }
  // Expanding 1e1000000000 would take a gigabyte: such text is shown as
  // it came rather than as a wall of zeros.
  constexpr std::int64_t max_integer_digits = 4096;
  if (point > max_integer_digits)
    return std::string(number_text);
  // Far below the last shown decimal the value rounds to zero; cutting here
  // keeps tiny exponents ("1e-1000000000") from allocating.
  if (digits.empty() || point < -(decimals + 1)) {
    digits.clear();
    point = 0;
  }

  // Integer and fraction digits, fraction padded or cut to decimals + 1
  // (the extra digit decides the rounding).
  std::string integer;
  std::string fraction;
  if (point > 0) {
    auto n = static_cast<std::size_t>(point);
    integer = digits.substr(0, std::min(n, digits.size()));
    integer.append(n > digits.size() ? n - digits.size() : 0, '0');
    fraction = n < digits.size() ? digits.substr(n) : std::string();
  } else {
    integer = "0";
    fraction = std::string(static_cast<std::size_t>(-point), '0') + digits;
  }
  auto wanted = static_cast<std::size_t>(decimals);
  fraction.resize(std::max(fraction.size(), wanted + 1), '0');
  bool round_up = fraction[wanted] >= '5';
  fraction.resize(wanted);
  if (round_up) {
    // Half away from zero: the magnitude goes up, with carries through the
    // fraction into the integer.
    std::string all = integer + fraction;
    std::size_t k = all.size();
    while (k > 0) {
      --k;
      if (all[k] == '9') {
        all[k] = '0';
      } else {
        ++all[k];
        break;
      }
      if (k == 0)
        all.insert(all.begin(), '1');
    }
    integer = all.substr(0, all.size() - wanted);
    fraction = all.substr(all.size() - wanted);
  }
  bool zero = integer.find_first_not_of('0') == std::string::npos &&
              fraction.find_first_not_of('0') == std::string::npos;
  std::string out = negative && !zero ? "-" : "";
  out += group_digits(integer);
  if (wanted > 0)
    out += "." + fraction;
  return out;
}

std::string format_kg(std::string_view number_text) {
  return format_decimal(number_text, 2) + " kg CO2e";
}

std::string format_duration(double seconds) {
  // About 31,000 years: more than any ETA worth showing, small enough for
  // llround.
  auto total = static_cast<std::int64_t>(
      std::llround(clamp_non_negative(seconds, 1e12)));
  char text[64];
  if (total < 60)
    std::snprintf(text, sizeof text, "%llds", static_cast<long long>(total));
  else if (total < 3600)
    std::snprintf(text, sizeof text, "%lldm %02llds",
                  static_cast<long long>(total / 60),
                  static_cast<long long>(total % 60));
  else if (total < 86400)
    std::snprintf(text, sizeof text, "%lldh %02lldm",
                  static_cast<long long>(total / 3600),
                  static_cast<long long>(total % 3600 / 60));
  else
    std::snprintf(text, sizeof text, "%lldd %02lldh",
                  static_cast<long long>(total / 86400),
                  static_cast<long long>(total % 86400 / 3600));
  return text;
}

std::string format_rate(double per_second) {
  double rate = clamp_non_negative(per_second, 1e15);
  // One decimal below 100, decided after rounding so that 99.96 is shown
  // as "100/s" and not "100.0/s".
  double tenths = std::round(rate * 10);
  if (tenths == 0)
    return "0/s";
  if (tenths < 1000) {
    char text[32];
    std::snprintf(text, sizeof text, "%.1f/s", tenths / 10);
    return text;
  }
  return format_count(std::llround(rate)) + "/s";
}

std::string render_progress_bar(const progress_view& p, int width) {
  auto columns = static_cast<std::size_t>(std::max(width, 20));
  // Narrowest bar worth drawing: "[" + 4 cells + "]".
  constexpr std::size_t min_bar = 6;
  constexpr std::size_t short_id = 8;

  std::string full_id = ascii_only(p.batch_id);
  char pct[8];
  std::snprintf(pct, sizeof pct, "%3d%%", whole_percent(p.percent));
  // After the bar, in the order they are dropped from the right.
  std::vector<std::string> fields = {pct, counts_text(p), format_rate(p.rate)};
  if (p.eta_seconds)
    fields.push_back(eta_text(p));
  fields.push_back(ascii_only(format_kg(p.emissions_kg)));

  auto text_width = [&](const std::string& id, std::size_t kept) {
    std::size_t n = id.size();
    for (std::size_t k = 0; k < kept; ++k)
      n += 1 + fields[k].size();
    return n;
  };
  // The whole id only when it fits with every field and a bar of some
  // length; narrower terminals get its first characters.
  std::string id = full_id;
  if (text_width(full_id, fields.size()) + 1 + 2 * min_bar > columns)
    id = full_id.substr(0, short_id);

  std::size_t kept = fields.size();
  bool bar = true;
  while (text_width(id, kept) + 1 + min_bar > columns) {
    if (kept == 0) {
      // Not even the id and a bar: the id alone, cut to the width.
      bar = false;
      id.resize(std::min(id.size(), columns));
      break;
    }
    --kept;
  }

  std::string out = id;
  if (bar) {
    std::size_t cells = columns - text_width(id, kept) - 1 - 2;
    double fraction = clamp_non_negative(p.percent, 100) / 100;
    auto filled = static_cast<std::size_t>(std::floor(fraction * cells));
    out += " [";
    out.append(filled, '#');
    out.append(cells - filled, '-');
    out += ']';
  }
  for (std::size_t k = 0; k < kept; ++k)
    out += " " + fields[k];
  return out;
}

std::string render_progress_line(const progress_view& p) {
  char pct[16];
  // Tenths cut, not rounded, for the same reason as whole_percent.
  double tenths = std::floor(clamp_non_negative(p.percent, 100) * 10);
  std::snprintf(pct, sizeof pct, "%.1f%%", tenths / 10);
  std::string out = ascii_only(p.batch_id) + " " + ascii_only(p.status) + " " +
                    pct + " " + counts_text(p) + " succeeded " +
                    format_count(p.succeeded) + " failed " +
                    format_count(p.failed) + " " + format_rate(p.rate);
  if (p.eta_seconds)
    out += " " + eta_text(p);
  out += " " + ascii_only(format_kg(p.emissions_kg));
  return out;
}

std::string render_summary_line(const progress_view& p,
                                std::optional<double> elapsed_seconds,
                                const std::string& error) {
  std::string out = printable(p.batch_id) + " " + printable(p.status) + ": " +
                    format_count(p.succeeded) + "/" + format_count(p.total) +
                    " succeeded, " + format_count(p.failed) + " failed, " +
                    printable(format_kg(p.emissions_kg));
  if (elapsed_seconds)
    out += " in " + format_duration(*elapsed_seconds);
  if (!error.empty())
    out += " (error: " + printable(error) + ")";
  return out;
}

std::string render_table(const std::vector<table_column>& columns,
                         const std::vector<std::vector<std::string>>& rows) {
  if (columns.empty())
    return {};
  std::vector<std::size_t> widths(columns.size());
  for (std::size_t c = 0; c < columns.size(); ++c)
    widths[c] = display_width(columns[c].heading);
  for (const auto& row : rows)
    for (std::size_t c = 0; c < columns.size() && c < row.size(); ++c)
      widths[c] = std::max(widths[c], display_width(row[c]));

  std::string out;
  auto line = [&](auto cell_of) {
    std::string text;
    for (std::size_t c = 0; c < columns.size(); ++c) {
      const std::string& cell = cell_of(c);
      std::size_t pad = widths[c] - display_width(cell);
      if (c > 0)
        text += "  ";
      if (columns[c].right)
        text.append(pad, ' ');
      text += cell;
      if (!columns[c].right)
        text.append(pad, ' ');
    }
    // Padding of a short last cell (or of empty trailing cells) would be
    // trailing spaces.
    text.erase(text.find_last_not_of(' ') + 1);
    out += text;
    out += '\n';
  };
  line([&](std::size_t c) -> const std::string& { return columns[c].heading; });
  static const std::string empty;
  for (const auto& row : rows)
    line([&](std::size_t c) -> const std::string& {
      return c < row.size() ? row[c] : empty;
    });
  return out;
}

std::string csv_field(std::string_view field) {
  bool quote =
      field.find_first_of(",\"\r\n") != std::string_view::npos ||
      (!field.empty() && (field.front() == ' ' || field.back() == ' '));
  if (!quote)
    return std::string(field);
  std::string out = "\"";
  for (char c : field) {
    if (c == '"')
      out += '"';
    out += c;
  }
  out += '"';
  return out;
}

std::string printable(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  std::size_t i = 0;
  while (i < text.size()) {
    auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x20 || b == 0x7F) {
      out += '?';
      ++i;
    } else if (b < 0x80) {
      out += text[i++];
    } else if (std::size_t n = utf8_sequence(text, i); n == 0) {
      // A byte that is not well-formed UTF-8: some terminals read a lone
      // 0x9B as CSI, so it goes too.
      out += '?';
      ++i;
    } else if (b == 0xC2 && static_cast<unsigned char>(text[i + 1]) < 0xA0) {
      out += '?'; // C1 control, U+0080..U+009F
      i += n;
    } else {
      out.append(text.substr(i, n));
      i += n;
    }
  }
  return out;
}

} // namespace ogf::client
