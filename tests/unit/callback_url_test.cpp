#include "domain/callback_url.hpp"

#include <catch2/catch.hpp>

#include "domain/validation.hpp"

using namespace ogf::domain;
using namespace std::chrono_literals;

TEST_CASE("a callback URL is taken apart into host, port, Host header and "
          "request target") {
  std::string why;
  auto t = parse_callback_url("HTTPS://Hooks.Example.com:8443/a/b?x=1", why);
  REQUIRE(t);
  CHECK(t->https);
  CHECK(t->host == "hooks.example.com");
  CHECK(t->port == 8443);
  CHECK(t->authority == "Hooks.Example.com:8443");
  CHECK(t->target == "/a/b?x=1");
  t = parse_callback_url("http://[2001:db8::1]?q", why);
  REQUIRE(t);
  CHECK(t->host == "2001:db8::1");
  CHECK(t->port == 80);
  CHECK(t->authority == "[2001:db8::1]");
  CHECK(t->target == "/?q");
  for (const char* bad :
       {"", "ftp://x/", "//example.com/", "http://", "http://:80/",
        "http://a@b/", "http://x/#f", "http://x:/", "http://x:65536/",
        "http://[::1", "http://[zz::1]/", "http://x y/", "http://-x/",
        "http://x/\x01"}) {
    INFO(bad);
    CHECK_FALSE(parse_callback_url(bad, why));
  }
  CHECK(parse_callback_url("http://x/" + std::string(2048 - 9, 'a'), why));
  CHECK_FALSE(
      parse_callback_url("http://x/" + std::string(2048 - 8, 'a'), why));
}

TEST_CASE("loopback, private, link-local, unspecified and reserved "
          "addresses are told from public ones, also inside IPv6") {
  auto kind = [](const char* ip) { return *classify_ip_literal(ip); };
  CHECK(kind("127.0.0.1") == address_kind::loopback);
  CHECK(kind("127.255.0.9") == address_kind::loopback);
  CHECK(kind("10.9.8.7") == address_kind::private_net);
  CHECK(kind("172.16.0.1") == address_kind::private_net);
  CHECK(kind("172.31.255.255") == address_kind::private_net);
  CHECK(kind("172.32.0.1") == address_kind::public_address);
  CHECK(kind("192.168.0.1") == address_kind::private_net);
  CHECK(kind("100.64.0.1") == address_kind::private_net);
  CHECK(kind("169.254.169.254") == address_kind::link_local);
  CHECK(kind("0.0.0.0") == address_kind::unspecified);
  CHECK(kind("224.0.0.1") == address_kind::multicast);
  CHECK(kind("255.255.255.255") == address_kind::reserved);
  CHECK(kind("192.0.2.1") == address_kind::reserved);
  CHECK(kind("93.184.216.34") == address_kind::public_address);
  CHECK(kind("8.8.8.8") == address_kind::public_address);
  CHECK(kind("::") == address_kind::unspecified);
  CHECK(kind("::1") == address_kind::loopback);
  CHECK(kind("fe80::1") == address_kind::link_local);
  CHECK(kind("fd00::1") == address_kind::private_net);
  CHECK(kind("fc00::1") == address_kind::private_net);
  CHECK(kind("ff02::1") == address_kind::multicast);
  CHECK(kind("::ffff:127.0.0.1") == address_kind::loopback);
  CHECK(kind("::ffff:8.8.8.8") == address_kind::public_address);
  CHECK(kind("64:ff9b::10.0.0.1") == address_kind::private_net);
  CHECK(kind("2002:a9fe:a9fe::1") == address_kind::link_local);
  CHECK(kind("2001:db8::1") == address_kind::reserved);
  CHECK(kind("2606:4700::1111") == address_kind::public_address);
  CHECK_FALSE(classify_ip_literal("example.com"));
  CHECK_FALSE(classify_ip_literal("localhost"));
}

