// CONTRACT §4 on the real binary, as a user runs it: keys made with the
// `keys` CLI, used over HTTP, revoked on one node and refused by another
// within 5 s; no token or secret in the server's logs, error bodies or
// metrics; an audit line per write; and `--auth auto` choosing keys on a
// non-loopback address.
#include <csignal>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// Runs `offgridflow-batch args...` to its end; its exit code and output
/// (stdout and stderr together).
std::pair<int, std::string> run_cli(const std::vector<std::string>& args,
                                    const std::string& log) {
  std::vector<std::string> argv{server_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  child_process p(argv, {}, log);
  auto code = p.wait(60s);
  REQUIRE(code);
  return {*code, p.output()};
}

/// The JSON object of `keys create --json` in a CLI's output (log lines
/// on stderr are JSON objects too, without a token).
json created_key(const std::string& output) {
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.contains("token"))
      return j;
  }
  FAIL("no key in the output of keys create: " << output);
  return {};
}

httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

int status_of(const httplib::Result& r) {
  return r ? r->status : 0;
}

/// The lines of `output` that are JSON objects with msg == `msg`.
std::vector<json> log_lines(const std::string& output, const std::string& msg) {
  std::vector<json> out;
  std::istringstream lines(output);
  std::string line;
  while (std::getline(lines, line)) {
    auto j = json::parse(line, nullptr, false);
    if (j.is_object() && j.value("msg", "") == msg)
      out.push_back(j);
  }
  return out;
}

} // namespace

TEST_CASE("keys mode on the real binary: keys from the CLI work, no token "
          "or secret reaches logs, error bodies or metrics, and every write "
          "leaves an audit line") {
  temp_dir dir{"ogf-auth"};
  auto data = (dir.path / "data").string();
  auto port = free_port();
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir", data,
                        "--auth", "keys", "--workers", "1"},
                       {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 90s, 100ms));

  // Keys made while serve holds the embedded database: through its socket.
  auto [wc, wout] =
      run_cli({"keys", "create", "--data-dir", data, "--org", "acme",
               "--workspace", "main", "--name", "ci", "--json"},
              (dir.path / "create-w.log").string());
  REQUIRE(wc == 0);
  auto writer = created_key(wout);
  auto [rc, rout] =
      run_cli({"keys", "create", "--data-dir", data, "--org", "acme",
               "--workspace", "main", "--role", "read", "--json"},
              (dir.path / "create-r.log").string());
  REQUIRE(rc == 0);
  auto reader = created_key(rout);
  auto wtoken = writer["token"].get<std::string>();
  auto rtoken = reader["token"].get<std::string>();
  auto wid = writer["id"].get<std::string>();
  auto rid = reader["id"].get<std::string>();
  auto secret_of = [](const std::string& token) {
    return token.substr(token.rfind('_') + 1);
  };
  // Same key id, another secret: must not be echoed either.
  auto forged = "ogf_" + wid + "_" + std::string(64, 'e');

  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10, 0);
  std::vector<std::string> bodies;
  auto keep = [&](const httplib::Result& r) {
    if (r)
      bodies.push_back(r->body);
    return status_of(r);
  };

  CHECK(keep(cli.Get("/api/v1/batches")) == 401);
  CHECK(keep(cli.Get("/api/v1/batches", bearer(forged))) == 401);
  CHECK(keep(cli.Get("/api/v1/batches", {{"Authorization", wtoken}})) == 401);
  CHECK(keep(cli.Get("/api/v1/batches",
                     {{"Authorization", "Bearer " + wtoken + "x"}})) == 401);
  auto activities = json{{"activities",
                          {{{"id", "elec-1"},
                            {"activity_type", "electricity"},
                            {"quantity", 100},
                            {"unit", "kWh"},
                            {"region", "US"},
                            {"period_start", "2025-01-01"},
                            {"period_end", "2025-01-31"}}}}};
  CHECK(keep(cli.Post("/api/v1/activities", bearer(wtoken), activities.dump(),
                      "application/json")) == 200);
  auto submit = json{{"activity_ids", {"elec-1"}}}.dump();
  CHECK(keep(cli.Post("/api/v1/batches", bearer(rtoken), submit,
                      "application/json")) == 403);
  auto created =
      cli.Post("/api/v1/batches", bearer(wtoken), submit, "application/json");
  REQUIRE(keep(created) == 201);
  auto batch = json::parse(created->body)["id"].get<std::string>();
  CHECK(keep(cli.Get("/api/v1/batches/" + batch, bearer(rtoken))) == 200);
  auto metrics = cli.Get("/metrics");
  REQUIRE(keep(metrics) == 200);

  // Revoked through the CLI while serve runs: refused within 5 s.
  auto [vc, vout] = run_cli({"keys", "revoke", "--data-dir", data, rid},
                            (dir.path / "revoke.log").string());
  CHECK(vc == 0);
  CHECK(wait_until(
      [&] { return keep(cli.Get("/api/v1/batches", bearer(rtoken))) == 401; },
      5s, 50ms));

  server.signal(SIGTERM);
  auto code = server.wait(30s);
  REQUIRE(code);
  CHECK(*code == 0);
  auto log = server.output();
  for (const auto& token : {wtoken, rtoken, forged}) {
    auto secret = secret_of(token);
    CHECK(log.find(secret) == std::string::npos);
    CHECK(metrics->body.find(secret) == std::string::npos);
    for (const auto& b : bodies)
      CHECK(b.find(secret) == std::string::npos);
  }

  // Audit lines: the submit (key, tenant, batch, 201), the refused one
  // (403, the read key), the upload; none for reads.
  auto audit = log_lines(log, "audit");
  bool submit_seen = false, refused_seen = false, upload_seen = false;
  for (const auto& a : audit) {
    INFO(a.dump());
    CHECK(a["method"] != "GET");
    if (a["route"] == "/api/v1/batches" && a["status"] == 201) {
      submit_seen = true;
      CHECK(a["key_id"] == wid);
      CHECK(a["org_id"] == "acme");
      CHECK(a["workspace_id"] == "main");
      CHECK(a["batch_id"] == batch);
    }
    if (a["route"] == "/api/v1/batches" && a["status"] == 403) {
      refused_seen = true;
      CHECK(a["key_id"] == rid);
    }
    if (a["route"] == "/api/v1/activities" && a["status"] == 200)
      upload_seen = a["key_id"] == wid;
  }
  CHECK(submit_seen);
  CHECK(refused_seen);
  CHECK(upload_seen);
  // The mode is logged at start.
  auto listening = log_lines(log, "listening");
  REQUIRE(listening.size() == 1);
  CHECK(listening[0]["auth"] == "keys");
}

