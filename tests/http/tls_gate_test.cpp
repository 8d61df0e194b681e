// The connection gate with TLS (http/connection_gate.hpp, http/transport.hpp):
// what cpp-httplib's own SSLServer never had to get right, because it gives
// every connection a thread: bytes TLS has decrypted but epoll cannot see,
// canned answers written through TLS, and the protocol floor.
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "http/api_fixture.hpp"
#include "support/system_helpers.hpp"
#include "support/tls_client.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// Statuses of the answers in raw HTTP text, in order.
std::vector<int> statuses_in(const std::string& raw) {
  std::vector<int> out;
  for (auto at = raw.find("HTTP/1.1 "); at != std::string::npos;
       at = raw.find("HTTP/1.1 ", at + 1))
    out.push_back(std::stoi(raw.substr(at + 9, 3)));
  return out;
}

/// An api_fixture serving HTTPS with `cert`, further tuned by `more`.
api_options
tls_options(const test_certificate& cert,
            std::function<void(ogf::http::http_config&)> more = nullptr) {
  api_options opts;
  opts.tune = [cert, more](ogf::http::http_config& c) {
    c.tls_cert_file = cert.cert.string();
    c.tls_key_file = cert.key.string();
    if (more)
      more(c);
  };
  return opts;
}

} // namespace

TEST_CASE("over TLS, a body read by a pool thread and a request pipelined "
          "right behind it in the same records are both answered, in order") {
  temp_dir dir{"ogf-tls-gate"};
  auto cert = make_test_certificate(dir.path, "server");
  api_fixture api{tls_options(cert)};
  REQUIRE(api.server().tls());

  // Over 64 KiB: the pool thread reads the body through TLS in small
  // pieces, and the GET behind it ends up decrypted inside TLS, where
  // epoll cannot see it.
  json ids = json::array();
  for (int i = 0; i < 6000; ++i)
    ids.push_back("pipelined-activity-" + std::to_string(i));
  auto body = json{{"activity_ids", ids}}.dump();
  REQUIRE(body.size() > 64 * 1024);
  tls_connection conn{api.port(), cert.cert};
  REQUIRE(conn.ok());
  REQUIRE(conn.send_all("POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n"
                        "X-Org-ID: acme\r\nX-Workspace-ID: main\r\n"
                        "Content-Type: application/json\r\nContent-Length: " +
                        std::to_string(body.size()) + "\r\n\r\n" + body +
                        "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto raw = conn.read_answers(2, 20s);
  CHECK(statuses_in(raw) == std::vector<int>{201, 200});
  // And the connection stays usable for a third.
  REQUIRE(conn.send_all("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(statuses_in(conn.read_answers(3, 10s)) ==
        std::vector<int>{201, 200, 200});
}

TEST_CASE("over TLS, a head over the limit is answered 431 and a head that "
          "stops half-way 408, both through TLS, and both connections "
          "close") {
  temp_dir dir{"ogf-tls-gate"};
  auto cert = make_test_certificate(dir.path, "server");
  api_fixture api{tls_options(
      cert, [](ogf::http::http_config& c) { c.header_timeout = 500ms; })};

  tls_connection big{api.port(), cert.cert};
  REQUIRE(big.ok());
  REQUIRE(big.send_all("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Big: " +
                       std::string(40 * 1024, 'a') + "\r\n\r\n"));
  auto too_large = big.read_answers(1, 10s);
  REQUIRE(statuses_in(too_large) == std::vector<int>{431});
  auto body = too_large.substr(too_large.find("\r\n\r\n") + 4);
  CHECK(json::parse(body)["error"]["code"] ==
        "request_header_fields_too_large");
  CHECK(big.wait_closed(5s));

  tls_connection slow{api.port(), cert.cert};
  REQUIRE(slow.ok());
  REQUIRE(slow.send_all("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n"));
  auto timed_out = slow.read_answers(1, 10s);
  REQUIRE(statuses_in(timed_out) == std::vector<int>{408});
  CHECK(json::parse(timed_out.substr(timed_out.find("\r\n\r\n") +
                                     4))["error"]["code"] == "request_timeout");
  CHECK(slow.wait_closed(5s));

  // Both refusals were counted like plain ones.
  tls_connection metrics{api.port(), cert.cert};
  REQUIRE(metrics.ok());
  REQUIRE(metrics.send_all("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto text = metrics.read_answers(1, 10s);
  CHECK(
      text.find(
          R"(ogf_http_connections_refused_total{reason="head_too_large"} 1)") !=
      std::string::npos);
  CHECK(text.find(
            R"(ogf_http_connections_refused_total{reason="head_timeout"} 1)") !=
        std::string::npos);
}

TEST_CASE("a TLS client that offers at most TLS 1.1 is refused, while TLS 1.2 "
          "and 1.3 clients are served") {
  temp_dir dir{"ogf-tls-gate"};
  auto cert = make_test_certificate(dir.path, "server");
  api_fixture api{tls_options(cert)};

  tls_connection old{api.port(), cert.cert, TLS1_1_VERSION};
  CHECK_FALSE(old.ok());
  for (int version : {TLS1_2_VERSION, TLS1_3_VERSION}) {
    INFO("version " << std::hex << version);
    tls_connection conn{api.port(), cert.cert, version};
    REQUIRE(conn.ok());
    REQUIRE(conn.send_all("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
    CHECK(statuses_in(conn.read_answers(1, 10s)) == std::vector<int>{200});
  }
}

TEST_CASE("a server given a key of another certificate refuses to bind, "
          "naming the key file") {
  temp_dir dir{"ogf-tls-gate"};
  auto mine = make_test_certificate(dir.path, "server");
  auto other = make_test_certificate(dir.path, "other");
  CHECK_THROWS_AS(
      ogf::http::check_tls_files(mine.cert.string(), other.key.string()),
      ogf::http::tls_config_error);
  CHECK_THROWS_WITH(
      ogf::http::check_tls_files(mine.cert.string(), other.key.string()),
      Catch::Contains(other.key.string()) && Catch::Contains("does not match"));
  CHECK_THROWS_WITH(ogf::http::check_tls_files((dir.path / "none.pem").string(),
                                               mine.key.string()),
                    Catch::Contains("none.pem") &&
                        Catch::Contains("cannot be read"));
  CHECK_NOTHROW(
      ogf::http::check_tls_files(mine.cert.string(), mine.key.string()));
}
