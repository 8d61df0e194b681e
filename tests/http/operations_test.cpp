// Health, metrics, access log, graceful stop, and the error table for
// every engine failure.
#include <cstdio>
#include <fstream>
#include <regex>
#include <sstream>

#include <csignal>
#include <future>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// An engine that fails every request with one error.
ogf::engine_actor::behavior_type failing_engine(ogf::engine_actor::pointer,
                                                caf::error err) {
  using namespace ogf;
  return {
      [err](submit_atom, const persistence::submit_request&)
          -> caf::result<persistence::submit_outcome> { return err; },
      [err](get_atom, const domain::tenant&,
            const std::string&) -> caf::result<domain::batch> { return err; },
      [err](list_atom, const domain::tenant&, const domain::batch_filter&)
          -> caf::result<persistence::batch_page> { return err; },
      [err](items_atom, const domain::tenant&, const std::string&,
            const domain::item_filter&) -> caf::result<persistence::item_page> {
        return err;
      },
      [err](counts_atom, const domain::tenant&)
          -> caf::result<domain::batch_counts> { return err; },
      [err](emissions_atom, const domain::tenant&, const std::string&)
          -> caf::result<domain::batch_emissions> { return err; },
      [err](progress_atom, const domain::tenant&, const std::string&)
          -> caf::result<domain::batch_progress> { return err; },
      [err](cancel_atom, const domain::tenant&, const std::string&)
          -> caf::result<persistence::cancel_outcome> { return err; },
      [err](retry_atom, const domain::tenant&,
            const std::string&) -> caf::result<domain::batch> { return err; },
      [err](remove_atom, const domain::tenant&,
            const std::string&) -> caf::result<bool> { return err; },
      [err](cancel_atom, const domain::tenant&, const std::string&,
            const persistence::deadline&)
          -> caf::result<persistence::cancel_outcome> { return err; },
      [err](retry_atom, const domain::tenant&, const std::string&,
            const persistence::deadline&) -> caf::result<domain::batch> {
        return err;
      },
      [err](remove_atom, const domain::tenant&, const std::string&,
            const persistence::deadline&) -> caf::result<bool> { return err; },
      [err](activity_atom, put_atom, const domain::tenant&,
            const std::vector<domain::activity>&,
            const persistence::deadline&) -> caf::result<std::int64_t> {
        return err;
      },
      [err](factors_atom, put_atom, const domain::tenant&,
            const std::vector<domain::emission_factor>&,
            const persistence::deadline&) -> caf::result<std::int64_t> {
        return err;
      },
      [err](subscribe_atom, const domain::tenant&, const std::string&,
            const progress_listener_actor&) -> caf::result<bool> {
        return err;
      },
      [](unsub_atom, const std::string&, const progress_listener_actor&) {},
      [err](activity_atom, put_atom, const domain::tenant&,
            const std::vector<domain::activity>&) -> caf::result<std::int64_t> {
        return err;
      },
      [err](activity_atom, get_atom, const domain::tenant&, const std::string&)
          -> caf::result<domain::activity> { return err; },
      [err](factors_atom, get_atom, const domain::tenant&, const std::string&)
          -> caf::result<std::vector<domain::emission_factor>> { return err; },
      [err](factors_atom, put_atom, const domain::tenant&,
            const std::vector<domain::emission_factor>&)
          -> caf::result<std::int64_t> { return err; },
      [err](key_atom, const std::string&) -> caf::result<domain::api_key> {
        return err;
      },
      [err](health_atom) -> caf::result<health_report> { return err; },
      [err](stats_atom) -> caf::result<engine_stats> { return err; },
      [](stop_atom) -> caf::result<bool> { return true; },
  };
}

/// What is written to stderr while `f` runs and until `expected` shows up
/// (at most 5 s).
template <class F>
std::string capture_stderr(F f, const std::string& expected) {
  std::fflush(stderr);
  char path[] = "/tmp/ogf-http-log-XXXXXX";
  int fd = mkstemp(path);
  REQUIRE(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);
  f();
  auto read_all = [&] {
    std::fflush(stderr);
    std::ifstream in(path);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
  };
  // The access log line is written after the answer has been sent.
  wait_until([&] { return read_all().find(expected) != std::string::npos; },
             5s);
  dup2(saved, 2);
  close(saved);
  close(fd);
  auto text = read_all();
  std::remove(path);
  return text;
}

} // namespace

