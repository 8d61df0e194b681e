#include "domain/validation.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <set>
#include <unordered_map>
#include <unordered_set>

#include "domain/callback_url.hpp"
#include "domain/decimal.hpp"
#include "domain/exact_json.hpp"
#include "domain/time.hpp"

namespace ogf::domain {

namespace {

using json = nlohmann::json;

// -- character classes
// ---------------------------------------------------------

bool is_alnum(char c) {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
         (c >= '0' && c <= '9');
}

template <class Predicate>
bool all_chars(std::string_view s, std::size_t min_len, std::size_t max_len,
               Predicate ok) {
  return s.size() >= min_len && s.size() <= max_len &&
         std::all_of(s.begin(), s.end(), ok);
}

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
         (c >= 'A' && c <= 'F');
}

bool is_digit(char c) {
  return c >= '0' && c <= '9';
}

// -- error helpers
// ---------------------------------------------------------------

// A short, always-valid-UTF-8 excerpt of client input for messages.
std::string excerpt(std::string_view s, std::size_t max_len = 40) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i)
    out += (s[i] >= 0x20 && s[i] < 0x7F) ? s[i] : '?';
  if (s.size() > max_len)
    out += "...";
  return out;
}

input_error invalid(std::string field, std::string message,
                    json details = nullptr) {
  return {code_validation_error, std::move(field), std::move(message),
          std::move(details)};
}

input_error unknown(std::string field, std::string message,
                    json details = nullptr) {
  return {code_unknown_field, std::move(field), std::move(message),
          std::move(details)};
}

input_error not_an_object(const char* what) {
  return {code_invalid_json, "", std::string(what) + " must be a JSON object",
          nullptr};
}

// The first member of `obj` not in `known` (members iterate in key order, so
// the answer is deterministic), as an unknown_field error.
std::optional<input_error>
first_unknown_field(const json& obj,
                    std::initializer_list<std::string_view> known,
                    const std::string& prefix, const json& where) {
  for (const auto& item : obj.items()) {
    const auto& key = item.key();
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      // Client keys can be long; cap what is echoed back.
      auto name = excerpt(key, 64);
      return unknown(prefix + name, "unknown field '" + prefix + name + "'",
                     where);
    }
  }
  return std::nullopt;
}

// A member that is present and not null.
const json* member(const json& obj, const char* key) {
  auto it = obj.find(key);
  if (it == obj.end() || it->is_null())
    return nullptr;
  return &*it;
}

// An integer in [lo, hi] written as a JSON integer.
std::optional<int> json_int_in(const json& v, int lo, int hi) {
  if (v.is_number_unsigned()) {
    auto n = v.get<std::uint64_t>();
    if (n > static_cast<std::uint64_t>(hi) || static_cast<std::int64_t>(n) < lo)
      return std::nullopt;
    return static_cast<int>(n);
  }
  if (v.is_number_integer()) {
    auto n = v.get<std::int64_t>();
    if (n < lo || n > hi)
      return std::nullopt;
    return static_cast<int>(n);
  }
  return std::nullopt;
}

std::string range_text(int lo, int hi) {
  return std::to_string(lo) + " to " + std::to_string(hi);
}

// How much longer than its text a raw number can come back from the
// database: jsonb stores numbers as numeric and prints them without an
// exponent, so "1e-1000" (7 bytes) returns as 1,002 characters. Counts
// |exponent| + 2 per number; an exponent of more than 6 digits counts as
// too long for any limit.
std::size_t exponent_growth(const json& v) {
  switch (v.type()) {
  case json::value_t::binary: {
    auto text = raw_number_text(v);
    if (!text)
      return 0;
    auto e = text->find_first_of("eE");
    if (e == std::string_view::npos)
      return 0;
    auto digits = text->substr(e + 1);
    if (!digits.empty() && (digits[0] == '+' || digits[0] == '-'))
      digits.remove_prefix(1);
    while (digits.size() > 1 && digits[0] == '0')
      digits.remove_prefix(1);
    if (digits.size() > 6)
      return max_metadata_bytes + 1;
    std::size_t exponent = 0;
    for (char c : digits)
      exponent = exponent * 10 + static_cast<std::size_t>(c - '0');
    return exponent + 2;
  }
  case json::value_t::object:
  case json::value_t::array: {
    std::size_t sum = 0;
    for (const auto& item : v) {
      sum += exponent_growth(item);
      if (sum > max_metadata_bytes)
        break;
    }
    return sum;
  }
  default:
    return 0;
  }
}

