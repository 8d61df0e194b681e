// Writes the HTTP layer gave up on are never committed later, and bulk
// uploads cannot hold up another tenant's submit: the real binary on a
// database of the shared test cluster, stalled by a table lock held from
// the test (issue 18, defect 2: "503 retry later while the write is still
// queued and commits later").
#include <future>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// `serve` on `db` with a 1 s request timeout (so a 503 comes after 1.5 s:
/// the timeout plus the commit grace of half of it).
struct serve_node {
  int port = free_port();
  std::unique_ptr<child_process> proc;

  serve_node(const test_database& db, std::vector<std::string> extra) {
    std::vector<std::string> args{server_binary(),
                                  "serve",
                                  "--listen",
                                  "127.0.0.1:" + std::to_string(port),
                                  "--database-url",
                                  db.url(),
                                  "--no-migrate",
                                  "--request-timeout",
                                  "1s",
                                  "--workers",
                                  "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    proc = std::make_unique<child_process>(
        args, std::map<std::string, std::string>{},
        "/tmp/ogf-write-deadline-" + std::to_string(port) + ".log");
    REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 50ms));
  }
  ~serve_node() {
    if (std::uncaught_exceptions() > 0)
      UNSCOPED_INFO("serve log:\n" << proc->output());
    proc->signal(SIGTERM);
    proc->wait(30s);
  }

  /// POST `body` as tenant `org`/main; the status (0 without an answer).
  httplib::Result post(const std::string& org, const std::string& path,
                       const std::string& body) const {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(30, 0);
    httplib::Headers h{{"X-Org-ID", org}, {"X-Workspace-ID", "main"}};
    return cli.Post(path.c_str(), h, body, "application/json");
  }
  httplib::Result get(const std::string& org, const std::string& path) const {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(30, 0);
    httplib::Headers h{{"X-Org-ID", org}, {"X-Workspace-ID", "main"}};
    return cli.Get(path.c_str(), h);
  }
};

std::int64_t count(const test_database& db, const std::string& sql) {
  pqxx::connection c{db.url()};
  pqxx::nontransaction tx{c};
  return tx.exec1(sql)[0].as<std::int64_t>();
}

/// A transaction holding `LOCK TABLE <table> IN SHARE MODE`: reads go on,
/// inserts and updates wait until release().
struct table_lock {
  pqxx::connection conn;
  std::unique_ptr<pqxx::work> tx;
  table_lock(const test_database& db, const std::string& table)
      : conn(db.url()) {
    tx = std::make_unique<pqxx::work>(conn);
    tx->exec("LOCK TABLE " + table + " IN SHARE MODE");
  }
  void release() {
    if (tx) {
      tx->abort();
      tx.reset();
    }
  }
};

std::string activities_body(const std::string& prefix, int n) {
  json rows = json::array();
  for (int i = 0; i < n; ++i)
    rows.push_back({{"id", prefix + std::to_string(i)},
                    {"activity_type", "electricity"},
                    {"quantity", 10 + i},
                    {"unit", "kWh"},
                    {"region", "US"},
                    {"period_start", "2025-01-01"},
                    {"period_end", "2025-01-31"}});
  return json{{"activities", rows}}.dump();
}

} // namespace

TEST_CASE("a submit answered 503 because the database stalled past the "
          "request timeout is never committed, also once the stall ends") {
  test_database db;
  // One API connection: the follow-up submit queues behind the stalled one,
  // so its 201 proves the stalled one has been decided by then.
  serve_node node(db, {"--api-connections", "1"});
  table_lock lock(db, "batch_jobs");

  auto stalled = node.post("acme", "/api/v1/batches",
                           R"({"activity_ids": ["a-1", "a-2"]})");
  REQUIRE(stalled);
  CHECK(stalled->status == 503);
  CHECK(stalled->has_header("Retry-After"));
  CHECK(json::parse(stalled->body)["error"]["code"] == "unavailable");

  lock.release();
  auto next =
      node.post("acme", "/api/v1/batches", R"({"activity_ids": ["b-1"]})");
  REQUIRE(next);
  REQUIRE(next->status == 201);
  auto id = json::parse(next->body)["id"].get<std::string>();

  INFO("only the submit answered 201 exists");
  CHECK(count(db, "SELECT count(*) FROM batch_jobs") == 1);
  CHECK(count(db, "SELECT count(*) FROM batch_jobs WHERE id = '" + id + "'") ==
        1);
  CHECK(count(db, "SELECT count(*) FROM batch_items") == 1);
}

TEST_CASE("an activity upload answered 503 after the request timeout is "
          "never committed, also once the stall ends") {
  test_database db;
  serve_node node(db, {"--bulk-connections", "1"});
  table_lock lock(db, "activities");

  auto stalled =
      node.post("acme", "/api/v1/activities", activities_body("old-", 50));
  REQUIRE(stalled);
  CHECK(stalled->status == 503);

  lock.release();
  auto next =
      node.post("acme", "/api/v1/activities", activities_body("new-", 3));
  REQUIRE(next);
  REQUIRE(next->status == 200);
  CHECK(count(db, "SELECT count(*) FROM activities WHERE id LIKE 'old-%'") ==
        0);
  CHECK(count(db, "SELECT count(*) FROM activities WHERE id LIKE 'new-%'") ==
        3);
}

TEST_CASE("stalled bulk uploads of two tenants do not hold up a third "
          "tenant's submit or read") {
  test_database db;
  // As many bulk connections as the default API connections: both uploads
  // wait on the lock inside the database, on connections that (before
  // uploads had their own) submits and reads would have queued behind.
  serve_node node(db, {"--bulk-connections", "2"});
  table_lock lock(db, "activities");

  std::vector<std::string> orgs{"bulk-1", "bulk-2"};
  std::vector<std::future<int>> uploads;
  for (const auto& org : orgs)
    uploads.push_back(std::async(std::launch::async, [&node, org] {
      auto r = node.post(org, "/api/v1/activities", activities_body(org, 20));
      return r ? r->status : 0;
    }));
  REQUIRE(wait_until(
      [&] {
        return count(db, "SELECT count(*) FROM pg_locks WHERE NOT granted AND "
                         "relation = 'activities'::regclass") == 2;
      },
      10s, 10ms));

  auto submit =
      node.post("small", "/api/v1/batches", R"({"activity_ids": ["x-1"]})");
  REQUIRE(submit);
  CHECK(submit->status == 201);
  auto list = node.get("small", "/api/v1/batches");
  REQUIRE(list);
  CHECK(list->status == 200);

  lock.release();
  for (std::size_t i = 0; i < orgs.size(); ++i) {
    auto status = uploads[i].get();
    INFO("upload of " << orgs[i] << " answered " << status);
    // Answered either way; what it was told is what happened.
    REQUIRE((status == 200 || status == 503));
    CHECK(count(db, "SELECT count(*) FROM activities WHERE org_id = '" +
                        orgs[i] + "'") == (status == 200 ? 20 : 0));
  }
}
