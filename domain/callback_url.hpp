// Completion callback targets (CONTRACT §7): parsing and checking a
// callback_url, telling public addresses from loopback, private, link-local
// and other non-public ones (the SSRF rules of docs/security.md), and the
// retry backoff. Pure functions: no resolution, no I/O.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ogf::domain {

/// Longest callback_url accepted, in bytes.
inline constexpr std::size_t max_callback_url_bytes = 2048;

/// A callback URL taken apart.
struct callback_target {
  bool https = false;
  /// Host name or IP address as written, without the brackets of an IPv6
  /// literal, lower case.
  std::string host;
  int port = 80; ///< the URL's port, else 80 (http) or 443 (https)
  /// The Host header: host (with brackets for IPv6) and ":port" when the
  /// URL gives one.
  std::string authority;
  /// Path and query to request; "/" when the URL has none.
  std::string target;
};

/// Parses an absolute http or https URL with a host: at most
/// max_callback_url_bytes of printable ASCII without spaces; no user
/// info, no fragment; port 1..65535. On failure `why` says what is wrong.
std::optional<callback_target> parse_callback_url(std::string_view url,
                                                  std::string& why);

/// What kind of address an IP address is, for the SSRF rules.
enum class address_kind {
  public_address,
  loopback,    ///< 127.0.0.0/8, ::1
  private_net, ///< RFC 1918, 100.64.0.0/10 (shared), fc00::/7
  link_local,  ///< 169.254.0.0/16, fe80::/10
  unspecified, ///< 0.0.0.0/8, ::
  multicast,   ///< 224.0.0.0/4, ff00::/8
  reserved,    ///< documentation, benchmarking, 240.0.0.0/4, other special
};

/// "loopback", "private", ... for messages; "public" for public ones.
const char* to_string(address_kind k);

/// The kind of an IPv4 address (network byte order bytes).
address_kind classify_ipv4(const std::array<std::uint8_t, 4>& a);
/// The kind of an IPv6 address; IPv4-mapped, IPv4-compatible, NAT64
/// (64:ff9b::/96) and 6to4 addresses are judged by the IPv4 address inside.
address_kind classify_ipv6(const std::array<std::uint8_t, 16>& a);

/// The kind of `host` when it is an IPv4 or IPv6 literal; nullopt for a
/// host name. IPv4 is read as the resolver (inet_aton, getaddrinfo) reads
/// it: besides dotted quads also the short, octal, hex and single-number
/// forms ("127.1", "0177.0.0.1", "0x7f.0.0.1", "2130706433").
std::optional<address_kind> classify_ip_literal(const std::string& host);

/// The kind of address `host` (lower case, as parse_callback_url gives it)
/// names without asking DNS: an IP literal (classify_ip_literal), or
/// "localhost" and any "*.localhost" name (loopback by RFC 6761), each
/// also with trailing dots. Nullopt for other host names.
std::optional<address_kind> classify_host(const std::string& host);

/// Checks a callback_url for a submit: that it parses, and - unless
/// `allow_private` - that a host classify_host knows is public (other
/// host names are checked on their resolved addresses at delivery).
/// Nullopt when fine, else the message of the validation_error.
std::optional<std::string> check_callback_url(std::string_view url,
                                              bool allow_private);

/// Delay before the next attempt after `attempts` failed ones (1 or more):
/// full jitter, a uniformly random share `jitter` (0..1) of
/// min(cap, base * 2^(attempts-1)).
std::chrono::milliseconds callback_backoff(int attempts,
                                           std::chrono::milliseconds base,
                                           std::chrono::milliseconds cap,
                                           double jitter);

} // namespace ogf::domain
