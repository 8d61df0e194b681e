#include "domain/callback_url.hpp"

#include <algorithm>
#include <arpa/inet.h>
#include <cctype>
#include <cmath>

namespace ogf::domain {

namespace {

bool starts_with_ci(std::string_view s, std::string_view prefix) {
  if (s.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(s[i])) != prefix[i])
      return false;
  return true;
}

bool is_host_name_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '.' ||
         c == '_';
}

} // namespace

std::optional<callback_target> parse_callback_url(std::string_view url,
                                                  std::string& why) {
  if (url.empty() || url.size() > max_callback_url_bytes) {
    why = "must be 1 to " + std::to_string(max_callback_url_bytes) + " bytes";
    return std::nullopt;
  }
  for (char c : url)
    if (static_cast<unsigned char>(c) <= 0x20 ||
        static_cast<unsigned char>(c) >= 0x7f) {
      why = "must be printable ASCII without spaces (percent-encode the rest)";
      return std::nullopt;
    }
  callback_target t;
  std::string_view rest;
  if (starts_with_ci(url, "https://")) {
    t.https = true;
    t.port = 443;
    rest = url.substr(8);
  } else if (starts_with_ci(url, "http://")) {
    rest = url.substr(7);
  } else {
    why = "must be an absolute http:// or https:// URL";
    return std::nullopt;
  }
  if (rest.find('#') != std::string_view::npos) {
    why = "must not have a fragment (#)";
    return std::nullopt;
  }
  auto end = rest.find_first_of("/?");
  auto authority = rest.substr(0, end);
  t.target =
      end == std::string_view::npos ? "/" : std::string(rest.substr(end));
  if (t.target[0] == '?')
    t.target.insert(t.target.begin(), '/');
  if (authority.find('@') != std::string_view::npos) {
    why = "must not carry user info (user:password@)";
    return std::nullopt;
  }
  std::string_view host, port;
  bool has_port = false;
  if (!authority.empty() && authority[0] == '[') {
    auto close = authority.find(']');
    if (close == std::string_view::npos) {
      why = "has an unclosed [ in its host";
      return std::nullopt;
    }
    host = authority.substr(1, close - 1);
    auto after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        why = "has text after its IPv6 host";
        return std::nullopt;
      }
      port = after.substr(1);
      has_port = true;
    }
    in6_addr v6{};
    if (inet_pton(AF_INET6, std::string(host).c_str(), &v6) != 1) {
      why = "has an invalid IPv6 address";
      return std::nullopt;
    }
  } else {
    auto colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port = authority.substr(colon + 1);
      has_port = true;
    }
    if (host.empty() || host.size() > 253 ||
        !std::all_of(host.begin(), host.end(), is_host_name_char) ||
        host.front() == '.' || host.front() == '-') {
      why = "must have a host name or IP address";
      return std::nullopt;
    }
  }
  if (host.empty()) {
    why = "must have a host";
    return std::nullopt;
  }
  if (has_port) {
    if (port.empty() || port.size() > 5 ||
        !std::all_of(port.begin(), port.end(),
                     [](char c) { return c >= '0' && c <= '9'; })) {
      why = "has an invalid port";
      return std::nullopt;
    }
    t.port = std::stoi(std::string(port));
    if (t.port < 1 || t.port > 65535) {
      why = "has a port outside 1..65535";
      return std::nullopt;
    }
  }
  t.host.resize(host.size());
  std::transform(host.begin(), host.end(), t.host.begin(), [](char c) {
    return static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  });
  t.authority = std::string(authority);
  return t;
}

const char* to_string(address_kind k) {
  switch (k) {
  case address_kind::public_address:
    return "public";
  case address_kind::loopback:
    return "loopback";
  case address_kind::private_net:
    return "private";
  case address_kind::link_local:
    return "link-local";
  case address_kind::unspecified:
    return "unspecified";
  case address_kind::multicast:
    return "multicast";
  case address_kind::reserved:
    return "reserved";
  }
  return "reserved";
}

address_kind classify_ipv4(const std::array<std::uint8_t, 4>& a) {
  const unsigned b0 = a[0], b1 = a[1], b2 = a[2];
  if (b0 == 0)
    return address_kind::unspecified; // 0.0.0.0/8, "this network"
  if (b0 == 127)
    return address_kind::loopback;
  if (b0 == 10 || (b0 == 172 && (b1 & 0xf0) == 16) ||
      (b0 == 192 && b1 == 168) || (b0 == 100 && (b1 & 0xc0) == 64))
    return address_kind::private_net; // RFC 1918, RFC 6598 shared space
  if (b0 == 169 && b1 == 254)
    return address_kind::link_local; // cloud metadata lives here
  if (b0 >= 224 && b0 <= 239)
    return address_kind::multicast;
  if (b0 >= 240 ||                                      // reserved, broadcast
      (b0 == 192 && b1 == 0 && (b2 == 0 || b2 == 2)) || // IETF, TEST-NET-1
      (b0 == 198 && (b1 & 0xfe) == 18) ||               // benchmarking
      (b0 == 198 && b1 == 51 && b2 == 100) ||           // TEST-NET-2
      (b0 == 203 && b1 == 0 && b2 == 113))              // TEST-NET-3
    return address_kind::reserved;
  return address_kind::public_address;
}