TEST_CASE("health answers 200 without tenant headers") {
  api_fixture api;
  auto r = api.get("/api/v1/health", tenant_ids{});
  REQUIRE(r.status == 200);
  auto h = r.json();
  CHECK(h["status"] == "ok");
  CHECK(h["database"]["status"] == "ok");
  CHECK(h["database"]["latency_ms"].is_number());
  CHECK(h["scheduler"]["running"] == true);
  CHECK(h["scheduler"]["workers"] == 2);
  CHECK(h["node_id"] == "http-test");
  CHECK(h["version"].is_string());
  CHECK(h["uptime_seconds"].is_number());
}

namespace {

/// Stops the PostgreSQL backend `pid` (SIGSTOP) until destroyed: a database
/// that has the query but does not answer, as under heavy load or a hung
/// disk.
struct stalled_backend {
  pid_t pid;
  explicit stalled_backend(pid_t p) : pid(p) {
    REQUIRE(kill(pid, SIGSTOP) == 0);
  }
  ~stalled_backend() { kill(pid, SIGCONT); }
};

pid_t health_backend(const api_fixture& api) {
  pqxx::connection c{api.db().url()};
  pqxx::nontransaction tx{c};
  auto r = tx.exec("SELECT pid FROM pg_stat_activity WHERE application_name = "
                   "'offgridflow-batch-health' AND datname = "
                   "current_database()");
  REQUIRE(r.size() == 1);
  return r[0][0].as<int>();
}

} // namespace

TEST_CASE("health tells a slow database (200, degraded, its latency) from an "
          "unreachable one (503), and recovers") {
  api_fixture api;
  REQUIRE(api.get("/api/v1/health", tenant_ids{}).status == 200);
  auto backend = health_backend(api);
  {
    // Answers after 1.5 s: slow, but there.
    stalled_backend stall{backend};
    auto resume = std::async(std::launch::async, [&] {
      std::this_thread::sleep_for(1500ms);
      kill(backend, SIGCONT);
    });
    auto r = api.get("/api/v1/health", tenant_ids{});
    resume.get();
    REQUIRE(r.status == 200);
    auto h = r.json();
    CHECK(h["status"] == "ok");
    CHECK(h["database"]["status"] == "degraded");
    CHECK(h["database"]["latency_ms"].get<double>() >= 1000.0);
  }
  {
    // No answer within the 5 s bound: unreachable.
    stalled_backend stall{backend};
    auto r = api.get("/api/v1/health", tenant_ids{});
    REQUIRE(r.status == 503);
    auto h = r.json();
    CHECK(h["status"] == "unavailable");
    CHECK(h["database"]["status"] == "unavailable");
    CHECK_FALSE(r.header("Retry-After").empty());
  }
  CHECK(wait_until(
      [&] {
        auto r = api.get("/api/v1/health", tenant_ids{});
        return r.status == 200 && r.json()["database"]["status"] == "ok";
      },
      20s, 100ms));
}

TEST_CASE("during a graceful stop submits and health answer 503 with "
          "Retry-After while reads go on") {
  api_fixture api;
  auto b = api.submit({"x"});
  api.server().set_stopping();
  auto r = api.post_json("/api/v1/batches", {{"activity_ids", {"y"}}});
  check_error(r, 503, "unavailable");
  auto health = api.get("/api/v1/health", tenant_ids{});
  CHECK(health.status == 503);
  CHECK(health.json()["status"] == "unavailable");
  CHECK_FALSE(health.header("Retry-After").empty());
  CHECK(api.get("/api/v1/batches/" + b["id"].get<std::string>()).status == 200);
  CHECK(api.get("/api/v1/batches").json()["batches"].size() == 1);
}

