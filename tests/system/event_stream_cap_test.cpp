// The event-stream cap of the real binary under a burst: streams are held
// for as long as their batch is unfinished, each on an HTTP thread, so the
// cap must hold however many requests arrive at the same moment, and one
// tenant must not take every stream (docs/api.md, "events").
#include <atomic>
#include <condition_variable>
#include <csignal>
#include <filesystem>
#include <mutex>
#include <thread>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/system_helpers.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;
namespace fs = std::filesystem;

namespace {

const httplib::Headers acme{{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}};
const httplib::Headers globex{{"X-Org-ID", "globex"},
                              {"X-Workspace-ID", "main"}};

/// GET /events of `batch` as tenant `org`, on a new connection.
std::string events_request(const std::string& batch, const std::string& org) {
  return "GET /api/v1/batches/" + batch +
         "/events HTTP/1.1\r\nHost: x\r\nX-Org-ID: " + org +
         "\r\nX-Workspace-ID: main\r\n\r\n";
}

/// Opens an event stream; the status of its answer (0: none in 10 s).
int open_stream(int port, const std::string& batch, const std::string& org,
                raw_client& conn) {
  conn = raw_client{port};
  if (!conn.ok() || !conn.send_all(events_request(batch, org)))
    return 0;
  return status_of(conn.read_answer(10s));
}

} // namespace

TEST_CASE("a burst of event streams on a pending batch gets at most the "
          "tenant's share, and health and other tenants still answer") {
  temp_dir dir{"ogf-streams"};
  auto port = free_port();
  // One worker, one activity per chunk: a 20,000-activity batch at priority
  // 10 keeps it busy for far longer than the test (a few hundred chunks a
  // second here), so the batch streamed below stays pending. 32 HTTP
  // threads: 16 streams at most, 8 a tenant.
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        (dir.path / "data").string(), "--workers", "1",
                        "--chunk-size", "1", "--max-batches-per-poll", "1",
                        "--max-batch-activities", "20000", "--http-threads",
                        "32", "--log-level", "warn"},
                       {}, (dir.path / "serve.log").string());
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(10, 0);
  REQUIRE(wait_until(
      [&] {
        auto r = cli.Get("/api/v1/health");
        return r && r->status == 200;
      },
      90s, 100ms));

  json busy_ids = json::array();
  for (int i = 0; i < 20000; ++i)
    busy_ids.push_back("busy" + std::to_string(i));
  auto busy =
      cli.Post("/api/v1/batches", acme,
               json{{"activity_ids", busy_ids}, {"priority", 10}}.dump(),
               "application/json");
  REQUIRE(busy);
  REQUIRE(busy->status == 201);
  auto busy_id = json::parse(busy->body)["id"].get<std::string>();
  REQUIRE(wait_until(
      [&] {
        auto r = cli.Get(("/api/v1/batches/" + busy_id).c_str(), acme);
        return r && json::parse(r->body)["status"] == "processing";
      },
      30s, 50ms));
  auto target = cli.Post("/api/v1/batches", acme,
                         R"({"activity_ids": ["t1"], "priority": 1})",
                         "application/json");
  REQUIRE(target);
  REQUIRE(target->status == 201);
  auto id = json::parse(target->body)["id"].get<std::string>();
  auto status_of_target = [&] {
    auto r = cli.Get(("/api/v1/batches/" + id).c_str(), acme);
    return r ? json::parse(r->body)["status"].get<std::string>() : "";
  };
  REQUIRE(status_of_target() == "pending");

  // 32 connections, then every request released at the same moment.
  constexpr int burst = 32;
  std::vector<raw_client> conns;
  for (int i = 0; i < burst; ++i) {
    conns.emplace_back(port);
    REQUIRE(conns.back().ok());
  }
  std::vector<std::string> answers(burst);
  {
    std::mutex m;
    std::condition_variable go_cv;
    bool go = false;
    std::atomic<int> ready{0};
    std::vector<std::thread> threads;
    for (int i = 0; i < burst; ++i)
      threads.emplace_back([&, i] {
        auto request = events_request(id, "acme");
        {
          std::unique_lock<std::mutex> lock{m};
          ++ready;
          go_cv.wait(lock, [&] { return go; });
        }
        if (conns[i].send_all(request))
          answers[i] = conns[i].read_answer(15s);
      });
    while (ready < burst)
      std::this_thread::yield();
    {
      std::lock_guard<std::mutex> guard{m};
      go = true;
    }
    go_cv.notify_all();
    for (auto& t : threads)
      t.join();
  }
  int streams = 0, refused = 0, other = 0;
  for (const auto& a : answers) {
    auto status = status_of(a);
    if (status == 200) {
      ++streams;
      CHECK(header_of(a, "Content-Type").rfind("text/event-stream", 0) == 0);
    } else if (status == 503) {
      ++refused;
      CHECK(json::parse(body_of(a))["error"]["code"] == "unavailable");
      CHECK(header_of(a, "Retry-After") == "1");
    } else {
      ++other;
      UNSCOPED_INFO("unexpected answer: " << a.substr(0, 200));
    }
  }
  INFO(streams << " streams, " << refused << " refused, " << other << " other");
  // The tenant's share: half of the 16 streams 32 threads allow.
  CHECK(streams >= 1);
  CHECK(streams <= 8);
  CHECK(other == 0);
  CHECK(streams + refused == burst);
  // The batch really stayed unfinished the whole time.
  CHECK(status_of_target() == "pending");

  // Health and another tenant are answered at once, and the other tenant
  // still gets a stream of its own.
  httplib::Client quick("127.0.0.1", port);
  quick.set_connection_timeout(2, 0);
  quick.set_read_timeout(5, 0);
  auto health = quick.Get("/api/v1/health");
  REQUIRE(health);
  CHECK(health->status == 200);
  auto list = quick.Get("/api/v1/batches", globex);
  REQUIRE(list);
  CHECK(list->status == 200);
  auto theirs = quick.Post("/api/v1/batches", globex,
                           R"({"activity_ids": ["g1"], "priority": 1})",
                           "application/json");
  REQUIRE(theirs);
  REQUIRE(theirs->status == 201);
  raw_client globex_stream{port};
  CHECK(open_stream(port, json::parse(theirs->body)["id"], "globex",
                    globex_stream) == 200);
  raw_client one_more{port};
  CHECK(open_stream(port, id, "acme", one_more) == 503);

  // Streams whose client went away give their slot back.
  conns.clear();
  one_more.close();
  raw_client again{port};
  CHECK(wait_until([&] { return open_stream(port, id, "acme", again) == 200; },
                   10s, 100ms));

  again.close();
  globex_stream.close();
  server.signal(SIGTERM);
  CHECK(server.wait(60s) == 0);
}
