#include "domain/api_key.hpp"

#include <cctype>

namespace ogf::domain {

namespace {

constexpr std::string_view prefix = "ogf_";
constexpr std::size_t id_digits = 16;
constexpr std::size_t secret_digits = 64;

bool lower_hex(std::string_view s) {
  for (char c : s)
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
      return false;
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

} // namespace

const char* to_string(key_role r) {
  return r == key_role::read ? "read" : "write";
}

std::optional<key_role> parse_key_role(std::string_view text) {
  if (text == "read")
    return key_role::read;
  if (text == "write")
    return key_role::write;
  return std::nullopt;
}

const char* to_string(key_status s) {
  switch (s) {
  case key_status::active:
    return "active";
  case key_status::revoked:
    return "revoked";
  case key_status::expired:
    return "expired";
  }
  return "active";
}

key_status status_at(const api_key& k, timestamp_us now) {
  if (k.revoked_at)
    return key_status::revoked;
  if (k.expires_at && now >= *k.expires_at)
    return key_status::expired;
  return key_status::active;
}

bool valid_key_name(std::string_view name) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < name.size(); ++chars) {
    auto b = static_cast<unsigned char>(name[i]);
    std::size_t len = 0;
    char32_t cp = 0;
    if (b < 0x80) {
      len = 1;
      cp = b;
    } else if ((b & 0xE0) == 0xC0) {
      len = 2;
      cp = b & 0x1F;
    } else if ((b & 0xF0) == 0xE0) {
      len = 3;
      cp = b & 0x0F;
    } else if ((b & 0xF8) == 0xF0) {
      len = 4;
      cp = b & 0x07;
    } else {
      return false; // a continuation byte first, or 0xF8..0xFF
    }
    if (i + len > name.size())
      return false;
    for (std::size_t j = 1; j < len; ++j) {
      auto c = static_cast<unsigned char>(name[i + j]);
      if ((c & 0xC0) != 0x80)
        return false;
      cp = (cp << 6) | (c & 0x3F);
    }
    // Overlong forms, UTF-16 surrogates and values past U+10FFFF are not
    // UTF-8 (PostgreSQL refuses them too).
    static constexpr char32_t smallest[] = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < smallest[len] || (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
      return false;
    if (cp < 0x20 || (cp >= 0x7F && cp <= 0x9F))
      return false;
    i += len;
  }
  return chars <= max_key_name_chars;
}

std::optional<std::chrono::seconds> parse_key_lifetime(std::string_view text) {
  if (text.size() < 2 || text.size() > 12)
    return std::nullopt;
  std::int64_t unit = 0;
  switch (text.back()) {
  case 'd':
    unit = 24 * 3600;
    break;
  case 'h':
    unit = 3600;
    break;
  case 'm':
    unit = 60;
    break;
  case 's':
    unit = 1;
    break;
  default:
    return std::nullopt;
  }
  std::int64_t n = 0;
  for (char c : text.substr(0, text.size() - 1)) {
    if (c < '0' || c > '9')
      return std::nullopt;
    n = n * 10 + (c - '0'); // at most 11 digits: no overflow
  }
  std::chrono::seconds d{n * unit};
  if (d < min_key_lifetime || d > max_key_lifetime)
    return std::nullopt;
  return d;
}

std::optional<token> parse_token(std::string_view text) {
  if (text.size() != prefix.size() + id_digits + 1 + secret_digits ||
      text.substr(0, prefix.size()) != prefix)
    return std::nullopt;
  auto id = text.substr(prefix.size(), id_digits);
  if (text[prefix.size() + id_digits] != '_')
    return std::nullopt;
  auto secret = text.substr(prefix.size() + id_digits + 1);
  if (!lower_hex(id) || !lower_hex(secret))
    return std::nullopt;
  return token{std::string(id), std::string(secret)};
}

std::optional<token> parse_authorization(std::string_view v) {
  while (!v.empty() && is_space(v.front()))
    v.remove_prefix(1);
  while (!v.empty() && is_space(v.back()))
    v.remove_suffix(1);
  constexpr std::string_view scheme = "bearer";
  if (v.size() <= scheme.size() || !is_space(v[scheme.size()]))
    return std::nullopt;
  for (std::size_t i = 0; i < scheme.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(v[i])) != scheme[i])
      return std::nullopt;
  v.remove_prefix(scheme.size());
  while (!v.empty() && is_space(v.front()))
    v.remove_prefix(1);
  return parse_token(v);
}

std::string format_token(const token& t) {
  return std::string(prefix) + t.key_id + "_" + t.secret;
}

} // namespace ogf::domain