address_kind classify_ipv6(const std::array<std::uint8_t, 16>& a) {
  auto zero_until = [&](int n) {
    return std::all_of(a.begin(), a.begin() + n,
                       [](std::uint8_t b) { return b == 0; });
  };
  auto v4_at = [&](int i) {
    return classify_ipv4({a[i], a[i + 1], a[i + 2], a[i + 3]});
  };
  if (zero_until(16))
    return address_kind::unspecified;
  if (zero_until(15) && a[15] == 1)
    return address_kind::loopback;
  if (zero_until(10) && a[10] == 0xff && a[11] == 0xff)
    return v4_at(12); // IPv4-mapped ::ffff:a.b.c.d
  if (zero_until(12))
    return v4_at(12); // IPv4-compatible (deprecated) ::a.b.c.d
  if (a[0] == 0x00 && a[1] == 0x64 && a[2] == 0xff && a[3] == 0x9b &&
      std::all_of(a.begin() + 4, a.begin() + 12,
                  [](std::uint8_t b) { return b == 0; }))
    return v4_at(12); // NAT64 64:ff9b::/96
  if (a[0] == 0x20 && a[1] == 0x02)
    return v4_at(2); // 6to4 2002::/16
  if ((a[0] & 0xfe) == 0xfc)
    return address_kind::private_net; // unique local fc00::/7
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0x80)
    return address_kind::link_local; // fe80::/10
  if (a[0] == 0xfe && (a[1] & 0xc0) == 0xc0)
    return address_kind::private_net; // site-local fec0::/10 (deprecated)
  if (a[0] == 0xff)
    return address_kind::multicast;
  if ((a[0] == 0x20 && a[1] == 0x01 && a[2] == 0x0d && a[3] == 0xb8) ||
      (a[0] & 0xe0) != 0x20)
    return address_kind::reserved; // documentation, discard, not global
                                   // unicast (2000::/3)
  return address_kind::public_address;
}

std::optional<address_kind> classify_ip_literal(const std::string& host) {
  // inet_aton, not inet_pton: getaddrinfo takes "127.1" or "2130706433" as
  // 127.0.0.1 too, and a check that reads them as names would let them by.
  // The host has no spaces (parse_callback_url), after which inet_aton
  // would ignore the rest.
  in_addr v4{};
  if (host.find_first_of(" \t\n") == std::string::npos &&
      inet_aton(host.c_str(), &v4) != 0) {
    std::array<std::uint8_t, 4> a{};
    std::copy_n(reinterpret_cast<const std::uint8_t*>(&v4.s_addr), 4,
                a.begin());
    return classify_ipv4(a);
  }
  in6_addr v6{};
  if (inet_pton(AF_INET6, host.c_str(), &v6) == 1) {
    std::array<std::uint8_t, 16> a{};
    std::copy_n(v6.s6_addr, 16, a.begin());
    return classify_ipv6(a);
  }
  return std::nullopt;
}

std::optional<address_kind> classify_host(const std::string& host) {
  // "localhost." is the same name as "localhost" (fully qualified), and
  // the resolver takes "127.0.0.1." for the address.
  auto name = host;
  while (!name.empty() && name.back() == '.')
    name.pop_back();
  if (auto kind = classify_ip_literal(name))
    return kind;
  if (auto kind = classify_ip_literal(host))
    return kind;
  static constexpr std::string_view suffix = ".localhost";
  if (name == "localhost" ||
      (name.size() > suffix.size() &&
       name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0))
    return address_kind::loopback;
  return std::nullopt;
}

std::optional<std::string> check_callback_url(std::string_view url,
                                              bool allow_private) {
  std::string why;
  auto t = parse_callback_url(url, why);
  if (!t)
    return "callback_url " + why;
  if (allow_private)
    return std::nullopt;
  auto kind = classify_host(t->host);
  if (kind && *kind != address_kind::public_address)
    return std::string("callback_url must not point at a ") + to_string(*kind) +
           " address (the server refuses non-public callback targets)";
  return std::nullopt;
}

std::chrono::milliseconds callback_backoff(int attempts,
                                           std::chrono::milliseconds base,
                                           std::chrono::milliseconds cap,
                                           double jitter) {
  const int doublings = std::clamp(attempts - 1, 0, 40);
  double ceiling =
      static_cast<double>(base.count()) * std::ldexp(1.0, doublings);
  ceiling = std::min(ceiling, static_cast<double>(cap.count()));
  jitter = std::clamp(jitter, 0.0, 1.0);
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(std::floor(ceiling * jitter)));
}

} // namespace ogf::domain
