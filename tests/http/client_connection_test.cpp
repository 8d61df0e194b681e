// client::connection, the client library under the CLI commands and the
// bench: against a scripted server (to make it meet 503s, broken
// connections and foreign error pages on demand) and against the real API
// on a real engine and database.
#include "client/http_client.hpp"

#include <atomic>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>

#include "domain/exact_json.hpp"
#include "http/api_fixture.hpp"
#include "support/process.hpp"
#include "support/scripted_server.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
using client::failure_kind;
using client::request_error;

namespace {

/// A client of a scripted server, for tenant acme/main, that waits at
/// most 2 s for a Retry-After.
client::client_config config_for(const scripted_server& s) {
  client::client_config c;
  c.server = "http://127.0.0.1:" + std::to_string(s.port);
  c.org = "acme";
  c.workspace = "main";
  c.max_retry_wait = 2s;
  return c;
}

/// The request_error `f` throws; fails the test when it throws none.
template <class F>
request_error error_of(F f) {
  try {
    f();
  } catch (const request_error& e) {
    return e;
  }
  FAIL("no request_error");
  throw std::logic_error("unreachable");
}

} // namespace

TEST_CASE("a connection sends the tenant headers and the bearer token and "
          "reads exact numbers",
          "[client]") {
  httplib::Headers seen;
  scripted_server s([&](httplib::Server& svr) {
    svr.Get("/x", [&](const httplib::Request& req, httplib::Response& res) {
      seen = req.headers;
      res.set_content(R"({"kg": 12345678901234567.123456})",
                      "application/json");
    });
  });
  auto c = config_for(s);
  c.api_key = "ogf_0123456789abcdef_secret";
  client::connection conn(c);
  auto r = conn.get("/x");
  CHECK(r.status == 200);
  auto kg = domain::raw_number_text(r.json["kg"]);
  REQUIRE(kg);
  CHECK(*kg == "12345678901234567.123456");
  auto header = [&](const char* name) {
    auto it = seen.find(name);
    return it == seen.end() ? std::string("<none>") : it->second;
  };
  CHECK(header("X-Org-ID") == "acme");
  CHECK(header("X-Workspace-ID") == "main");
  CHECK(header("Authorization") == "Bearer ogf_0123456789abcdef_secret");
  CHECK(header("User-Agent").rfind("offgridflow-batch/", 0) == 0);
}

TEST_CASE("a 503 is repeated after Retry-After for a repeatable request and "
          "never for another",
          "[client]") {
  std::atomic<int> calls{0};
  scripted_server s([&](httplib::Server& svr) {
    auto busy_twice = [&](const httplib::Request&, httplib::Response& res) {
      if (++calls <= 2) {
        res.status = 503;
        res.set_header("Retry-After", "1");
        res.set_content(R"({"error":{"code":"unavailable","message":"busy"}})",
                        "application/json");
        return;
      }
      res.set_content(R"({"ok":true})", "application/json");
    };
    svr.Get("/r", busy_twice);
    svr.Post("/w", busy_twice);
  });
  client::connection conn(config_for(s));

  auto t0 = std::chrono::steady_clock::now();
  auto r = conn.get("/r");
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(r.json["ok"] == true);
  CHECK(calls == 3);
  CHECK(took >= 2s); // waited Retry-After twice

  calls = 0;
  auto e = error_of([&] {
    conn.post("/w", "{}", "application/json", client::repeat::never);
  });
  CHECK(calls == 1);
  CHECK(e.kind() == failure_kind::server);
  CHECK(e.status() == 503);
  CHECK(e.code() == "unavailable");

  calls = 0;
  CHECK(conn.post("/w", "{}", "application/json",
                  client::repeat::after_unavailable)
            .status == 200);
  CHECK(calls == 3);

  // With max_retries 0 (the bench) a 503 is an answer, not a wait.
  calls = 0;
  auto c = config_for(s);
  c.max_retries = 0;
  client::connection once(c);
  CHECK(error_of([&] { once.get("/r"); }).status() == 503);
  CHECK(calls == 1);
}

TEST_CASE("errors are grouped as the exit codes need them and keep the "
          "server's code, message and details",
          "[client]") {
  scripted_server s([&](httplib::Server& svr) {
    svr.Get("/401", [](const httplib::Request&, httplib::Response& res) {
      res.status = 401;
      res.set_content(
          R"({"error":{"code":"unauthenticated","message":"who are you"}})",
          "application/json");
    });
    svr.Get("/400", [](const httplib::Request&, httplib::Response& res) {
      res.status = 400;
      res.set_content(R"({"error":{"code":"validation_error","message":"bad",)"
                      R"("details":{"row":7,"field":"quantity"}}})",
                      "application/json");
    });
    svr.Get("/502", [](const httplib::Request&, httplib::Response& res) {
      res.status = 502;
      res.set_content("<html>\x1b[31mBad gateway</html>\nmore", "text/html");
    });
    svr.Get("/redirect", [](const httplib::Request&, httplib::Response& res) {
      res.set_redirect("/elsewhere");
    });
  });
  client::connection conn(config_for(s));

  auto auth = error_of([&] { conn.get("/401"); });
  CHECK(auth.kind() == failure_kind::auth);
  CHECK(std::string(auth.what()) == "unauthenticated: who are you");

  auto bad = error_of([&] { conn.get("/400"); });
  CHECK(bad.kind() == failure_kind::client);
  CHECK(bad.code() == "validation_error");
  CHECK(bad.details()["row"] == 7);

  // A foreign page: its status and first line, with no escape character.
  auto gateway = error_of([&] { conn.get("/502"); });
  CHECK(gateway.kind() == failure_kind::server);
  CHECK(gateway.code().empty());
  std::string what = gateway.what();
  CHECK(what.find("HTTP 502") != std::string::npos);
  CHECK(what.find('\x1b') == std::string::npos);
  CHECK(what.find('\n') == std::string::npos);

  // Redirects are not followed (credentials stay with the server named).
  CHECK(error_of([&] { conn.get("/redirect"); }).status() == 302);
}

