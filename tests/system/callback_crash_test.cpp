// Completion callbacks survive a node killed mid-delivery (CONTRACT §7):
// the real binary on a database of the shared test cluster, killed with
// SIGKILL while the receiver holds the callback request, and a second
// node on the same database finishing the delivery with the same id.
#include <csignal>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "support/callback_receiver.hpp"
#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

const std::string secret = "system-test-secret";

/// `serve` on `db` with the webhook secret `key` from the environment
/// (none when empty), allowed to reach the receiver on 127.0.0.1. A 3 s
/// read timeout: the test kills the node well within it. Lease: 0.5 +
/// 2 x 3 + 3 s.
std::unique_ptr<child_process> start_node(const test_database& db, int port,
                                          const std::string& name,
                                          const std::string& key = secret) {
  std::map<std::string, std::string> env;
  if (!key.empty())
    env["OGF_WEBHOOK_SECRET"] = key;
  auto proc = std::make_unique<child_process>(
      std::vector<std::string>{server_binary(), "serve", "--listen",
                               "127.0.0.1:" + std::to_string(port),
                               "--database-url", db.url(), "--no-migrate",
                               "--node-id", name, "--workers", "1",
                               "--webhook-allow-private", "--webhook-timeout",
                               "3s", "--webhook-connect-timeout", "500ms"},
      env,
      "/tmp/ogf-callback-crash-" + name + "-" + std::to_string(port) + ".log");
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 50ms));
  return proc;
}

httplib::Headers tenant() {
  return {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}};
}

} // namespace

TEST_CASE("a node killed with SIGKILL mid-delivery leaves its callback to "
          "another node, which delivers it with the same delivery id") {
  test_database db;
  callback_receiver receiver;
  // The first request is held until the test ends (the node dies with it
  // in flight); later ones are answered at once.
  receiver.answer_with([](const std::string&, std::size_t n) {
    return callback_answer{200, n == 0 ? 60000ms : 0ms};
  });
  int port_a = free_port();
  auto a = start_node(db, port_a, "node-a");

  httplib::Client cli("127.0.0.1", port_a);
  cli.set_read_timeout(10, 0);
  // Activities that do not exist: the batch ends failed at once.
  auto res = cli.Post("/api/v1/batches", tenant(),
                      json{{"activity_ids", {"nowhere_1", "nowhere_2"}},
                           {"callback_url", receiver.url("/crash")}}
                          .dump(),
                      "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  auto batch = json::parse(res->body);
  CHECK(batch["callback"] == json{{"url", receiver.url("/crash")},
                                  {"status", "pending"},
                                  {"attempts", 0},
                                  {"last_error", nullptr}});
  const std::string id = batch["id"];

  REQUIRE(wait_until([&] { return receiver.received().size() == 1; }, 20s));
  a->signal(SIGKILL);
  REQUIRE(a->wait(10s));

  int port_b = free_port();
  auto b = start_node(db, port_b, "node-b");
  httplib::Client cli_b("127.0.0.1", port_b);
  cli_b.set_read_timeout(10, 0);
  json now;
  bool delivered = wait_until(
      [&] {
        auto r = cli_b.Get(("/api/v1/batches/" + id).c_str(), tenant());
        if (!r || r->status != 200)
          return false;
        now = json::parse(r->body);
        return now["callback"]["status"] == "delivered";
      },
      40s, 100ms);
  INFO("node b log:\n" << b->output());
  INFO("batch " << now.dump());
  REQUIRE(delivered);
  CHECK(now["status"] == "failed");

  auto got = receiver.received("/crash");
  REQUIRE(got.size() >= 2);
  std::set<std::string> ids;
  for (const auto& r : got) {
    ids.insert(r.delivery_id);
    CHECK(r.event == "batch.failed");
    CHECK(r.signature == expected_signature(secret, r.body));
  }
  CHECK(ids.size() == 1);
  pqxx::connection c{db.url()};
  pqxx::nontransaction tx{c};
  CHECK(tx.exec1("SELECT count(*) FROM batch_callbacks")[0].as<int>() == 1);
  CHECK(tx.exec1("SELECT id::text FROM batch_callbacks")[0].as<std::string>() ==
        *ids.begin());
  b->signal(SIGTERM);
  CHECK(b->wait(30s) == std::optional<int>(0));
}

TEST_CASE("serve without a webhook secret warns at start, takes a "
          "callback_url and delivers it signed with the empty key") {
  test_database db;
  callback_receiver receiver;
  int port = free_port();
  auto node = start_node(db, port, "no-secret", "");
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10, 0);
  auto res = cli.Post("/api/v1/batches", tenant(),
                      json{{"activity_ids", {"nowhere_1"}},
                           {"callback_url", receiver.url("/plain")}}
                          .dump(),
                      "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  CHECK(json::parse(res->body)["callback"]["status"] == "pending");
  REQUIRE(wait_until([&] { return receiver.received().size() == 1; }, 20s));
  auto got = receiver.received("/plain");
  REQUIRE(got.size() == 1);
  CHECK(got[0].event == "batch.failed");
  CHECK(got[0].signature == expected_signature("", got[0].body));
  node->signal(SIGTERM);
  CHECK(node->wait(30s) == std::optional<int>(0));
  const auto log = node->output();
  INFO(log);
  // One warning, at warn level, about the empty key.
  int warnings = 0;
  std::istringstream lines(log);
  for (std::string line; std::getline(lines, line);)
    if (line.find("completion callbacks are signed with an empty key") !=
        std::string::npos) {
      ++warnings;
      CHECK(line.find("\"level\":\"warn\"") != std::string::npos);
    }
  CHECK(warnings == 1);
}
