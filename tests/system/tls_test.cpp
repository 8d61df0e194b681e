// HTTPS (CONTRACT §4 "TLS"): the real binary with --tls-cert and --tls-key,
// a certificate made for the test by the openssl command line, and clients
// that verify it.
#include <algorithm>
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/system_helpers.hpp"
#include "support/tls_client.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const httplib::Headers acme_tenant{{"X-Org-ID", "acme"},
                                   {"X-Workspace-ID", "main"}};

/// An HTTPS client of 127.0.0.1:port that trusts only `ca`.
std::unique_ptr<httplib::SSLClient> https_client(int port, const fs::path& ca) {
  auto cli = std::make_unique<httplib::SSLClient>("127.0.0.1", port);
  cli->set_ca_cert_path(ca.c_str());
  cli->enable_server_certificate_verification(true);
  cli->set_connection_timeout(2, 0);
  cli->set_read_timeout(10, 0);
  return cli;
}

/// Status of GET /api/v1/health over HTTPS, trusting `ca`; 0 without one.
int https_health(int port, const fs::path& ca) {
  auto cli = https_client(port, ca);
  auto res = cli->Get("/api/v1/health");
  return res ? res->status : 0;
}

/// The value of the sample `series` (name and labels, as exposed) in GET
/// /metrics over HTTPS; -1 when there is none.
double https_metric(int port, const fs::path& ca, const std::string& series) {
  auto res = https_client(port, ca)->Get("/metrics");
  if (!res || res->status != 200)
    return -1;
  auto at = res->body.find("\n" + series + " ");
  if (at == std::string::npos)
    return -1;
  return std::stod(res->body.substr(at + series.size() + 2));
}

/// `serve` on the embedded database in `dir`, on `port`, with `extra` flags.
std::vector<std::string> serve_args(const temp_dir& dir, int port,
                                    std::vector<std::string> extra) {
  std::vector<std::string> args{
      server_binary(), "serve",
      "--listen",      "127.0.0.1:" + std::to_string(port),
      "--data-dir",    (dir.path / "data").string()};
  args.insert(args.end(), extra.begin(), extra.end());
  return args;
}

std::size_t lines_in(const std::string& text) {
  return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
}

} // namespace

TEST_CASE("serve with --tls-cert and --tls-key answers HTTPS that verifies "
          "against its certificate: health, a submit read back, and an event "
          "stream that ends with done") {
  temp_dir dir{"ogf-tls"};
  auto mine = make_test_certificate(dir.path, "server");
  auto other = make_test_certificate(dir.path, "other");
  auto port = free_port();
  auto admin_port = free_port();
  child_process server(
      serve_args(dir, port,
                 {"--tls-cert", mine.cert.string(), "--tls-key",
                  mine.key.string(), "--admin-listen",
                  "127.0.0.1:" + std::to_string(admin_port)}),
      {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return https_health(port, mine.cert) == 200; }, 60s,
                     100ms));
  // The start says it serves TLS.
  auto log = server.output();
  auto listening = log.find("\"msg\":\"listening\"");
  REQUIRE(listening != std::string::npos);
  auto line_start = log.rfind('\n', listening);
  auto line = json::parse(
      log.substr(line_start == std::string::npos ? 0 : line_start + 1,
                 log.find('\n', listening) -
                     (line_start == std::string::npos ? 0 : line_start + 1)));
  CHECK(line["tls"] == true);

  // A client that trusts another certificate refuses this server: the
  // verification above is real.
  CHECK(https_health(port, other.cert) == 0);
  // Plain HTTP gets no answer on the HTTPS port; the admin listener stays
  // plain HTTP for local probes.
  CHECK(health_status(port) == 0);
  CHECK(health_status(admin_port) == 200);

  auto cli = https_client(port, mine.cert);
  cli->set_keep_alive(true);
  auto health = cli->Get("/api/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  CHECK(json::parse(health->body)["status"] == "ok");

  auto submitted = cli->Post("/api/v1/batches", acme_tenant,
                             R"({"activity_ids": ["a1", "a2"], "priority": 7,
                                 "metadata": {"via": "tls"}})",
                             "application/json");
  REQUIRE(submitted);
  REQUIRE(submitted->status == 201);
  auto batch = json::parse(submitted->body);
  auto id = batch["id"].get<std::string>();
  CHECK(submitted->get_header_value("Location") == "/api/v1/batches/" + id);
  // Read back on the same (kept-alive) TLS connection.
  auto read = cli->Get(("/api/v1/batches/" + id).c_str(), acme_tenant);
  REQUIRE(read);
  CHECK(read->status == 200);
  auto got = json::parse(read->body);
  CHECK(got["id"] == id);
  CHECK(got["priority"] == 7);
  CHECK(got["total_activities"] == 2);
  CHECK(got["metadata"]["via"] == "tls");

  // The event stream: chunks written by a pool thread through TLS until
  // the batch ends (its activities do not exist: it fails, quickly).
  std::string events;
  auto stream = https_client(port, mine.cert);
  stream->set_read_timeout(30, 0);
  auto streamed =
      stream->Get(("/api/v1/batches/" + id + "/events").c_str(), acme_tenant,
                  [&](const char* data, std::size_t size) {
                    events.append(data, size);
                    return true;
                  });
  REQUIRE(streamed);
  CHECK(streamed->status == 200);
  CHECK(streamed->get_header_value("Content-Type")
            .rfind("text/event-stream", 0) == 0);
  auto done = events.find("event: done\ndata: ");
  REQUIRE(done != std::string::npos);
  auto data_start = done + std::string("event: done\ndata: ").size();
  auto final_batch = json::parse(
      events.substr(data_start, events.find('\n', data_start) - data_start));
  CHECK(final_batch["id"] == id);
  CHECK((final_batch["status"] == "completed" ||
         final_batch["status"] == "failed"));

  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
}