TEST_CASE("IPv4 in the short, octal, hex and single-number forms the "
          "resolver takes is classified as the address it means") {
  auto kind = [](const char* ip) {
    INFO(ip);
    auto k = classify_ip_literal(ip);
    REQUIRE(k);
    return *k;
  };
  for (const char* loopback :
       {"127.1", "127.0.1", "0x7f.0.0.1", "0x7F.1", "0177.0.0.1", "0177.1",
        "2130706433", "0x7f000001", "017700000001"}) {
    CHECK(kind(loopback) == address_kind::loopback);
  }
  CHECK(kind("10.1") == address_kind::private_net);
  CHECK(kind("0xa9.0xfe.0xa9.0xfe") == address_kind::link_local);
  CHECK(kind("2852039166") == address_kind::link_local); // 169.254.169.254
  CHECK(kind("0") == address_kind::unspecified);
  CHECK(kind("134744072") == address_kind::public_address); // 8.8.8.8
  CHECK(kind("0x08080808") == address_kind::public_address);
  CHECK_FALSE(classify_ip_literal("127.0.0.1.5"));
  CHECK_FALSE(classify_ip_literal("0x7g.0.0.1"));
  CHECK_FALSE(classify_ip_literal("4294967296")); // 2^32
}

TEST_CASE("localhost and any .localhost name, with or without trailing "
          "dots, are loopback without asking DNS") {
  for (const char* host :
       {"localhost", "localhost.", "localhost..", "api.localhost",
        "a.b.localhost.", "127.0.0.1.", "127.1."}) {
    INFO(host);
    CHECK(classify_host(host) ==
          std::optional<address_kind>(address_kind::loopback));
  }
  CHECK(classify_host("::1") ==
        std::optional<address_kind>(address_kind::loopback));
  CHECK(classify_host("::ffff:127.0.0.1") ==
        std::optional<address_kind>(address_kind::loopback));
  for (const char* name : {"example.com", "example.com.", "localhost.com",
                           "mylocalhost", "localhostx", "localhost.example"}) {
    INFO(name);
    CHECK_FALSE(classify_host(name));
  }
}

TEST_CASE("a submit's callback_url is checked for its form, and literal "
          "non-public hosts only when private targets are not allowed") {
  CHECK_FALSE(check_callback_url("https://example.com/h", false));
  CHECK_FALSE(check_callback_url("https://example.com./h", false));
  CHECK(check_callback_url("http://127.0.0.1/h", false));
  CHECK_FALSE(check_callback_url("http://127.0.0.1/h", true));
  for (const char* loopback :
       {"http://localhost:8080/h", "http://LOCALHOST/", "http://localhost./",
        "http://app.localhost/h", "http://127.1/", "http://0x7f.0.0.1/",
        "http://2130706433/", "http://0177.0.0.1/", "http://[::1]/",
        "http://[::ffff:127.0.0.1]:8080/"}) {
    INFO(loopback);
    auto why = check_callback_url(loopback, false);
    REQUIRE(why);
    CHECK(why->find("loopback") != std::string::npos);
    CHECK_FALSE(check_callback_url(loopback, true));
  }
  CHECK(check_callback_url("gopher://example.com/", true));
  auto parsed = parse_submit_request(
      {{"activity_ids", {"a"}}, {"callback_url", "https://example.com/"}}, 3);
  REQUIRE(parsed);
  CHECK(parsed->callback_url ==
        std::optional<std::string>("https://example.com/"));
  auto refused = parse_submit_request(
      {{"activity_ids", {"a"}}, {"callback_url", "mailto:x@example.com"}}, 3);
  REQUIRE_FALSE(refused);
  CHECK(refused.error().field == "callback_url");
  CHECK(refused.error().code == code_validation_error);
}

TEST_CASE("callback backoff is full jitter under an exponential ceiling "
          "with a cap") {
  CHECK(callback_backoff(1, 1000ms, 3600000ms, 1.0) == 1000ms);
  CHECK(callback_backoff(2, 1000ms, 3600000ms, 1.0) == 2000ms);
  CHECK(callback_backoff(5, 1000ms, 3600000ms, 0.5) == 8000ms);
  CHECK(callback_backoff(13, 1000ms, 3600000ms, 1.0) == 3600000ms);
  CHECK(callback_backoff(1000, 1000ms, 3600000ms, 1.0) == 3600000ms);
  CHECK(callback_backoff(3, 1000ms, 3600000ms, 0.0) == 0ms);
}