TEST_CASE("a server that cannot be reached fails at once as unreachable",
          "[client]") {
  client::client_config c;
  c.server = "http://127.0.0.1:" + std::to_string(free_port());
  client::connection conn(c);
  auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] { conn.get("/api/v1/health"); });
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  CHECK(e.kind() == failure_kind::unreachable);
  CHECK(e.status() == 0);
  CHECK(std::string(e.what()).find(c.server) != std::string::npos);
}

TEST_CASE("parse_server_url takes scheme, host and port and refuses the rest",
          "[client]") {
  auto u = client::parse_server_url("https://example.org:8443/");
  CHECK(u.tls);
  CHECK(u.host == "example.org");
  CHECK(u.port == 8443);
  CHECK(client::parse_server_url("http://[::1]:9000").host == "::1");
  CHECK(client::parse_server_url("http://h").port == 80);
  CHECK(client::parse_server_url("https://h").port == 443);
  for (const char* bad :
       {"ftp://h", "h:80", "http://", "http://h:0", "http://h:65536",
        "http://h:x", "http://h/api", "http://u@h", "http://h?x=1"}) {
    INFO(bad);
    CHECK_THROWS_AS(client::parse_server_url(bad), std::invalid_argument);
  }
  CHECK(client::url_encode("a b/c?d=é") == "a%20b%2Fc%3Fd%3D%C3%A9");
  CHECK(client::url_encode("Az09-._~") == "Az09-._~");
}

TEST_CASE("against the real API a connection submits, streams a batch to its "
          "end and decodes the real errors",
          "[client]") {
  api_fixture api;
  api.upload_activities(20);
  client::client_config c;
  c.server = "http://127.0.0.1:" + std::to_string(api.port());
  c.org = acme.org;
  c.workspace = acme.workspace;
  client::connection conn(c);

  auto created = conn.post_json(
      "/api/v1/batches", {{"activity_ids", activity_ids(20)}},
      client::repeat::always, {{"Idempotency-Key", "client-test"}});
  CHECK(created.status == 201);
  auto id = created.json["id"].get<std::string>();
  // The same key repeats harmlessly: the same batch, 200.
  auto again = conn.post_json(
      "/api/v1/batches", {{"activity_ids", activity_ids(20)}},
      client::repeat::always, {{"Idempotency-Key", "client-test"}});
  CHECK(again.status == 200);
  CHECK(again.json["id"] == id);

  std::vector<std::string> events;
  nlohmann::json done;
  bool ended = conn.stream_events(
      "/api/v1/batches/" + id + "/events",
      [&](const std::string& event, const std::string& data) {
        events.push_back(event);
        if (event == "done")
          done = nlohmann::json::parse(data);
        return true;
      });
  CHECK(ended);
  REQUIRE(!events.empty());
  CHECK(events.back() == "done");
  CHECK(done["status"] == "completed");
  CHECK(done["succeeded_activities"] == 20);

  auto missing = error_of([&] { conn.get("/api/v1/batches/" + id + "x"); });
  CHECK(missing.kind() == failure_kind::client);
  CHECK(missing.code() == "not_found");
  auto stream_missing = error_of([&] {
    conn.stream_events(
        "/api/v1/batches/00000000-0000-0000-0000-000000000000/"
        "events",
        [](const std::string&, const std::string&) { return true; });
  });
  CHECK(stream_missing.code() == "not_found");

  auto no_tenant = c;
  no_tenant.org.clear();
  client::connection anonymous(no_tenant);
  auto unauthenticated = error_of([&] { anonymous.get("/api/v1/batches"); });
  CHECK(unauthenticated.kind() == failure_kind::auth);
  CHECK(unauthenticated.code() == "unauthenticated");
}

TEST_CASE("abort from another thread ends an open event stream at once",
          "[client]") {
  api_options o;
  o.workers = 1;
  o.chunk_size = 1;
  o.chunk_delay = 200ms; // keeps the batch processing for seconds
  api_fixture api(o);
  api.upload_activities(30);
  auto id = api.submit(activity_ids(30))["id"].get<std::string>();
  client::client_config c;
  c.server = "http://127.0.0.1:" + std::to_string(api.port());
  c.org = acme.org;
  c.workspace = acme.workspace;
  client::connection conn(c);
  std::atomic<int> events{0};
  std::thread aborter([&] {
    while (events == 0)
      std::this_thread::sleep_for(10ms);
    conn.abort();
  });
  auto t0 = std::chrono::steady_clock::now();
  auto e = error_of([&] {
    conn.stream_events("/api/v1/batches/" + id + "/events",
                       [&](const std::string&, const std::string&) {
                         ++events;
                         return true;
                       });
  });
  aborter.join();
  CHECK(std::chrono::steady_clock::now() - t0 < 3s);
  CHECK(e.kind() == failure_kind::unreachable);
  CHECK(events > 0);
}