// Compact JSON size of a metadata object, as stored: raw numbers count with
// their text and with what the database adds when it prints them without
// an exponent (a 16 KiB body must not come back as megabytes). Invalid
// UTF-8 (only possible in values built in code) is replaced, not thrown.
bool metadata_fits(const json& v) {
  return dump_exact(v).size() + exponent_growth(v) <= max_metadata_bytes;
}

// True when a string or key anywhere in `v` holds U+0000. PostgreSQL's text
// and jsonb cannot store that character, so it is refused here, naming the
// field, rather than by the database, which cannot say which field it was.
bool holds_nul(const json& v) {
  switch (v.type()) {
  case json::value_t::string:
    return v.get_ref<const std::string&>().find('\0') != std::string::npos;
  case json::value_t::object:
    for (const auto& [key, value] : v.get_ref<const json::object_t&>())
      if (key.find('\0') != std::string::npos || holds_nul(value))
        return true;
    return false;
  case json::value_t::array:
    return std::any_of(v.begin(), v.end(), holds_nul);
  default:
    return false;
  }
}

std::string metadata_nul_message(const std::string& field) {
  return field + " must not contain the character U+0000 (\\u0000), which "
                 "cannot be stored";
}

std::size_t utf8_code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) {
    return (static_cast<unsigned char>(c) & 0xC0) != 0x80;
  }));
}

// -- decimals
// --------------------------------------------------------------------

// Plain notation of a non-negative number given in JSON/C notation, e.g.
// "1.5e-07" -> "0.00000015", "2.50" -> "2.5", "1e+20" -> "1" + 20 zeros.
std::string plain_decimal(std::string_view text) {
  std::string digits;
  std::int64_t point = -1; // digits before the decimal point
  std::int64_t exponent = 0;
  std::size_t i = 0;
  for (; i < text.size() && text[i] != 'e' && text[i] != 'E'; ++i) {
    if (text[i] == '.')
      point = static_cast<std::int64_t>(digits.size());
    else
      digits += text[i];
  }
  if (point < 0)
    point = static_cast<std::int64_t>(digits.size());
  if (i < text.size()) {
    std::string_view e = text.substr(i + 1);
    bool negative = !e.empty() && e[0] == '-';
    if (!e.empty() && (e[0] == '-' || e[0] == '+'))
      e.remove_prefix(1);
    std::int64_t n = 0;
    std::from_chars(e.data(), e.data() + e.size(), n);
    exponent = negative ? -n : n;
  }
  point += exponent;
  // Pad so that the point falls inside or at the end of the digits.
  if (point <= 0) {
    digits.insert(0, static_cast<std::size_t>(1 - point), '0');
    point = 1;
  }
  if (point > static_cast<std::int64_t>(digits.size()))
    digits.append(static_cast<std::size_t>(point) - digits.size(), '0');
  std::string int_part = digits.substr(0, static_cast<std::size_t>(point));
  std::string frac_part = digits.substr(static_cast<std::size_t>(point));
  int_part.erase(
      0, std::min(int_part.find_first_not_of('0'), int_part.size() - 1));
  while (!frac_part.empty() && frac_part.back() == '0')
    frac_part.pop_back();
  return frac_part.empty() ? int_part : int_part + "." + frac_part;
}

// digits or digits.digits, within max_input_decimal_digits on each side
// (leading zeros of the integer part are not counted).
bool is_decimal_text(std::string_view s) {
  auto dot = s.find('.');
  auto int_part = s.substr(0, dot);
  auto frac_part =
      dot == std::string_view::npos ? std::string_view{} : s.substr(dot + 1);
  if (int_part.empty() ||
      !std::all_of(int_part.begin(), int_part.end(), is_digit))
    return false;
  if (dot != std::string_view::npos &&
      (frac_part.empty() ||
       !std::all_of(frac_part.begin(), frac_part.end(), is_digit)))
    return false;
  auto significant = int_part.find_first_not_of('0');
  auto int_digits =
      significant == std::string_view::npos ? 0 : int_part.size() - significant;
  return int_digits <= max_input_decimal_digits &&
         frac_part.size() <= max_input_decimal_digits;
}

// -- query strings
// ----------------------------------------------------------------

// Plain digits into an int64; nullopt on anything else or overflow.
std::optional<std::int64_t> parse_digits(std::string_view s) {
  if (s.empty() || s.size() > 19 || !std::all_of(s.begin(), s.end(), is_digit))
    return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || end != s.data() + s.size())
    return std::nullopt;
  return v;
}

