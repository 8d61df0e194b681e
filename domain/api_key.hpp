// API keys (CONTRACT §4) as values: what a key is, independent of where it is
// stored and of how its secret is hashed (common/api_token.hpp). No I/O.
#pragma once

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

/// True when `k` may be used at `now`: not revoked, not expired.
inline bool key_usable(const api_key& k, timestamp_us now) {
  return !k.revoked_at && (!k.expires_at || now < *k.expires_at);
}

} // namespace ogf::domain