TEST_CASE("every engine failure maps to its status and code and never leaks "
          "the engine's message") {
  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads", 2);
  caf::actor_system sys{cfg};
  // What a careless store might say.
  std::string leaky = "ERROR:  syntax error at or near \"SELECT\" (pqxx "
                      "sqlstate 42601) in /work/persistence/batch_store.cpp";
  struct row {
    ogf::engine_errc code;
    std::string message;
    int status;
    std::string error;
  };
  std::vector<row> table = {
      {ogf::engine_errc::not_found, leaky, 404, "not_found"},
      {ogf::engine_errc::invalid_state, "processing", 409, "invalid_state"},
      {ogf::engine_errc::invalid_state, leaky, 409, "invalid_state"},
      {ogf::engine_errc::conflict, leaky, 422, "idempotency_key_reused"},
      {ogf::engine_errc::unavailable, leaky, 503, "unavailable"},
      {ogf::engine_errc::validation, leaky, 400, "validation_error"},
      {ogf::engine_errc::internal, leaky, 500, "internal"},
      {ogf::engine_errc::lease_lost, leaky, 500, "internal"},
      {ogf::engine_errc::quota_exceeded, leaky, 429, "quota_exceeded"},
  };
  std::string id = "/api/v1/batches/00000000-0000-4000-8000-000000000000";
  for (const auto& t : table) {
    auto engine =
        sys.spawn(failing_engine, ogf::make_engine_error(t.code, t.message));
    {
      bare_server server{sys, engine};
      httplib::Client cli("127.0.0.1", server.port());
      auto h = acme.headers();
      std::vector<reply> replies = {
          to_reply(cli.Post("/api/v1/batches", h, R"({"activity_ids":["a"]})",
                            "application/json")),
          to_reply(cli.Get("/api/v1/batches", h)),
          to_reply(cli.Get(id.c_str(), h)),
          to_reply(cli.Get((id + "/items").c_str(), h)),
          to_reply(cli.Get((id + "/progress").c_str(), h)),
          to_reply(cli.Get((id + "/emissions").c_str(), h)),
          to_reply(cli.Get("/api/v1/batch-counts", h)),
          to_reply(cli.Get((id + "/events").c_str(), h)),
          to_reply(
              cli.Post((id + "/cancel").c_str(), h, "", "application/json")),
          to_reply(
              cli.Post((id + "/retry").c_str(), h, "", "application/json")),
          to_reply(cli.Delete(id.c_str(), h)),
          to_reply(cli.Get("/api/v1/activities/a1", h)),
          to_reply(cli.Get("/api/v1/emission-factors", h)),
      };
      for (std::size_t i = 0; i < replies.size(); ++i) {
        INFO("engine error " << to_string(t.code) << " (" << t.message
                             << "), request " << i);
        check_error(replies[i], t.status, t.error);
        auto details = replies[i].json()["error"]["details"];
        if (t.code == ogf::engine_errc::invalid_state &&
            t.message == "processing")
          CHECK(details["status"] == "processing");
        else if (t.code == ogf::engine_errc::invalid_state)
          CHECK(details.is_null());
      }
    }
    caf::anon_send_exit(engine, caf::exit_reason::kill);
  }
  // An engine that is gone answers 503, as does one that never answers.
  auto gone = sys.spawn(failing_engine, caf::error{});
  caf::anon_send_exit(gone, caf::exit_reason::kill);
  {
    bare_server server{sys, gone};
    httplib::Client cli("127.0.0.1", server.port());
    auto r = to_reply(cli.Get("/api/v1/batches", acme.headers()));
    check_error(r, 503, "unavailable");
    auto health = to_reply(cli.Get("/api/v1/health"));
    CHECK(health.status == 503);
    check_no_leak(health);
  } // In keys mode a key that cannot be looked up is 503, never 401: the key
  // may be fine, and the client should retry, not drop it.
  {
    ogf::http::http_config hc;
    hc.auth = ogf::http::auth_mode::keys;
    bare_server server{sys, gone, hc};
    httplib::Client cli("127.0.0.1", server.port());
    auto r = to_reply(cli.Get(
        "/api/v1/batches", {{"Authorization", "Bearer ogf_0123456789abcdef_" +
                                                  std::string(64, 'a')}}));
    check_error(r, 503, "unavailable");
    CHECK(r.header("WWW-Authenticate").empty());
  }
}

