// The connection gate in front of cpp-httplib (http/connection_gate.hpp):
// idle and slow connections hold no thread, every limit answers with the
// contract's error body and closes, and the admin listener serves health and
// metrics only. The whole mix at scale is tests/system/abuse_test.cpp.
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;
using steady = std::chrono::steady_clock;

namespace {

/// A client connection held open by the test.
class held_connection {
public:
  explicit held_connection(int port) {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  }
  held_connection(held_connection&& o) noexcept
      : fd_(std::exchange(o.fd_, -1)) {}
  ~held_connection() {
    if (fd_ >= 0)
      close(fd_);
  }

  void send(const std::string& bytes) {
    REQUIRE(::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
            static_cast<ssize_t>(bytes.size()));
  }

  /// Reads until `answers` complete answers (head + Content-Length body)
  /// arrived, the server closed, or `timeout` passed.
  std::string read(std::chrono::milliseconds timeout, int answers = 1) {
    auto deadline = steady::now() + timeout;
    while (complete_answers() < answers) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                      deadline - steady::now())
                      .count();
      pollfd p{fd_, POLLIN, 0};
      if (left <= 0 || poll(&p, 1, static_cast<int>(left)) <= 0)
        break;
      char buf[4096];
      auto n = recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) {
        closed_ = true;
        break;
      }
      in_.append(buf, static_cast<std::size_t>(n));
    }
    return std::exchange(in_, {});
  }

  /// True once the server closed the connection (waits up to `timeout`).
  bool closed_by_server(std::chrono::milliseconds timeout) {
    read(timeout, 1000);
    return closed_;
  }

private:
  int complete_answers() const {
    int count = 0;
    std::size_t at = 0;
    for (;;) {
      auto end = in_.find("\r\n\r\n", at);
      if (end == std::string::npos)
        return count;
      auto length_at = in_.find("Content-Length: ", at);
      std::size_t length = 0;
      if (length_at != std::string::npos && length_at < end)
        length = std::stoul(in_.substr(length_at + 16));
      if (in_.size() < end + 4 + length)
        return count;
      ++count;
      at = end + 4 + length;
    }
  }

  int fd_ = -1;
  std::string in_;
  bool closed_ = false;
};

/// The first answer of raw HTTP text as a reply (status, headers, body).
reply parse_answer(const std::string& text) {
  reply r;
  if (text.rfind("HTTP/1.1 ", 0) != 0)
    return r;
  r.status = std::stoi(text.substr(9, 3));
  auto end = text.find("\r\n\r\n");
  REQUIRE(end != std::string::npos);
  auto line_start = text.find("\r\n") + 2;
  while (line_start < end) {
    auto line_end = text.find("\r\n", line_start);
    auto line = text.substr(line_start, line_end - line_start);
    auto colon = line.find(": ");
    if (colon != std::string::npos)
      r.headers.emplace(line.substr(0, colon), line.substr(colon + 2));
    line_start = line_end + 2;
  }
  std::size_t length = 0;
  if (auto it = r.headers.find("Content-Length"); it != r.headers.end())
    length = std::stoul(it->second);
  r.body = text.substr(end + 4, length);
  return r;
}

const std::string health_request =
    "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n";

std::chrono::milliseconds time_health(int port) {
  auto start = steady::now();
  CHECK(healthy(port));
  return std::chrono::duration_cast<std::chrono::milliseconds>(steady::now() -
                                                               start);
}

} // namespace

TEST_CASE("idle connections hold no thread: ten times as many as threads do "
          "not delay a request") {
  api_options opts;
  opts.tune = [](ogf::http::http_config& c) {
    c.threads = 2;
    c.keep_alive_timeout = 10s; // what a thread would have waited for
  };
  api_fixture api{opts};
  std::vector<held_connection> idle;
  for (int i = 0; i < 10; ++i) { // kept alive after one request
    idle.emplace_back(api.port());
    idle.back().send(health_request);
    CHECK(parse_answer(idle.back().read(5s)).status == 200);
  }
  for (int i = 0; i < 10; ++i) // connected, never a byte
    idle.emplace_back(api.port());
  CHECK(time_health(api.port()) < 1s);
  // The kept-alive ones still work.
  idle.front().send(health_request);
  CHECK(parse_answer(idle.front().read(5s)).status == 200);
}