// Refuses unknown and repeated parameters; `repeatable` may appear often.
std::optional<input_error>
check_param_names(const query_params& params,
                  std::initializer_list<std::string_view> known,
                  std::string_view repeatable) {
  for (auto it = params.begin(); it != params.end();
       it = params.upper_bound(it->first)) {
    const auto& name = it->first;
    if (std::find(known.begin(), known.end(), name) == known.end()) {
      auto shown = excerpt(name, 64);
      return unknown(shown, "unknown query parameter '" + shown + "'");
    }
    if (name != repeatable && params.count(name) > 1)
      return invalid(name, name + " may be given only once");
  }
  return std::nullopt;
}

std::optional<std::string> single(const query_params& params,
                                  const std::string& name) {
  auto it = params.find(name);
  if (it == params.end())
    return std::nullopt;
  return it->second;
}

// -- activities and factors
// ---------------------------------------------------------

// Where a row error happened: the field prefix and the details object.
struct row_place {
  std::string prefix; // "activities[3]." for JSON, "" for CSV
  json details;       // {"row": 3} or {"row": 3, "line": 5}
};

std::optional<input_error> read_string(const json& row, const char* key,
                                       const row_place& at, bool required,
                                       std::string& out) {
  const auto* v = member(row, key);
  if (!v) {
    if (required)
      return invalid(at.prefix + key, at.prefix + key + " is required",
                     at.details);
    return std::nullopt;
  }
  if (!v->is_string())
    return invalid(at.prefix + key, at.prefix + key + " must be a string",
                   at.details);
  out = v->get<std::string>();
  return std::nullopt;
}

// A required string field that must satisfy `ok`; `rule` completes the
// sentence "<field> must be ...".
template <class Check>
std::optional<input_error>
read_checked(const json& row, const char* key, const row_place& at,
             bool required, Check ok, const char* rule, std::string& out) {
  std::string value;
  bool given = member(row, key) != nullptr;
  if (auto err = read_string(row, key, at, required, value))
    return err;
  if (!given)
    return std::nullopt;
  if (!ok(value))
    return invalid(at.prefix + key, at.prefix + key + " must be " + rule,
                   at.details);
  out = std::move(value);
  return std::nullopt;
}

std::optional<input_error> read_unit(const json& row, const row_place& at,
                                     const unit_check& is_known_unit,
                                     std::string& out) {
  std::string unit;
  if (auto err = read_string(row, "unit", at, true, unit))
    return err;
  const auto field = at.prefix + "unit";
  if (unit.empty() || unit.size() > 32)
    return invalid(field, field + " must be a unit name of 1 to 32 bytes",
                   at.details);
  if (is_known_unit && !is_known_unit(unit))
    return invalid(field, field + ": unknown unit '" + excerpt(unit) + "'",
                   at.details);
  out = std::move(unit);
  return std::nullopt;
}

std::optional<input_error> read_decimal(const json& row, const char* key,
                                        const row_place& at, std::string& out) {
  const auto field = at.prefix + key;
  const auto* v = member(row, key);
  if (!v)
    return invalid(field, field + " is required", at.details);
  auto text = parse_non_negative_decimal(*v);
  if (!text)
    return invalid(field,
                   field +
                       " must be a number >= 0 or a decimal string, at most " +
                       std::to_string(max_input_decimal_digits) +
                       " digits before and after the point",
                   at.details);
  out = std::move(*text);
  return std::nullopt;
}

std::optional<input_error> read_metadata(const json& row, const row_place& at,
                                         json& out) {
  const auto field = at.prefix + "metadata";
  const auto* v = member(row, "metadata");
  if (!v)
    return std::nullopt;
  if (!v->is_object() || !metadata_fits(*v))
    return invalid(field,
                   field + " must be a JSON object of at most " +
                       std::to_string(max_metadata_bytes) + " bytes",
                   at.details);
  if (holds_nul(*v))
    return invalid(field, metadata_nul_message(field), at.details);
  out = *v;
  return std::nullopt;
}

constexpr const char* id_rule = "1 to 128 characters of A-Z a-z 0-9 _ . : -";
constexpr const char* type_rule = "1 to 64 characters of a-z 0-9 _";
constexpr const char* region_rule = "1 to 32 characters of A-Z a-z 0-9 _ -";
constexpr const char* date_rule = "a date YYYY-MM-DD";