TEST_CASE("a key revoked through one node is refused by a second node on "
          "the same database within 5 s") {
  test_database db;
  temp_dir dir{"ogf-auth2"};
  std::vector<int> ports{free_port(), free_port()};
  std::vector<std::unique_ptr<child_process>> nodes;
  for (int i = 0; i < 2; ++i)
    nodes.push_back(std::make_unique<child_process>(
        std::vector<std::string>{server_binary(), "serve", "--listen",
                                 "127.0.0.1:" + std::to_string(ports[i]),
                                 "--database-url", db.url(), "--auth", "keys",
                                 "--node-id", "node" + std::to_string(i),
                                 "--workers", "1"},
        std::map<std::string, std::string>{},
        (dir.path / ("node" + std::to_string(i) + ".log")).string()));
  for (auto port : ports)
    REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  auto [cc, cout] = run_cli({"keys", "create", "--database-url", db.url(),
                             "--org", "acme", "--workspace", "main", "--json"},
                            (dir.path / "create.log").string());
  REQUIRE(cc == 0);
  auto key = created_key(cout);
  auto token = key["token"].get<std::string>();
  auto get = [&](int port) {
    httplib::Client cli("127.0.0.1", port);
    cli.set_read_timeout(5, 0);
    return status_of(cli.Get("/api/v1/batches", bearer(token)));
  };
  // Both nodes know the key (and cache it).
  for (auto port : ports)
    REQUIRE(wait_until([&] { return get(port) == 200; }, 5s, 50ms));

  auto [vc, vout] = run_cli({"keys", "revoke", "--database-url", db.url(),
                             key["id"].get<std::string>()},
                            (dir.path / "revoke.log").string());
  REQUIRE(vc == 0);
  auto revoked = std::chrono::steady_clock::now();
  for (auto port : ports)
    CHECK(wait_until([&] { return get(port) == 401; }, 5s, 50ms));
  CHECK(std::chrono::steady_clock::now() - revoked < 5s);

  // Revoking an unknown key is an error the user sees.
  auto [uc, uout] = run_cli(
      {"keys", "revoke", "--database-url", db.url(), "0000000000000000"},
      (dir.path / "revoke-unknown.log").string());
  CHECK(uc == 1);
  CHECK(uout.find("0000000000000000") != std::string::npos);
  for (auto& n : nodes) {
    n->signal(SIGTERM);
    CHECK(n->wait(30s) == std::optional<int>(0));
  }
}

TEST_CASE("auth auto picks keys on a non-loopback address, and auth "
          "headers there starts with a warning") {
  test_database db;
  temp_dir dir{"ogf-auth3"};
  auto port = free_port();
  child_process keys({server_binary(), "serve", "--listen",
                      "0.0.0.0:" + std::to_string(port), "--database-url",
                      db.url(), "--workers", "1"},
                     {}, (dir.path / "auto.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  httplib::Client cli("127.0.0.1", port);
  auto r = cli.Get("/api/v1/batches",
                   {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}});
  REQUIRE(r);
  CHECK(r->status == 401);
  CHECK(r->get_header_value("WWW-Authenticate") == "Bearer");
  keys.signal(SIGTERM);
  CHECK(keys.wait(30s) == std::optional<int>(0));
  auto listening = log_lines(keys.output(), "listening");
  REQUIRE(listening.size() == 1);
  CHECK(listening[0]["auth"] == "keys");

  auto port2 = free_port();
  child_process headers({server_binary(), "serve", "--listen",
                         "0.0.0.0:" + std::to_string(port2), "--database-url",
                         db.url(), "--auth", "headers", "--workers", "1"},
                        {}, (dir.path / "headers.log").string());
  REQUIRE(wait_until([&] { return health_status(port2) == 200; }, 60s, 100ms));
  httplib::Client cli2("127.0.0.1", port2);
  auto h = cli2.Get("/api/v1/batches",
                    {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}});
  REQUIRE(h);
  CHECK(h->status == 200);
  headers.signal(SIGTERM);
  CHECK(headers.wait(30s) == std::optional<int>(0));
  bool warned = false;
  for (const auto& line : log_lines(
           headers.output(), std::string("--auth headers on a non-loopback "
                                         "address: anyone who can reach the "
                                         "port can act as any tenant; put an "
                                         "authenticating gateway in front, or "
                                         "use --auth keys")))
    warned = line["level"] == "warn";
  CHECK(warned);
}