TEST_CASE("on the TLS port, plain HTTP fails its handshake and silent "
          "clients are closed after the head timeout, without keeping "
          "others from being served, and over the connection limit TLS "
          "clients read a 503") {
  temp_dir dir{"ogf-tls"};
  auto cert = make_test_certificate(dir.path, "server");
  auto port = free_port();
  // Two HTTP threads: a handshake that held one would starve the rest.
  child_process server(
      serve_args(dir, port,
                 {"--tls-cert", cert.cert.string(), "--tls-key",
                  cert.key.string(), "--http-threads", "2", "--max-connections",
                  "16", "--log-level", "warn"}),
      {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return https_health(port, cert.cert) == 200; }, 60s,
                     100ms));

  // Plain HTTP on the TLS port: no HTTP answer, the connection is closed.
  raw_client plain{port};
  REQUIRE(plain.ok());
  REQUIRE(plain.send_all("GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n"));
  CHECK(plain.wait_closed(10s));
  CHECK(status_of(plain.read_answer(0ms)) == 0);
  // ... and the next TLS client is served as usual.
  CHECK(https_health(port, cert.cert) == 200);

  // Clients that connect and never send a ClientHello, more of them than
  // HTTP threads: others are still served.
  auto silent_since = std::chrono::steady_clock::now();
  std::vector<raw_client> silent;
  for (int i = 0; i < 5; ++i) {
    silent.emplace_back(port);
    REQUIRE(silent.back().ok());
  }
  CHECK(https_health(port, cert.cert) == 200);
  auto cli = https_client(port, cert.cert);
  auto listed = cli->Get("/api/v1/batches", acme_tenant);
  REQUIRE(listed);
  CHECK(listed->status == 200);

  // Up to the connection limit (16): the next TLS client completes its
  // handshake and reads the 503 through TLS. The clients above have gone
  // first: only the silent ones are parked.
  const std::string parked = R"(ogf_http_connections{state="parked"})";
  REQUIRE(wait_until([&] { return https_metric(port, cert.cert, parked) == 5; },
                     10s, 50ms));
  const std::string over_capacity =
      R"(ogf_http_connections_refused_total{reason="over_capacity"})";
  auto refused_before = https_metric(port, cert.cert, over_capacity);
  // On a machine so loaded that the head timeout (10 s after they came)
  // has closed the first silent clients before the last ones are open, the
  // slots are not all taken: then this part is done again with sixteen
  // fresh silent clients.
  std::optional<httplib::Response> refused;
  for (int attempt = 0; attempt < 3; ++attempt) {
    if (attempt > 0) {
      for (auto& s : silent)
        CHECK(s.wait_closed(20s));
      silent.clear();
      REQUIRE(
          wait_until([&] { return https_metric(port, cert.cert, parked) == 0; },
                     10s, 50ms));
      silent_since = std::chrono::steady_clock::now();
    }
    for (int i = 0; i < (attempt == 0 ? 11 : 16); ++i) {
      silent.emplace_back(port);
      REQUIRE(silent.back().ok());
    }
    auto answer = https_client(port, cert.cert)->Get("/api/v1/health");
    REQUIRE(answer);
    refused = *answer;
    if (answer->status == 503 ||
        std::chrono::steady_clock::now() - silent_since < 9s)
      break;
  }
  CHECK(refused->status == 503);
  CHECK(refused->get_header_value("Retry-After") == "1");
  CHECK(json::parse(refused->body)["error"]["code"] == "unavailable");
  CHECK(refused->get_header_value("X-Request-ID").size() == 32);

  // The silent ones are closed once the head timeout (10 s from their
  // arrival) has passed, not at the 2 s idle timeout of a connection that
  // finished its handshake.
  for (auto& s : silent)
    CHECK(s.wait_closed(20s));
  auto took = std::chrono::steady_clock::now() - silent_since;
  INFO("closed after "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms");
  CHECK(took >= 9s);
  // With their slots back, TLS clients are served again, and the refusal
  // was counted. At least once: a metrics or health connection of the
  // lines above may still be closing when the silent ones arrive, and
  // then the last silent one is refused too (CI, a busy machine).
  CHECK(https_health(port, cert.cert) == 200);
  CHECK(https_metric(port, cert.cert, over_capacity) >= refused_before + 1);

  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
}