// One activity row, as a JSON object (CSV rows are converted to one).
std::optional<input_error> read_activity(
    const json& row, const row_place& at, const unit_check& is_known_unit,
    std::unordered_map<std::string, std::size_t>& seen_ids, activity& out) {
  if (!row.is_object()) {
    auto field = at.prefix.substr(0, at.prefix.size() - 1);
    return invalid(field, field + " must be an object", at.details);
  }
  if (auto err = first_unknown_field(row,
                                     {"id", "activity_type", "quantity", "unit",
                                      "region", "period_start", "period_end",
                                      "metadata"},
                                     at.prefix, at.details))
    return err;
  std::optional<input_error> err;
  if ((err = read_checked(row, "id", at, true, is_valid_activity_id, id_rule,
                          out.id)))
    return err;
  if (!seen_ids.emplace(out.id, seen_ids.size()).second)
    return invalid(at.prefix + "id",
                   at.prefix + "id '" + out.id +
                       "' appears more than once in the request",
                   at.details);
  if ((err =
           read_checked(row, "activity_type", at, true, is_valid_activity_type,
                        type_rule, out.activity_type)))
    return err;
  if ((err = read_decimal(row, "quantity", at, out.quantity)))
    return err;
  if ((err = read_unit(row, at, is_known_unit, out.unit)))
    return err;
  if ((err = read_checked(row, "region", at, false, is_valid_region,
                          region_rule, out.region)))
    return err;
  if ((err = read_checked(
           row, "period_start", at, true,
           [](const std::string& s) { return is_valid_date(s); }, date_rule,
           out.period_start)))
    return err;
  if ((err = read_checked(
           row, "period_end", at, true,
           [](const std::string& s) { return is_valid_date(s); }, date_rule,
           out.period_end)))
    return err;
  // Valid YYYY-MM-DD dates order like their text.
  if (out.period_end < out.period_start)
    return invalid(at.prefix + "period_end",
                   at.prefix + "period_end must not be before period_start",
                   at.details);
  return read_metadata(row, at, out.metadata);
}

std::optional<input_error>
read_factor(const json& row, const row_place& at,
            const unit_check& is_known_unit,
            std::unordered_map<std::string, std::size_t>& seen_ids,
            emission_factor& out) {
  if (!row.is_object()) {
    auto field = at.prefix.substr(0, at.prefix.size() - 1);
    return invalid(field, field + " must be an object", at.details);
  }
  if (auto err =
          first_unknown_field(row,
                              {"id", "activity_type", "scope", "region", "unit",
                               "kg_co2e_per_unit", "valid_from", "source"},
                              at.prefix, at.details))
    return err;
  out.builtin = false;
  std::optional<input_error> err;
  if ((err = read_checked(row, "id", at, true, is_valid_activity_id, id_rule,
                          out.id)))
    return err;
  if (!seen_ids.emplace(out.id, seen_ids.size()).second)
    return invalid(at.prefix + "id",
                   at.prefix + "id '" + out.id +
                       "' appears more than once in the request",
                   at.details);
  if ((err =
           read_checked(row, "activity_type", at, true, is_valid_activity_type,
                        type_rule, out.activity_type)))
    return err;
  const auto scope_field = at.prefix + "scope";
  const auto* scope = member(row, "scope");
  if (!scope)
    return invalid(scope_field, scope_field + " is required", at.details);
  auto scope_value = json_int_in(*scope, 1, 3);
  if (!scope_value)
    return invalid(scope_field, scope_field + " must be the integer 1, 2 or 3",
                   at.details);
  out.scope = *scope_value;
  if ((err = read_checked(row, "region", at, false, is_valid_region,
                          region_rule, out.region)))
    return err;
  if ((err = read_unit(row, at, is_known_unit, out.unit)))
    return err;
  if ((err = read_decimal(row, "kg_co2e_per_unit", at, out.kg_co2e_per_unit)))
    return err;
  if ((err = read_checked(
           row, "valid_from", at, true,
           [](const std::string& s) { return is_valid_date(s); }, date_rule,
           out.valid_from)))
    return err;
  return read_checked(
      row, "source", at, false,
      [](const std::string& s) {
        return utf8_code_points(s) <= max_source_chars &&
               s.find('\0') == std::string::npos;
      },
      "a string of at most 1000 characters, without U+0000", out.source);
}

// The array member `key` of a body, with 1..max_rows elements.
std::optional<input_error> rows_of(const json& body, const char* key,
                                   std::size_t max_rows, const json*& out) {
  const auto* rows = member(body, key);
  std::string message = std::string(key) + " must be an array of 1 to " +
                        std::to_string(max_rows) + " objects";
  if (!rows)
    return invalid(key, std::string(key) + " is required");
  if (!rows->is_array() || rows->empty() || rows->size() > max_rows)
    return invalid(key, message, {{"max", max_rows}});
  out = rows;
  return std::nullopt;
}

// -- CSV
// ---------------------------------------------------------------------------

// RFC 4180 records, one at a time, tracking physical line numbers.
class csv_reader {
public:
  explicit csv_reader(std::string_view text) : text_(text) {
    if (text_.substr(0, 3) == "\xEF\xBB\xBF")
      text_.remove_prefix(3);
  }

  enum class outcome { record, end, error };

