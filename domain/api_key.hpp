// API keys (CONTRACT §4) as values: what a key is, independent of where it is
// stored and of how its secret is hashed (common/api_token.hpp). No I/O.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include "domain/model.hpp"

namespace ogf::domain {

/// What a key may do: `read` is GET/HEAD only, `write` is everything of its
/// tenant.
enum class key_role { read, write };

/// "read" or "write".
const char* to_string(key_role r);

/// Parses "read" or "write"; nullopt for anything else.
std::optional<key_role> parse_key_role(std::string_view text);

/// One API key as stored. The secret itself is never stored or kept: only
/// its hash (hex SHA-256, common/api_token.hpp).
struct api_key {
  std::string id;   ///< 16 lower-case hex digits, the token's <key id>
  tenant owner;     ///< the key decides the tenant
  std::string name; ///< free text for people ("ci", "reporting"); may be empty
  key_role role = key_role::write;
  std::string secret_hash; ///< hex SHA-256 of the secret
  timestamp_us created_at = 0;
  std::optional<timestamp_us> expires_at; ///< none: never expires
  std::optional<timestamp_us> revoked_at; ///< none: not revoked
};

/// A bearer token's two parts: `ogf_<key id>_<secret>`, the key id 16 and
/// the secret 64 lower-case hex digits (common/api_token.hpp makes them).
struct token {
  std::string key_id; ///< 16 lower-case hex digits
  std::string secret; ///< 64 lower-case hex digits
};

/// Parses `ogf_<16 hex>_<64 hex>` exactly (lower-case hex only); nullopt
/// for anything else.
std::optional<token> parse_token(std::string_view text);

/// Parses an Authorization header value: the scheme `Bearer` (any case),
/// one or more spaces, a token as parse_token wants it, and nothing else
/// (surrounding spaces and tabs are ignored). Nullopt when malformed.
std::optional<token> parse_authorization(std::string_view header_value);

/// `ogf_<key id>_<secret>`.
std::string format_token(const token& t);

/// True when `k` may be used at `now`: not revoked, not expired.
inline bool key_usable(const api_key& k, timestamp_us now) {
  return !k.revoked_at && (!k.expires_at || now < *k.expires_at);
}

/// What `keys list` shows for a key at a given time.
enum class key_status { active, revoked, expired };

/// "active", "revoked" or "expired".
const char* to_string(key_status s);

/// The status of `k` at `now`: revoked wins over expired.
key_status status_at(const api_key& k, timestamp_us now);

/// Longest name of a key, in characters (Unicode code points).
inline constexpr std::size_t max_key_name_chars = 200;

/// True for a key name: valid UTF-8, at most max_key_name_chars characters,
/// no control characters (C0, DEL, C1). Empty is allowed.
bool valid_key_name(std::string_view name);

/// Shortest and longest lifetime of a key: 1 s and 3650 days.
inline constexpr std::chrono::seconds min_key_lifetime{1};
inline constexpr std::chrono::seconds max_key_lifetime{3650LL * 24 * 3600};

/// Parses a key lifetime as `keys create --expires` takes it: digits and
/// one unit, `d`, `h`, `m` or `s` ("90d", "12h"), within
/// min_key_lifetime..max_key_lifetime. Nullopt for anything else.
std::optional<std::chrono::seconds> parse_key_lifetime(std::string_view text);

} // namespace ogf::domain
