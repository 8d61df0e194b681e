// Bearer tokens of API keys (CONTRACT §4): `ogf_<key id>_<secret>`, where the
// key id is 16 and the secret 64 lower-case hex digits (64 bits and 256
// random bits, from OpenSSL's RAND_bytes). Only SHA-256 of the secret is
// stored; a secret of 256 random bits needs no slow KDF (nobody can guess
// it, and a stolen hash cannot be reversed), but the hash comparison is
// constant-time so that answer times say nothing about a stored hash.
#pragma once

#include <string>
#include <string_view>

#include "domain/api_key.hpp"

namespace ogf::auth {

// Parsing and formatting are pure (domain/api_key.hpp, fuzzed there).
using domain::format_token;
using domain::parse_authorization;
using domain::parse_token;
using domain::token;

/// A new token from the system's random source. Throws std::runtime_error
/// when no random bytes are available.
token new_token();

/// Hex SHA-256 of `secret` (64 lower-case hex digits).
std::string hash_secret(std::string_view secret);

/// Compares two hashes in time that depends only on their lengths.
bool same_hash(std::string_view a, std::string_view b);

} // namespace ogf::auth