TEST_CASE("pipelined requests on one connection are answered in order") {
  api_fixture api;
  held_connection c{api.port()};
  c.send(health_request + "GET /api/v1/batches HTTP/1.1\r\nHost: x\r\n\r\n" +
         health_request);
  auto text = c.read(5s, 3);
  auto first = text.find("HTTP/1.1 200");
  auto second = text.find("HTTP/1.1 401", first + 1);
  auto third = text.find("HTTP/1.1 200", second + 1);
  INFO(text);
  CHECK(first == 0);
  CHECK(second != std::string::npos);
  CHECK(third != std::string::npos);
}

TEST_CASE("a body that a GET leaves unread is never taken for a next "
          "request on the same connection") {
  api_fixture api;
  held_connection c{api.port()};
  const std::string smuggled =
      "GET /api/v1/batches HTTP/1.1\r\nHost: x\r\n\r\n";
  c.send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nContent-Length: " +
         std::to_string(smuggled.size()) + "\r\n\r\n" + smuggled);
  auto text = c.read(3s, 2);
  INFO(text);
  CHECK(text.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(text.find("HTTP/1.1 401") == std::string::npos); // the smuggled one
  CHECK(c.closed_by_server(3s));
}

TEST_CASE("a request head that does not arrive within the header timeout "
          "answers 408 and closes, while the server keeps serving") {
  api_options opts;
  opts.tune = [](ogf::http::http_config& c) {
    c.threads = 2;
    c.header_timeout = 1s;
  };
  api_fixture api{opts};
  std::vector<held_connection> slow;
  for (int i = 0; i < 6; ++i) {
    slow.emplace_back(api.port());
    slow.back().send("GET /api/v1/health HTTP/1.1\r\nHost: x\r\nX-Slow: ");
  }
  auto started = steady::now();
  // Meanwhile, with more slow clients than threads, requests are answered.
  CHECK(time_health(api.port()) < 1s);
  for (auto& c : slow) {
    auto r = parse_answer(c.read(5s));
    check_error(r, 408, "request_timeout");
    CHECK(r.header("Connection") == "close");
    CHECK(c.closed_by_server(3s));
  }
  auto waited = steady::now() - started;
  CHECK(waited >= 900ms);
  CHECK(waited < 4s);
}

TEST_CASE("a request head over 32 KiB answers 431 and closes") {
  api_fixture api;
  for (const auto& head :
       {"GET /api/v1/health HTTP/1.1\r\nX-Big: " + std::string(40000, 'b') +
            "\r\n\r\n",
        "GET /api/v1/health HTTP/1.1\r\nX-Big: " + std::string(40000, 'b')}) {
    held_connection c{api.port()};
    c.send(head);
    auto r = parse_answer(c.read(5s));
    check_error(r, 431, "request_header_fields_too_large");
    CHECK(c.closed_by_server(3s));
  }
  CHECK(healthy(api.port()));
}

TEST_CASE("a Content-Length over the body limit answers 413 before any body "
          "is sent") {
  api_options opts;
  opts.max_body_bytes = 64 * 1024;
  api_fixture api{opts};
  held_connection c{api.port()};
  auto started = steady::now();
  c.send("POST /api/v1/batches HTTP/1.1\r\nHost: x\r\nX-Org-ID: acme\r\n"
         "X-Workspace-ID: main\r\nContent-Type: application/json\r\n"
         "Content-Length: 100000000\r\n\r\n");
  auto r = parse_answer(c.read(5s));
  check_error(r, 413, "payload_too_large");
  CHECK(steady::now() - started < 2s);
  CHECK(c.closed_by_server(3s));
}

TEST_CASE("connections beyond max_connections answer 503 and close, and freed "
          "ones are available again") {
  api_options opts;
  opts.tune = [](ogf::http::http_config& c) {
    c.max_connections = 16;
    c.keep_alive_timeout = 10s;
  };
  api_fixture api{opts};
  std::vector<held_connection> held;
  for (int i = 0; i < 16; ++i)
    held.emplace_back(api.port());
  held_connection extra{api.port()};
  auto r = parse_answer(extra.read(5s));
  check_error(r, 503, "unavailable");
  CHECK(extra.closed_by_server(3s));
  held.clear();
  CHECK(wait_until([&] { return healthy(api.port()); }, 5s, 50ms));
}