TEST_CASE("SIGTERM with a TLS event stream open and a TLS keep-alive "
          "connection idle exits 0 within --shutdown-timeout") {
  temp_dir dir{"ogf-tls"};
  auto cert = make_test_certificate(dir.path, "server");
  auto port = free_port();
  // Through the environment this time. One worker, one activity per chunk:
  // a 20,000-activity batch keeps processing for far longer than the test,
  // so its event stream stays open.
  child_process server(
      serve_args(dir, port,
                 {"--shutdown-timeout", "3s", "--workers", "1", "--chunk-size",
                  "1", "--max-batch-activities", "20000", "--log-level",
                  "warn"}),
      {{"OGF_TLS_CERT", cert.cert.string()},
       {"OGF_TLS_KEY", cert.key.string()}},
      (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return https_health(port, cert.cert) == 200; }, 60s,
                     100ms));

  auto cli = https_client(port, cert.cert);
  cli->set_keep_alive(true);
  json ids = json::array();
  for (int i = 0; i < 20000; ++i)
    ids.push_back("busy" + std::to_string(i));
  auto submitted =
      cli->Post("/api/v1/batches", acme_tenant,
                json{{"activity_ids", ids}}.dump(), "application/json");
  REQUIRE(submitted);
  REQUIRE(submitted->status == 201);
  auto id = json::parse(submitted->body)["id"].get<std::string>();

  std::atomic<std::size_t> received{0};
  std::atomic<bool> stream_ended{false};
  std::string events;
  std::thread stream_thread([&] {
    auto stream = https_client(port, cert.cert);
    stream->set_read_timeout(60, 0);
    stream->Get(("/api/v1/batches/" + id + "/events").c_str(), acme_tenant,
                [&](const char* data, std::size_t size) {
                  events.append(data, size);
                  received += size;
                  return true;
                });
    stream_ended = true;
  });
  REQUIRE(wait_until([&] { return received.load() > 0; }, 30s, 20ms));
  CHECK_FALSE(stream_ended);

  // The keep-alive connection answers and stays open, idle.
  auto idle = cli->Get("/api/v1/health");
  REQUIRE(idle);
  CHECK(idle->status == 200);

  auto start = std::chrono::steady_clock::now();
  server.signal(SIGTERM);
  auto code = server.wait(40s);
  auto took = std::chrono::steady_clock::now() - start;
  stream_thread.join();
  REQUIRE(code);
  CHECK(*code == 0);
  // Same margin as the plain-HTTP test of this in serve_test.cpp.
  INFO("exit took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms");
  CHECK(took < 3s + 1s);
  CHECK(stream_ended);
  CHECK(events.find("event: progress") != std::string::npos);
}

TEST_CASE("bad TLS flags exit 2 with a one-line error before the embedded "
          "database starts") {
  temp_dir dir{"ogf-tls"};
  auto mine = make_test_certificate(dir.path, "server");
  auto other = make_test_certificate(dir.path, "other");
  auto garbage = dir.path / "garbage.pem";
  std::ofstream(garbage) << "not a certificate\n";
  auto port = free_port();

  struct bad_case {
    std::string what;
    std::vector<std::string> flags;
    std::string expect; ///< in the message
  };
  std::vector<bad_case> cases{
      {"certificate without key",
       {"--tls-cert", mine.cert.string()},
       "--tls-key"},
      {"key without certificate",
       {"--tls-key", mine.key.string()},
       "--tls-cert"},
      {"unreadable certificate",
       {"--tls-cert", (dir.path / "missing.pem").string(), "--tls-key",
        mine.key.string()},
       (dir.path / "missing.pem").string()},
      {"certificate file that is not PEM",
       {"--tls-cert", garbage.string(), "--tls-key", mine.key.string()},
       garbage.string()},
      {"key of another certificate",
       {"--tls-cert", mine.cert.string(), "--tls-key", other.key.string()},
       "does not match"},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto flags = c.flags;
    flags.insert(flags.end(), {"--log-level", "warn"});
    child_process bad(serve_args(dir, port, flags), {},
                      (dir.path / "bad.log").string());
    CHECK(bad.wait(10s) == 2);
    auto out = bad.output();
    INFO(out);
    CHECK(lines_in(out) == 1);
    CHECK(out.rfind("offgridflow-batch: ", 0) == 0);
    CHECK(out.find(c.expect) != std::string::npos);
    // Refused before anything started: no embedded cluster was made.
    CHECK_FALSE(fs::exists(dir.path / "data" / "pgdata"));
  }
}