  // Reads the next non-blank record into `fields`.
  outcome next(std::vector<std::string>& fields) {
    fields.clear();
    // Skip blank lines.
    while (pos_ < text_.size()) {
      if (text_[pos_] == '\n') {
        ++pos_;
        ++line_;
      } else if (text_.substr(pos_, 2) == "\r\n") {
        pos_ += 2;
        ++line_;
      } else {
        break;
      }
    }
    if (pos_ >= text_.size())
      return outcome::end;
    record_line_ = line_;
    std::string field;
    for (;;) {
      field.clear();
      if (pos_ < text_.size() && text_[pos_] == '"') {
        ++pos_;
        for (;;) {
          if (pos_ >= text_.size())
            return fail("a quoted field is not closed");
          char c = text_[pos_++];
          if (c == '"') {
            if (pos_ < text_.size() && text_[pos_] == '"') {
              field += '"';
              ++pos_;
              continue;
            }
            break;
          }
          if (c == '\n')
            ++line_;
          field += c;
        }
        if (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end())
          return fail("a closing quote must be followed by a comma or a "
                      "line break");
      } else {
        while (pos_ < text_.size() && text_[pos_] != ',' && !at_line_end()) {
          if (text_[pos_] == '"')
            return fail("a quote inside an unquoted field (quote the whole "
                        "field and double the quote)");
          field += text_[pos_++];
        }
      }
      fields.push_back(std::move(field));
      if (pos_ >= text_.size())
        return outcome::record;
      if (text_[pos_] == ',') {
        ++pos_;
        continue;
      }
      // A line break ends the record.
      pos_ += text_[pos_] == '\r' ? 2 : 1;
      ++line_;
      return outcome::record;
    }
  }

  // 1-based line where the last record started.
  std::size_t record_line() const { return record_line_; }

  const std::string& error() const { return error_; }

private:
  bool at_line_end() const {
    return text_[pos_] == '\n' || text_.substr(pos_, 2) == "\r\n";
  }

  outcome fail(std::string message) {
    error_ = std::move(message);
    return outcome::error;
  }

  std::string_view text_;
  std::size_t pos_ = 0;
  std::size_t line_ = 1;
  std::size_t record_line_ = 1;
  std::string error_;
};

} // namespace

// -- public: errors
// ---------------------------------------------------------------

json error_details(const input_error& e) {
  json out = json::object();
  if (!e.field.empty())
    out["field"] = e.field;
  if (e.details.is_object())
    for (const auto& item : e.details.items())
      out[item.key()] = item.value();
  if (out.empty())
    return nullptr;
  return out;
}

// -- public: single values
// -------------------------------------------------------------

std::size_t json_nesting_depth(std::string_view text, std::size_t limit) {
  std::size_t depth = 0;
  std::size_t deepest = 0;
  bool in_string = false;
  bool escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped)
        escaped = false;
      else if (c == '\\')
        escaped = true;
      else if (c == '"')
        in_string = false;
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > deepest && (deepest = depth) > limit)
        return deepest;
    } else if ((c == ']' || c == '}') && depth > 0) {
      --depth;
    }
  }
  return deepest;
}

