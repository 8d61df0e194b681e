// JSON numbers with their exact digits, both ways. nlohmann::json keeps a
// number with a fraction or an exponent, or an integer beyond 64 bits, only as
// the nearest double: "12345678901234567.5" would become 12345678901234568 on
// the way in, and "375293999999999.999625" would be printed as
// 375294000000000.0 on the way out. Quantities, factors, emissions and
// client metadata must keep every digit (docs/emissions.md), so:
// - such a number is held as a *raw number*: a binary value of subtype
//   raw_number_subtype whose bytes are the number's JSON text;
// - parse_json_exact reads client JSON that way (via nlohmann's SAX parser,
//   which hands over the number's original text), and also refuses
//   duplicate object keys and too deep nesting;
// - dump_exact prints a value with every raw number as its text. nlohmann's
//   own dump() does not know raw numbers (it would print
//   {"bytes": [...], "subtype": 78}), so every answer and every metadata
//   text written to the database goes through dump_exact.
// Integers that fit 64 bits stay plain nlohmann integers: they are exact
// already, and validation checks fields such as priority by their type.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "domain/validation.hpp"

namespace ogf::domain {

/// The binary subtype that marks a raw number ('N').
inline constexpr std::uint64_t raw_number_subtype = 0x4E;

/// True for JSON number syntax (RFC 8259 §6):
/// `-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?`.
bool is_json_number(std::string_view text);

/// A raw number holding `text` exactly; null when !is_json_number(text), so
/// that no other text can ever be printed unquoted.
nlohmann::json raw_number(std::string_view text);

/// The text of a raw number; nullopt for every other value (plain
/// nlohmann numbers included). The view lives as long as `v` is unchanged.
std::optional<std::string_view> raw_number_text(const nlohmann::json& v);

/// Parses one JSON text (RFC 8259, UTF-8, nothing after the value). Numbers
/// with a fraction or exponent, and integers beyond 64 bits, become raw
/// numbers with the client's text; other integers stay integers. Refused
/// with code_invalid_json (field empty), the message completing the
/// sentence "<subject> ...": text that is not JSON ("is not valid JSON
/// (error at byte N)"), a number beyond a double's range, an object that
/// names a key twice at any level (RFC 8259 leaves that undefined; taking
/// one silently would hide client bugs), or nesting of arrays and objects
/// deeper than `max_depth`. Never recurses, so any input is safe to parse.
result<nlohmann::json> parse_json_exact(std::string_view text,
                                        std::size_t max_depth = max_json_depth);

/// Compact JSON text of `v` (no spaces, object keys in nlohmann's sorted
/// order), with raw numbers printed as their text and invalid UTF-8 in
/// strings replaced by U+FFFD, as nlohmann's error_handler_t::replace does.
/// Other values print exactly as nlohmann's dump() prints them (doubles as
/// the shortest text that reads back the same, non-finite ones as null).
/// Recurses once per level: callers print values parsed with a depth limit
/// or built in code.
std::string dump_exact(const nlohmann::json& v);

} // namespace ogf::domain