TEST_CASE("with every thread busy and the queue full, a request is answered "
          "503 at once instead of waiting") {
  api_options opts;
  opts.tune = [](ogf::http::http_config& c) {
    c.threads = 2;
    c.max_queued_requests = 1;
    c.admin_host = "127.0.0.1"; // to watch the gauges
  };
  api_fixture api{opts};
  httplib::Client admin("127.0.0.1", api.server().admin_port());
  auto gauge = [&](const std::string& state) {
    auto m = admin.Get("/metrics");
    REQUIRE(m);
    auto series = "ogf_http_connections{state=\"" + state + "\"} ";
    auto at = m->body.find(series);
    return at == std::string::npos
               ? -1.0
               : std::stod(m->body.substr(at + series.size()));
  };
  // Bodies over 64 KiB are read by a thread: two that never finish hold
  // both threads (one after the other: the queue holds only one).
  std::vector<held_connection> busy;
  for (int i = 1; i <= 2; ++i) {
    busy.emplace_back(api.port());
    busy.back().send(
        "POST /api/v1/activities HTTP/1.1\r\nHost: x\r\nX-Org-ID: acme\r\n"
        "X-Workspace-ID: main\r\nContent-Type: text/csv\r\n"
        "Content-Length: 200000\r\n\r\nid,");
    REQUIRE(wait_until([&] { return gauge("busy") == i; }, 5s, 20ms));
  }
  held_connection queued{api.port()};
  queued.send(health_request);
  REQUIRE(wait_until([&] { return gauge("queued") == 1; }, 5s, 20ms));
  held_connection shed{api.port()};
  auto started = steady::now();
  shed.send(health_request);
  auto r = parse_answer(shed.read(5s));
  check_error(r, 503, "unavailable");
  CHECK(steady::now() - started < 1s);
  // Freeing the threads lets the queued one through.
  busy.clear();
  CHECK(parse_answer(queued.read(10s)).status == 200);
}

TEST_CASE("more event streams than allowed answer 503 while the others "
          "stream") {
  api_options opts;
  opts.chunk_size = 1;
  opts.chunk_delay = 300ms;
  opts.tune = [](ogf::http::http_config& c) { c.max_event_streams = 1; };
  api_fixture api{opts};
  api.upload_activities(20);
  auto batch = api.submit(activity_ids(20));
  auto path = "/api/v1/batches/" + batch["id"].get<std::string>() + "/events";
  held_connection stream{api.port()};
  stream.send("GET " + path +
              " HTTP/1.1\r\nHost: x\r\nX-Org-ID: acme\r\n"
              "X-Workspace-ID: main\r\n\r\n");
  auto head = stream.read(3s, 0);
  REQUIRE(wait_until([&] { return api.stats().subscribers >= 1; }, 5s, 20ms));
  check_error(api.get(path), 503, "unavailable");
}

TEST_CASE("the admin listener answers health and metrics, and nothing else") {
  api_options opts;
  opts.tune = [](ogf::http::http_config& c) {
    c.admin_host = "127.0.0.1";
    c.admin_port = 0;
  };
  api_fixture api{opts};
  int admin = api.server().admin_port();
  REQUIRE(admin > 0);
  CHECK(admin != api.port());
  httplib::Client cli("127.0.0.1", admin);
  auto health = cli.Get("/api/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "ok");
  auto metrics = cli.Get("/metrics");
  REQUIRE(metrics);
  CHECK(metrics->status == 200);
  CHECK(metrics->body.find("ogf_http_connections{") != std::string::npos);
  CHECK(metrics->body.find("ogf_http_connections_max ") != std::string::npos);
  check_error(to_reply(cli.Get("/api/v1/batches", acme.headers())), 404,
              "not_found");
  check_error(to_reply(cli.Post("/api/v1/batches", acme.headers(), "{}",
                                "application/json")),
              404, "not_found");
  // Methods it does not serve, also those cpp-httplib cannot parse.
  for (std::string method : {"TRACE", "PROPFIND"}) {
    INFO(method);
    auto answer = raw_exchange(admin,
                               method + " /api/v1/health HTTP/1.1\r\n"
                                        "Host: x\r\n\r\n",
                               true);
    CHECK(answer.rfind("HTTP/1.1 404", 0) == 0);
    CHECK(answer.find("X-Request-ID: ") != std::string::npos);
  }
  // The API port is unchanged.
  CHECK(healthy(api.port()));
}