bool validate_tenant_header(std::string_view value) {
  return all_chars(value, 1, 64,
                   [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

bool validate_idempotency_key(std::string_view value) {
  return all_chars(value, 1, 255, [](char c) { return c >= 0x20 && c < 0x7F; });
}

bool is_valid_uuid(std::string_view text) {
  if (text.size() != 36)
    return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    bool dash_place = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash_place ? text[i] != '-' : !is_hex(text[i]))
      return false;
  }
  return true;
}

std::optional<std::string> normalize_uuid(std::string_view text) {
  if (!is_valid_uuid(text))
    return std::nullopt;
  std::string out(text);
  for (auto& c : out)
    if (c >= 'A' && c <= 'F')
      c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_valid_activity_id(std::string_view text) {
  return all_chars(text, 1, 128, [](char c) {
    return is_alnum(c) || c == '_' || c == '.' || c == ':' || c == '-';
  });
}

bool is_valid_activity_type(std::string_view text) {
  return all_chars(text, 1, 64, [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_';
  });
}

bool is_valid_region(std::string_view text) {
  return all_chars(text, 1, 32,
                   [](char c) { return is_alnum(c) || c == '_' || c == '-'; });
}

std::optional<std::string> parse_non_negative_decimal(const json& v) {
  std::string text;
  if (v.is_number_unsigned()) {
    text = std::to_string(v.get<std::uint64_t>());
  } else if (v.is_number_integer()) {
    auto n = v.get<std::int64_t>();
    if (n < 0)
      return std::nullopt;
    text = std::to_string(n);
  } else if (auto raw = raw_number_text(v)) {
    // The client's own digits (parse_json_exact): "12345678901234567.5"
    // stays exactly that. The exponent is folded in ("1.5e-3" is 0.0015);
    // decimal::parse bounds digits and exponent, so "1e-999999999" cannot
    // cost a gigabyte of zeros.
    auto d = decimal::parse(*raw);
    if (!d || d->sign() < 0)
      return std::nullopt;
    text = d->to_string();
  } else if (v.is_number_float()) {
    auto d = v.get<double>();
    if (!std::isfinite(d) || d < 0)
      return std::nullopt;
    // nlohmann/json prints the shortest text that reads back as `d`.
    text = d == 0 ? "0" : plain_decimal(json(d).dump());
  } else if (v.is_string()) {
    text = v.get<std::string>();
    // "007.50" -> "7.50": leading zeros carry nothing (and are not JSON),
    // trailing ones state the client's precision and are kept.
    std::size_t zeros = 0;
    while (zeros + 1 < text.size() && text[zeros] == '0' &&
           is_digit(text[zeros + 1]))
      ++zeros;
    text.erase(0, zeros);
  } else {
    return std::nullopt;
  }
  if (!is_decimal_text(text))
    return std::nullopt;
  return text;
}

// -- public: bodies
// ---------------------------------------------------------------------

result<submit_request> parse_submit_request(const json& body,
                                            int default_max_retries,
                                            int max_activities,
                                            timestamp_us now) {
  if (!body.is_object())
    return not_an_object("the request body");
  if (auto err = first_unknown_field(body,
                                     {"activity_ids", "priority", "max_retries",
                                      "metadata", "run_after", "callback_url"},
                                     "", nullptr))
    return *err;

  submit_request req;
  req.max_retries = default_max_retries;

  const auto* ids = member(body, "activity_ids");
  if (!ids)
    return invalid("activity_ids", "activity_ids is required");
  const auto max_ids = static_cast<std::size_t>(std::max(max_activities, 1));
  if (!ids->is_array() || ids->empty() || ids->size() > max_ids)
    return invalid("activity_ids",
                   "activity_ids must be an array of 1 to " +
                       std::to_string(max_ids) + " activity ids",
                   {{"max", max_ids}});
  req.activity_ids.reserve(ids->size());
  for (std::size_t i = 0; i < ids->size(); ++i) {
    const auto& id = (*ids)[i];
    if (!id.is_string() ||
        !is_valid_activity_id(id.get_ref<const std::string&>())) {
      auto field = "activity_ids[" + std::to_string(i) + "]";
      return invalid(field, field + " must be a string of " + id_rule);
    }
    req.activity_ids.push_back(id.get<std::string>());
  }
  std::unordered_set<std::string_view> seen;
  std::unordered_set<std::string_view> reported;
  json duplicates = json::array();
  std::size_t duplicate_count = 0;
  for (const auto& id : req.activity_ids) {
    if (seen.insert(id).second)
      continue;
    if (reported.insert(id).second) {
      ++duplicate_count;
      if (duplicates.size() < 10)
        duplicates.push_back(id);
    }
  }
  if (duplicate_count > 0)
    return invalid(
        "activity_ids",
        "activity_ids must not repeat an id; " +
            std::to_string(duplicate_count) + " ids appear more than " + "once",
        {{"duplicates", duplicates}, {"duplicate_count", duplicate_count}});

  if (const auto* p = member(body, "priority")) {
    auto v = json_int_in(*p, 1, 10);
    if (!v)
      return invalid("priority",
                     "priority must be an integer from " + range_text(1, 10));
    req.priority = *v;
  }
  if (const auto* r = member(body, "max_retries")) {
    auto v = json_int_in(*r, 0, 10);
    if (!v)
      return invalid("max_retries", "max_retries must be an integer from " +
                                        range_text(0, 10));
    req.max_retries = *v;
  }
  if (const auto* m = member(body, "metadata")) {
    if (!m->is_object() || !metadata_fits(*m))
      return invalid("metadata", "metadata must be a JSON object of at most " +
                                     std::to_string(max_metadata_bytes) +
                                     " bytes");
    if (holds_nul(*m))
      return invalid("metadata", metadata_nul_message("metadata"));
    req.metadata = *m;
  }
  if (const auto* r = member(body, "run_after")) {
    auto t = r->is_string() ? parse_rfc3339(r->get_ref<const std::string&>())
                            : std::nullopt;
    if (!t)
      return invalid("run_after",
                     "run_after must be an RFC 3339 date-time with a time "
                     "zone, e.g. 2026-11-28T22:00:00Z");
    if (*t > now + max_run_after_ahead_us)
      return invalid("run_after", "run_after must be at most 365 days ahead");
    req.run_after = *t;
  }
  if (const auto* c = member(body, "callback_url")) {
    std::string why = "must be a string";
    if (!c->is_string() ||
        !parse_callback_url(c->get_ref<const std::string&>(), why))
      return invalid("callback_url",
                     "callback_url " + why +
                         " (an absolute http or https URL of at most " +
                         std::to_string(max_callback_url_bytes) + " bytes)");
    req.callback_url = c->get<std::string>();
  }
  return req;
}

result<std::vector<activity>>
parse_activities_json(const json& body, const unit_check& is_known_unit) {
  if (!body.is_object())
    return not_an_object("the request body");
  if (auto err = first_unknown_field(body, {"activities"}, "", nullptr))
    return *err;
  const json* rows = nullptr;
  if (auto err = rows_of(body, "activities", max_activities_per_upsert, rows))
    return *err;
  std::vector<activity> out(rows->size());
  std::unordered_map<std::string, std::size_t> seen_ids;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    row_place at{"activities[" + std::to_string(i) + "].", {{"row", i}}};
    if (auto err =
            read_activity((*rows)[i], at, is_known_unit, seen_ids, out[i]))
      return *err;
  }
  return out;
}

result<std::vector<activity>>
parse_activities_csv(std::string_view csv, const unit_check& is_known_unit) {
  static constexpr std::string_view columns[] = {
      "id",     "activity_type", "quantity",   "unit",
      "region", "period_start",  "period_end", "metadata"};
  static constexpr std::string_view optional_columns[] = {"region", "metadata"};
  csv_reader reader(csv);
  std::vector<std::string> header;
  auto syntax_error = [&](json details) {
    return invalid("csv", "CSV: " + reader.error(), std::move(details));
  };
  switch (reader.next(header)) {
  case csv_reader::outcome::end:
    return invalid("csv", "the CSV body must start with a header row of "
                          "column names");
  case csv_reader::outcome::error:
    return syntax_error({{"line", reader.record_line()}});
  case csv_reader::outcome::record:
    break;
  }
  const json header_at = {{"line", reader.record_line()}};
  std::set<std::string_view> present;
  for (std::size_t i = 0; i < header.size(); ++i) {
    const auto& name = header[i];
    if (std::find(std::begin(columns), std::end(columns), name) ==
        std::end(columns)) {
      if (name.empty())
        return invalid(
            "csv", "header column " + std::to_string(i + 1) + " has no name",
            header_at);
      auto shown = excerpt(name, 64);
      return unknown(shown, "unknown column '" + shown + "'", header_at);
    }
    if (!present.insert(name).second)
      return invalid(name, "column '" + name + "' appears more than once",
                     header_at);
  }
  for (auto name : columns) {
    bool optional =
        std::find(std::begin(optional_columns), std::end(optional_columns),
                  name) != std::end(optional_columns);
    if (!optional && present.count(name) == 0)
      return invalid(std::string(name),
                     "the header has no '" + std::string(name) + "' column",
                     header_at);
  }

  std::vector<activity> out;
  std::unordered_map<std::string, std::size_t> seen_ids;
  std::vector<std::string> fields;
  for (std::size_t row = 1;; ++row) {
    auto got = reader.next(fields);
    if (got == csv_reader::outcome::end)
      break;
    json where = {{"row", row}, {"line", reader.record_line()}};
    if (got == csv_reader::outcome::error)
      return syntax_error(std::move(where));
    if (row > max_activities_per_upsert)
      return invalid("activities",
                     "at most " + std::to_string(max_activities_per_upsert) +
                         " rows may be sent at once",
                     std::move(where));
    if (fields.size() != header.size())
      return invalid("csv",
                     "row " + std::to_string(row) + " has " +
                         std::to_string(fields.size()) +
                         " fields; the header has " +
                         std::to_string(header.size()),
                     std::move(where));
    json object = json::object();
    for (std::size_t i = 0; i < header.size(); ++i) {
      if (fields[i].empty())
        continue;
      if (header[i] == "metadata") {
        // Printing and copying JSON recurse once per level: a cell of a few
        // MiB of '[' would overflow the stack (found by the request fuzzer);
        // parse_json_exact refuses it (and a key named twice) without
        // recursing.
        auto parsed = parse_json_exact(fields[i]);
        if (!parsed)
          return invalid("metadata", "metadata " + parsed.error().message,
                         std::move(where));
        if (!parsed->is_object())
          return invalid("metadata",
                         "metadata must be the text of a JSON object of at "
                         "most " +
                             std::to_string(max_metadata_bytes) + " bytes",
                         std::move(where));
        object["metadata"] = std::move(*parsed);
      } else {
        object[header[i]] = std::move(fields[i]);
      }
    }
    activity a;
    if (auto err = read_activity(object, row_place{"", where}, is_known_unit,
                                 seen_ids, a))
      return *err;
    out.push_back(std::move(a));
  }
  if (out.empty())
    return invalid("activities", "the CSV body must hold 1 to " +
                                     std::to_string(max_activities_per_upsert) +
                                     " rows after the header");
  return out;
}

result<std::vector<emission_factor>>
parse_factors_json(const json& body, const unit_check& is_known_unit) {
  if (!body.is_object())
    return not_an_object("the request body");
  if (auto err = first_unknown_field(body, {"factors"}, "", nullptr))
    return *err;
  const json* rows = nullptr;
  if (auto err = rows_of(body, "factors", max_factors_per_upsert, rows))
    return *err;
  std::vector<emission_factor> out(rows->size());
  std::unordered_map<std::string, std::size_t> seen_ids;
  for (std::size_t i = 0; i < rows->size(); ++i) {
    row_place at{"factors[" + std::to_string(i) + "].", {{"row", i}}};
    if (auto err = read_factor((*rows)[i], at, is_known_unit, seen_ids, out[i]))
      return *err;
  }
  return out;
}

// -- public: query strings
// --------------------------------------------------------------

result<list_query> parse_list_query(const query_params& params) {
  if (auto err =
          check_param_names(params,
                            {"status", "priority", "created_after",
                             "created_before", "limit", "page_token", "offset"},
                            "status"))
    return *err;
  list_query q;
  auto [first, last] = params.equal_range("status");
  for (auto it = first; it != last; ++it) {
    std::string_view list = it->second;
    for (;;) {
      auto comma = list.find(',');
      auto name = list.substr(0, comma);
      auto status = parse_batch_status(name);
      if (!status)
        return invalid("status",
                       "status must be one or more of pending, queued, "
                       "processing, completed, failed, cancelled, separated "
                       "by commas");
      if (std::find(q.statuses.begin(), q.statuses.end(), *status) ==
          q.statuses.end())
        q.statuses.push_back(*status);
      if (comma == std::string_view::npos)
        break;
      list.remove_prefix(comma + 1);
    }
  }
  if (auto text = single(params, "priority")) {
    auto v = parse_digits(*text);
    if (!v || *v < 1 || *v > 10)
      return invalid("priority",
                     "priority must be an integer from " + range_text(1, 10));
    q.priority = static_cast<int>(*v);
  }
  for (const char* name : {"created_after", "created_before"}) {
    if (auto text = single(params, name)) {
      auto t = parse_rfc3339(*text);
      if (!t)
        return invalid(name, std::string(name) +
                                 " must be an RFC 3339 timestamp, e.g. "
                                 "2026-11-28T16:04:05.123Z");
      (std::string_view{name} == "created_after" ? q.created_after
                                                 : q.created_before) = *t;
    }
  }
  if (auto text = single(params, "limit")) {
    auto v = parse_digits(*text);
    if (!v || *v < 1 || *v > 100)
      return invalid("limit",
                     "limit must be an integer from " + range_text(1, 100));
    q.limit = static_cast<int>(*v);
  }
  if (auto text = single(params, "page_token")) {
    q.after = decode_batch_page_token(*text);
    if (!q.after)
      return invalid("page_token",
                     "page_token is not a token returned by this list");
    q.page_token = *text;
  }
  if (auto text = single(params, "offset")) {
    auto v = parse_digits(*text);
    if (!v)
      return invalid("offset", "offset must be an integer >= 0");
    if (q.page_token)
      return invalid("offset", "offset and page_token cannot be used together");
    q.offset = *v;
  }
  return q;
}

result<items_query> parse_items_query(const query_params& params) {
  if (auto err =
          check_param_names(params, {"status", "limit", "page_token"}, ""))
    return *err;
  items_query q;
  if (auto text = single(params, "status")) {
    q.status = parse_item_status(*text);
    if (!q.status)
      return invalid("status",
                     "status must be one of pending, succeeded, failed");
  }
  if (auto text = single(params, "limit")) {
    auto v = parse_digits(*text);
    if (!v || *v < 1 || *v > 1000)
      return invalid("limit",
                     "limit must be an integer from " + range_text(1, 1000));
    q.limit = static_cast<int>(*v);
  }
  if (auto text = single(params, "page_token")) {
    q.after_activity_id = decode_item_page_token(*text);
    if (!q.after_activity_id)
      return invalid("page_token",
                     "page_token is not a token returned by this list");
    q.page_token = *text;
  }
  return q;
}

} // namespace ogf::domain