TEST_CASE("metrics expose requests by route template and the engine's "
          "gauges and counters, without ids or tenants") {
  api_fixture api;
  api.upload_activities(1);
  auto b = api.submit({"a0000"});
  std::string id = b["id"];
  api.wait_for_status(id, "completed");
  api.get("/api/v1/batches/" + id);
  api.get("/api/v1/batches/" + id);
  api.get("/api/v1/batches/not-a-uuid");
  api.get("/no/such/route");
  // The worker reports the end to the aggregator just after the commit the
  // poll saw: wait for the count rather than race it.
  REQUIRE(ogf::testing::wait_until([&] {
    return api.get("/metrics", tenant_ids{})
               .body.find(
                   "ogf_batches_finished_total{status=\"completed\"} 1") !=
           std::string::npos;
  }));
  auto r = api.get("/metrics", tenant_ids{});
  REQUIRE(r.status == 200);
  CHECK(r.header("Content-Type").rfind("text/plain; version=0.0.4", 0) == 0);
  const auto& text = r.body;
  INFO(text);
  // Polling for completion read the batch too: at least our two reads.
  static const std::regex reads(
      R"(ogf_http_requests_total\{code="200",method="GET",route="/api/v1/batches/\{id\}"\} ([0-9]+))");
  std::smatch m;
  REQUIRE(std::regex_search(text, m, reads));
  CHECK(std::stoi(m[1]) >= 2);
  CHECK(text.find("ogf_http_requests_total{code=\"404\",method=\"GET\","
                  "route=\"/api/v1/batches/{id}\"} 1") != std::string::npos);
  CHECK(text.find("ogf_http_requests_total{code=\"404\",method=\"GET\","
                  "route=\"unmatched\"} 1") != std::string::npos);
  CHECK(text.find("ogf_http_request_duration_seconds_bucket{route=\"/api/v1/"
                  "batches/{id}\",le=\"0.005\"}") != std::string::npos);
  CHECK(text.find("ogf_batches_submitted_total 1") != std::string::npos);
  CHECK(text.find("ogf_batches_finished_total{status=\"completed\"} 1") !=
        std::string::npos);
  CHECK(text.find("ogf_batches_finished_total{status=\"failed\"} 0") !=
        std::string::npos);
  CHECK(text.find("ogf_activities_processed_total{result=\"succeeded\"} 1") !=
        std::string::npos);
  CHECK(text.find("ogf_activities_processed_total{result=\"failed\"} 0") !=
        std::string::npos);
  CHECK(text.find("ogf_workers_total 2") != std::string::npos);
  for (const char* name :
       {"ogf_workers_busy ", "ogf_queue_depth ", "ogf_lease_renewals_total ",
        "ogf_leases_lost_total ", "ogf_store_errors_total "})
    CHECK(text.find(name) != std::string::npos);
  CHECK(text.find(id) == std::string::npos);
  CHECK(text.find("acme") == std::string::npos);
  CHECK(text.find("not-a-uuid") == std::string::npos);
  CHECK(text.find("/no/such/route") == std::string::npos);
  static const std::regex uuid(
      "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  CHECK_FALSE(std::regex_search(text, uuid));
}

TEST_CASE("every request writes one JSON access log line with method, route "
          "template, status, duration and request id") {
  api_fixture api;
  auto text = capture_stderr(
      [&] {
        api.get("/api/v1/batches/00000000-0000-4000-8000-000000000000", acme,
                {{"X-Request-ID", "trace-me-1"}});
      },
      "trace-me-1");
  INFO(text);
  json line;
  std::istringstream lines(text);
  std::string l;
  int found = 0;
  while (std::getline(lines, l)) {
    auto j = json::parse(l, nullptr, false);
    if (j.is_object() && j.value("request_id", "") == "trace-me-1") {
      line = j;
      ++found;
    }
  }
  REQUIRE(found == 1);
  CHECK(line["msg"] == "http request");
  CHECK(line["method"] == "GET");
  CHECK(line["route"] == "/api/v1/batches/{id}");
  CHECK(line["status"] == 404);
  CHECK(line["duration_ms"].is_number());
  CHECK(line.contains("ts"));
  CHECK(line["level"] == "info");
}
