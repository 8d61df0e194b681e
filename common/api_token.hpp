// Bearer tokens of API keys (CONTRACT §4): `ogf_<key id>_<secret>`, where the
// key id is 16 and the secret 64 lower-case hex digits (64 bits and 256
// random bits, from OpenSSL's RAND_bytes). Only SHA-256 of the secret is
// stored; a secret of 256 random bits needs no slow KDF (nobody can guess
// it, and a stolen hash cannot be reversed), but the hash comparison is
// constant-time so that answer times say nothing about a stored hash.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ogf::auth {

/// A token's two parts.
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

/// A new token from the system's random source. Throws std::runtime_error
/// when no random bytes are available.
token new_token();

/// `ogf_<key id>_<secret>`.
std::string format_token(const token& t);

/// Hex SHA-256 of `secret` (64 lower-case hex digits).
std::string hash_secret(std::string_view secret);

/// Compares two hashes in time that depends only on their lengths.
bool same_hash(std::string_view a, std::string_view b);

} // namespace ogf::auth
