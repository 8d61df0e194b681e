#include "domain/page_token.hpp"

#include <cstdint>

#include "domain/validation.hpp"

namespace ogf::domain {

namespace {

// Token layout, before base64url: one kind byte, the body, then a 32-bit
// checksum (big-endian) over a salt, the kind and the body. Bumping a kind
// byte retires every token of the old layout.
constexpr char kind_batch = 'B';
constexpr char kind_item = 'I';
constexpr std::size_t checksum_bytes = 4;
constexpr std::size_t max_token_chars = 256;
constexpr std::string_view checksum_salt = "ogf-page-token/1";
// The latest created_at a batch token may carry: 9999-12-31T23:59:59.999999Z,
// the last instant RFC 3339 can write (PostgreSQL would take later ones, up
// to year 294276, or refuse them without naming the parameter).
constexpr std::uint64_t max_created_at_us = 253402300799999999ULL;

constexpr char alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

// FNV-1a: detects a changed or truncated token. Not a secret (the salt is
// in this file), so anyone can seal any body: decoding therefore checks
// every decoded field as if the client had sent it in plain text.
std::uint32_t checksum(std::string_view bytes) {
  std::uint32_t h = 2166136261u;
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 16777619u;
    }
  };
  mix(checksum_salt);
  mix(bytes);
  return h;
}

std::string base64url_encode(std::string_view in) {
  std::string out;
  out.reserve((in.size() * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= in.size(); i += 3) {
    auto n =
        static_cast<std::uint32_t>(static_cast<unsigned char>(in[i])) << 16 |
        static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1])) << 8 |
        static_cast<unsigned char>(in[i + 2]);
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    out += alphabet[n >> 6 & 63];
    out += alphabet[n & 63];
  }
  const auto rest = in.size() - i;
  if (rest > 0) {
    std::uint32_t n = static_cast<unsigned char>(in[i]) << 16;
    if (rest == 2)
      n |= static_cast<std::uint32_t>(static_cast<unsigned char>(in[i + 1]))
           << 8;
    out += alphabet[n >> 18 & 63];
    out += alphabet[n >> 12 & 63];
    if (rest == 2)
      out += alphabet[n >> 6 & 63];
  }
  return out;
}

int base64url_value(char c) {
  if (c >= 'A' && c <= 'Z')
    return c - 'A';
  if (c >= 'a' && c <= 'z')
    return c - 'a' + 26;
  if (c >= '0' && c <= '9')
    return c - '0' + 52;
  if (c == '-')
    return 62;
  if (c == '_')
    return 63;
  return -1;
}

// Strict: only the URL-safe alphabet, no padding, and the unused low bits of
// the last character must be zero, so every byte string has exactly one
// accepted token.
std::optional<std::string> base64url_decode(std::string_view in) {
  if (in.size() % 4 == 1)
    return std::nullopt;
  std::string out;
  out.reserve(in.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    const int v = base64url_value(c);
    if (v < 0)
      return std::nullopt;
    acc = (acc << 6) | static_cast<std::uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xFF);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0)
    return std::nullopt;
  return out;
}

std::string seal(char kind, std::string_view body) {
  std::string bytes(1, kind);
  bytes.append(body);
  const auto sum = checksum(bytes);
  for (int shift = 24; shift >= 0; shift -= 8)
    bytes += static_cast<char>((sum >> shift) & 0xFF);
  return base64url_encode(bytes);
}

// The body of a token of `kind`, if the token is well-formed and intact.
std::optional<std::string> unseal(char kind, std::string_view token) {
  if (token.empty() || token.size() > max_token_chars)
    return std::nullopt;
  auto bytes = base64url_decode(token);
  if (!bytes || bytes->size() < 1 + checksum_bytes || (*bytes)[0] != kind)
    return std::nullopt;
  const auto signed_part =
      std::string_view{*bytes}.substr(0, bytes->size() - checksum_bytes);
  std::uint32_t sum = 0;
  for (std::size_t i = signed_part.size(); i < bytes->size(); ++i)
    sum = (sum << 8) | static_cast<unsigned char>((*bytes)[i]);
  if (sum != checksum(signed_part))
    return std::nullopt;
  return std::string{signed_part.substr(1)};
}

} // namespace

std::string encode_batch_page_token(const batch_cursor& last) {
  std::string body;
  const auto t = static_cast<std::uint64_t>(last.created_at);
  for (int shift = 56; shift >= 0; shift -= 8)
    body += static_cast<char>((t >> shift) & 0xFF);
  body += last.id;
  return seal(kind_batch, body);
}

std::optional<batch_cursor> decode_batch_page_token(std::string_view token) {
  auto body = unseal(kind_batch, token);
  if (!body || body->size() < 8)
    return std::nullopt;
  std::uint64_t t = 0;
  for (std::size_t i = 0; i < 8; ++i)
    t = (t << 8) | static_cast<unsigned char>((*body)[i]);
  // Unsigned, so a "negative" timestamp is refused here too.
  if (t > max_created_at_us)
    return std::nullopt;
  auto id = normalize_uuid(std::string_view{*body}.substr(8));
  if (!id)
    return std::nullopt;
  return batch_cursor{static_cast<timestamp_us>(t), std::move(*id)};
}

std::string encode_item_page_token(std::string_view last_activity_id) {
  return seal(kind_item, last_activity_id);
}

std::optional<std::string> decode_item_page_token(std::string_view token) {
  auto body = unseal(kind_item, token);
  if (!body || !is_valid_activity_id(*body))
    return std::nullopt;
  return body;
}

} // namespace ogf::domain
