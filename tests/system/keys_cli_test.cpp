// `offgridflow-batch keys create|list|revoke` as a user runs them: on the
// embedded database the command starts itself, and through the socket of a
// `serve` that holds the data dir.
#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/api_token.hpp"
#include "persistence/embedded_postgres.hpp"
#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;

namespace {

const std::regex token_line("ogf_([0-9a-f]{16})_([0-9a-f]{64})\n");

/// Runs `offgridflow-batch keys <args> --data-dir <data>`.
struct keys_cli {
  const temp_dir& dir;
  fs::path data;

  command_output operator()(std::vector<std::string> args,
                            std::chrono::milliseconds timeout = 90s) const {
    args.insert(args.begin(), {server_binary(), "keys"});
    args.push_back("--data-dir");
    args.push_back(data.string());
    auto r = run_to_exit(args, {}, dir.path.string(), timeout);
    UNSCOPED_INFO("keys " << args[2] << ": exit " << r.exit_code
                          << "\nstdout: " << r.out << "\nstderr: " << r.err);
    return r;
  }
};

/// The token a plain `keys create` printed.
auth::token token_of(const command_output& r) {
  std::smatch m;
  REQUIRE(std::regex_match(r.out, m, token_line));
  auto t = auth::parse_token(r.out.substr(0, r.out.size() - 1));
  REQUIRE(t);
  return *t;
}

bool is_rfc3339_ms(const std::string& s) {
  static const std::regex re(R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  return std::regex_match(s, re);
}

/// Every row of the `offgridflow` database as pg_dump writes it.
std::string data_dump(const std::string& url) {
  auto pg_dump = persistence::embedded_postgres::find_bin_dir() / "pg_dump";
  auto r = persistence::run_command(
      {pg_dump.string(), "--data-only", "-d", url}, false);
  REQUIRE(r.exit_code == 0);
  return r.output;
}

std::string one_value(const std::string& url, const std::string& query,
                      const std::string& param) {
  pqxx::connection c{url};
  pqxx::nontransaction tx{c};
  auto r = tx.exec_params(query, param);
  REQUIRE(r.size() == 1);
  return r[0][0].is_null() ? "<null>" : r[0][0].as<std::string>();
}

/// The `keys list` table's rows (header first), split into columns.
std::vector<std::vector<std::string>> table_of(const std::string& out) {
  std::vector<std::vector<std::string>> rows;
  std::istringstream lines(out);
  std::string line;
  while (std::getline(lines, line)) {
    std::istringstream words(line);
    std::vector<std::string> row;
    std::string w;
    while (words >> w)
      row.push_back(w);
    rows.push_back(row);
  }
  return rows;
}

} // namespace

TEST_CASE("keys create prints only the token, the database holds only its "
          "hash, and list, revoke and revoke again work on the embedded "
          "database") {
  temp_dir dir{"ogf-keys"};
  keys_cli keys{dir, dir.path / "data"};

  // Plain: the token alone on stdout, a human line on stderr.
  auto created = keys({"create", "--org", "acme", "--workspace", "main",
                       "--name", "ci deploy", "--expires", "90d"});
  REQUIRE(created.exit_code == 0);
  auto token = token_of(created);
  CHECK(created.err.rfind("created key " + token.key_id +
                              " for acme/main, role write, expires ",
                          0) == 0);
  CHECK(created.err.find("; the token is shown only now\n") !=
        std::string::npos);
  CHECK(std::count(created.err.begin(), created.err.end(), '\n') == 1);

  // --json: one object, read key, never expires.
  auto as_json = keys({"create", "--org", "acme", "--workspace", "reports",
                       "--role", "read", "--json"});
  REQUIRE(as_json.exit_code == 0);
  CHECK(std::count(as_json.out.begin(), as_json.out.end(), '\n') == 1);
  auto j = json::parse(as_json.out);
  auto json_token = auth::parse_token(j["token"].get<std::string>());
  REQUIRE(json_token);
  CHECK(j["id"] == json_token->key_id);
  CHECK(j["org_id"] == "acme");
  CHECK(j["workspace_id"] == "reports");
  CHECK(j["name"] == "");
  CHECK(j["role"] == "read");
  CHECK(is_rfc3339_ms(j["created_at"]));
  CHECK(j["expires_at"].is_null());

  auto other = keys({"create", "--org", "globex", "--workspace", "main"});
  REQUIRE(other.exit_code == 0);
  auto other_token = token_of(other);

  // Plain list: header, one row per key oldest first, no token or secret.
  auto listed = keys({"list"});
  REQUIRE(listed.exit_code == 0);
  CHECK(listed.out.find(token.secret) == std::string::npos);
  auto rows = table_of(listed.out);
  REQUIRE(rows.size() == 4);
  CHECK(rows[0] == std::vector<std::string>{"ID", "ORG", "WORKSPACE", "ROLE",
                                            "STATUS", "EXPIRES", "NAME"});
  REQUIRE(rows[1].size() == 8); // the name "ci deploy" is two words
  CHECK(rows[1][0] == token.key_id);
  CHECK(rows[1][1] == "acme");
  CHECK(rows[1][2] == "main");
  CHECK(rows[1][3] == "write");
  CHECK(rows[1][4] == "active");
  CHECK(is_rfc3339_ms(rows[1][5]));
  CHECK(rows[1][6] == "ci");
  CHECK(rows[2] == std::vector<std::string>{json_token->key_id, "acme",
                                            "reports", "read", "active",
                                            "never"});
  CHECK(rows[3][0] == other_token.key_id);

  // --org filter, as JSON.
  auto acme = keys({"list", "--org", "acme", "--json"});
  REQUIRE(acme.exit_code == 0);
  auto arr = json::parse(acme.out);
  REQUIRE(arr.size() == 2);
  CHECK(arr[0]["id"] == token.key_id);
  CHECK(arr[0]["name"] == "ci deploy");
  CHECK(arr[0]["status"] == "active");
  CHECK(is_rfc3339_ms(arr[0]["expires_at"]));
  CHECK(arr[0]["revoked_at"].is_null());
  CHECK(arr[1]["id"] == json_token->key_id);
  for (const auto& k : arr) {
    CHECK_FALSE(k.contains("token"));
    CHECK_FALSE(k.contains("secret_hash"));
  }
  CHECK(acme.out.find(token.secret) == std::string::npos);
  CHECK(acme.out.find(auth::hash_secret(token.secret)) == std::string::npos);

  // Revoke, then again, then an unknown and a malformed id.
  auto revoked = keys({"revoke", token.key_id});
  CHECK(revoked.exit_code == 0);
  CHECK(revoked.out == "revoked key " + token.key_id + "\n");
  auto again = keys({"revoke", token.key_id});
  CHECK(again.exit_code == 0);
  CHECK(again.out == "key " + token.key_id + " was already revoked\n");
  auto unknown = keys({"revoke", "ffffffffffffffff"});
  CHECK(unknown.exit_code == 1);
  CHECK(unknown.err ==
        "offgridflow-batch: no API key with id ffffffffffffffff\n");
  auto malformed = keys({"revoke", "not-a-key"});
  CHECK(malformed.exit_code == 1);
  CHECK(malformed.err == "offgridflow-batch: no API key with id not-a-key\n");

  auto after = json::parse(keys({"list", "--json"}).out);
  REQUIRE(after.size() == 3);
  CHECK(after[0]["status"] == "revoked");
  CHECK(is_rfc3339_ms(after[0]["revoked_at"]));
  CHECK(after[1]["status"] == "active");
  CHECK(after[2]["status"] == "active");

  // The database: the hash of each secret, and no token or secret at all.
  persistence::embedded_postgres_config cfg;
  cfg.data_dir = dir.path / "data";
  persistence::embedded_postgres pg{cfg};
  pg.start();
  auto url = pg.connection_string("offgridflow");
  CHECK(one_value(url, "SELECT secret_hash FROM api_keys WHERE id = $1",
                  token.key_id) == auth::hash_secret(token.secret));
  CHECK(one_value(url, "SELECT secret_hash FROM api_keys WHERE id = $1",
                  other_token.key_id) == auth::hash_secret(other_token.secret));
  auto dump = data_dump(url);
  CHECK(dump.find(auth::hash_secret(token.secret)) != std::string::npos);
  for (const auto& t : {token, *json_token, other_token}) {
    CHECK(dump.find(t.secret) == std::string::npos);
    CHECK(dump.find(auth::format_token(t)) == std::string::npos);
  }
  pg.stop();
}

TEST_CASE("keys create refuses a bad role, org, workspace, name or expiry "
          "with exit 2 before touching the database") {
  temp_dir dir{"ogf-keys"};
  keys_cli keys{dir, dir.path / "data"};
  struct bad_case {
    std::vector<std::string> args;
    std::string flag;
  };
  const std::vector<std::string> ok{"--org", "acme", "--workspace", "main"};
  auto with = [&](std::vector<std::string> extra) {
    auto args = ok;
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  };
  std::vector<bad_case> cases{
      {with({"--role", "admin"}), "--role"},
      {with({"--expires", "0d"}), "--expires"},
      {with({"--expires", "3651d"}), "--expires"},
      {with({"--expires", "1w"}), "--expires"},
      {with({"--name", std::string(201, 'n')}), "--name"},
      {with({"--name", "line\nbreak"}), "--name"},
      {{"--org", "acme corp", "--workspace", "main"}, "--org"},
      {{"--org", std::string(65, 'o'), "--workspace", "main"}, "--org"},
      {{"--org", "acme", "--workspace", "m/n"}, "--workspace"},
      {{"--workspace", "main"}, "--org"},
  };
  for (auto& c : cases) {
    c.args.insert(c.args.begin(), "create");
    auto r = keys(c.args, 30s);
    CHECK(r.exit_code == 2);
    CHECK(r.out.empty());
    CHECK(r.err.rfind("offgridflow-batch: ", 0) == 0);
    CHECK(r.err.find(c.flag) != std::string::npos);
    CHECK(std::count(r.err.begin(), r.err.end(), '\n') == 1);
  }
  auto bad_org = keys({"list", "--org", "a b"}, 30s);
  CHECK(bad_org.exit_code == 2);
  CHECK(bad_org.err.find("--org") != std::string::npos);
  auto unknown_flag = keys({"list", "--no-such-flag"}, 30s);
  CHECK(unknown_flag.exit_code == 2);
  CHECK(std::count(unknown_flag.err.begin(), unknown_flag.err.end(), '\n') ==
        1);
  // Nothing was started or created.
  CHECK_FALSE(fs::exists(dir.path / "data"));
}

TEST_CASE("keys has help on every level") {
  temp_dir dir{"ogf-keys"};
  for (auto args :
       std::vector<std::vector<std::string>>{{"keys", "--help"},
                                             {"keys", "create", "--help"},
                                             {"keys", "list", "--help"},
                                             {"keys", "revoke", "--help"}}) {
    args.insert(args.begin(), server_binary());
    auto r = run_to_exit(args, {}, dir.path.string(), 10s);
    CHECK(r.exit_code == 0);
    CHECK(r.out.find("Usage:") != std::string::npos);
  }
  auto create_help = run_to_exit({server_binary(), "keys", "create", "--help"},
                                 {}, dir.path.string(), 10s);
  for (const char* flag :
       {"--org", "--workspace", "--name", "--role", "--expires", "--json"})
    CHECK(create_help.out.find(flag) != std::string::npos);
}

TEST_CASE("keys create, list and revoke work through the socket of a serve "
          "that holds the data dir, which keeps serving") {
  temp_dir dir{"ogf-keys"};
  auto data = dir.path / "data";
  auto port = free_port();
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        data.string()},
                       {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  auto postmaster = [&] {
    std::ifstream in(data / "pgdata" / "postmaster.pid");
    long pid = 0;
    in >> pid;
    return pid;
  };
  auto pid_before = postmaster();
  REQUIRE(pid_before > 0);

  keys_cli keys{dir, data};
  auto created = keys({"create", "--org", "acme", "--workspace", "main",
                       "--role", "read", "--expires", "12h"});
  REQUIRE(created.exit_code == 0);
  auto token = token_of(created);
  // No server of its own to start and stop: quick.
  CHECK(created.took < 5s);

  auto listed = keys({"list", "--json"});
  REQUIRE(listed.exit_code == 0);
  auto arr = json::parse(listed.out);
  REQUIRE(arr.size() == 1);
  CHECK(arr[0]["id"] == token.key_id);
  CHECK(arr[0]["role"] == "read");
  CHECK(arr[0]["status"] == "active");
  CHECK(listed.took < 5s);

  // The same rows the serve's database holds.
  auto url = persistence::embedded_postgres::connection_string_for(
      data, "offgridflow");
  CHECK(one_value(url, "SELECT secret_hash FROM api_keys WHERE id = $1",
                  token.key_id) == auth::hash_secret(token.secret));
  CHECK(data_dump(url).find(token.secret) == std::string::npos);

  auto revoked = keys({"revoke", token.key_id});
  CHECK(revoked.exit_code == 0);
  CHECK(revoked.out == "revoked key " + token.key_id + "\n");
  CHECK(revoked.took < 5s);
  CHECK(keys({"revoke", token.key_id}).out ==
        "key " + token.key_id + " was already revoked\n");
  CHECK(keys({"revoke", "0000000000000000"}).exit_code == 1);
  CHECK(one_value(url,
                  "SELECT (revoked_at IS NOT NULL)::text FROM api_keys "
                  "WHERE id = $1",
                  token.key_id) == "true");

  // The serve and its database were left alone.
  CHECK(health_status(port) == 200);
  CHECK(postmaster() == pid_before);
  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
}
