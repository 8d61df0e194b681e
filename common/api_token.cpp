#include "common/api_token.hpp"

#include <cctype>
#include <stdexcept>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

namespace ogf::auth {

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

std::string to_hex(const unsigned char* data, std::size_t n) {
  static const char digits[] = "0123456789abcdef";
  std::string out(n * 2, '0');
  for (std::size_t i = 0; i < n; ++i) {
    out[2 * i] = digits[data[i] >> 4];
    out[2 * i + 1] = digits[data[i] & 0x0f];
  }
  return out;
}

std::string random_hex(std::size_t bytes) {
  unsigned char buf[64];
  if (bytes > sizeof(buf) || RAND_bytes(buf, static_cast<int>(bytes)) != 1)
    throw std::runtime_error("no random bytes available for a new API key");
  auto out = to_hex(buf, bytes);
  OPENSSL_cleanse(buf, sizeof(buf));
  return out;
}

bool is_space(char c) {
  return c == ' ' || c == '\t';
}

} // namespace

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

token new_token() {
  return token{random_hex(id_digits / 2), random_hex(secret_digits / 2)};
}

std::string format_token(const token& t) {
  return std::string(prefix) + t.key_id + "_" + t.secret;
}

std::string hash_secret(std::string_view secret) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(secret.data(), secret.size(), md, &len, EVP_sha256(),
                 nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return to_hex(md, len);
}

bool same_hash(std::string_view a, std::string_view b) {
  if (a.size() != b.size())
    return false;
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

} // namespace ogf::auth
