// The real `offgridflow-batch` binary, as a user runs it.
#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <thread>

#include <sys/socket.h>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "persistence/migrations.hpp"
#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/raw_client.hpp"
#include "support/system_helpers.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;

namespace {

bool postgres_running_in(const fs::path& data_dir) {
  return fs::exists(data_dir / "pgdata" / "postmaster.pid");
}

/// The postmaster's pid from the data dir's postmaster.pid, or 0.
pid_t postmaster_pid(const fs::path& data_dir) {
  std::ifstream in(data_dir / "pgdata" / "postmaster.pid");
  long pid = 0;
  in >> pid;
  return static_cast<pid_t>(pid);
}

const httplib::Headers tenant_headers{{"X-Org-ID", "acme"},
                                      {"X-Workspace-ID", "main"}};

} // namespace

TEST_CASE("serve answers health on its embedded database and SIGTERM stops "
          "it and the database with exit 0") {
  temp_dir dir{"ogf-serve"};
  auto port = free_port();
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        (dir.path / "data").string()},
                       {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  httplib::Client cli("127.0.0.1", port);
  auto res = cli.Get("/api/v1/health");
  REQUIRE(res);
  auto body = nlohmann::json::parse(res->body);
  CHECK(body["status"] == "ok");
  CHECK(body["database"]["status"] == "ok");
  CHECK(body["scheduler"]["workers"] == 5);
  CHECK(postgres_running_in(dir.path / "data"));

  server.signal(SIGTERM);
  auto code = server.wait(30s);
  REQUIRE(code);
  CHECK(*code == 0);
  CHECK_FALSE(postgres_running_in(dir.path / "data"));
  // Logs are JSON lines on stderr.
  auto first_line = server.output().substr(0, server.output().find('\n'));
  CHECK(nlohmann::json::parse(first_line).contains("ts"));
}

TEST_CASE("SIGTERM with a client trickling a request body still exits 0 "
          "within --shutdown-timeout") {
  temp_dir dir{"ogf-serve"};
  auto port = free_port();
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        (dir.path / "data").string(), "--shutdown-timeout",
                        "2s"},
                       {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));

  // A 200 kB upload sent one byte every 0.5 s: each read is well within
  // the server's per-read timeout, the whole body would take 28 hours.
  raw_client slow{port};
  REQUIRE(slow.ok());
  REQUIRE(slow.send_all("POST /api/v1/activities HTTP/1.1\r\nHost: x\r\n"
                        "X-Org-ID: acme\r\nX-Workspace-ID: main\r\n"
                        "Content-Type: text/csv\r\n"
                        "Content-Length: 200000\r\n\r\nid,activity_type"));
  std::atomic<bool> stop{false};
  std::thread trickle([&] {
    while (!stop && ::send(slow.fd(), ",", 1, MSG_NOSIGNAL) == 1)
      std::this_thread::sleep_for(500ms);
  });
  std::this_thread::sleep_for(1500ms); // a pool thread is reading the body

  auto start = std::chrono::steady_clock::now();
  server.signal(SIGTERM);
  auto code = server.wait(40s);
  auto took = std::chrono::steady_clock::now() - start;
  stop = true;
  trickle.join();
  REQUIRE(code);
  CHECK(*code == 0);
  // CONTRACT §1: exit 0 within --shutdown-timeout, whatever clients do.
  // The margin covers only the test's own polling and the time the kernel
  // takes to reap the process on a busy machine.
  INFO("exit took "
       << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
       << " ms");
  CHECK(took < 2s + 1s);
  CHECK_FALSE(postgres_running_in(dir.path / "data"));
  // The slow client was cut off, not left hanging.
  CHECK(slow.wait_closed(1s));
}

TEST_CASE("a second serve on the same data dir fails with a clear error and "
          "leaves the first one serving") {
  temp_dir dir{"ogf-serve"};
  auto port = free_port();
  auto data = (dir.path / "data").string();
  child_process first({server_binary(), "serve", "--listen",
                       "127.0.0.1:" + std::to_string(port), "--data-dir", data},
                      {}, (dir.path / "first.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  auto port2 = free_port();
  child_process second({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port2), "--data-dir",
                        data},
                       {}, (dir.path / "second.log").string());
  auto code = second.wait(30s);
  REQUIRE(code);
  CHECK(*code == 1);
  CHECK(second.output().find("in use by another offgridflow-batch process") !=
        std::string::npos);
  CHECK(health_status(port) == 200);
  first.signal(SIGTERM);
  CHECK(first.wait(30s) == 0);
}

TEST_CASE("a serve killed with SIGKILL leaves a database the next serve "
          "starts on") {
  temp_dir dir{"ogf-serve"};
  auto data = (dir.path / "data").string();
  auto port = free_port();
  {
    child_process first({server_binary(), "serve", "--listen",
                         "127.0.0.1:" + std::to_string(port), "--data-dir",
                         data},
                        {}, (dir.path / "first.log").string());
    REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
    first.signal(SIGKILL);
    REQUIRE(first.wait(10s));
  }
  // The orphaned postmaster still runs; the next serve must take over.
  child_process second({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        data},
                       {}, (dir.path / "second.log").string());
  CHECK(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  second.signal(SIGTERM);
  CHECK(second.wait(30s) == 0);
}

TEST_CASE("unknown flags exit 2 with a one-line error and every level has "
          "help") {
  temp_dir dir{"ogf-serve"};
  child_process bad({server_binary(), "serve", "--no-such-flag"}, {},
                    (dir.path / "bad.log").string());
  CHECK(bad.wait(10s) == 2);
  auto out = bad.output();
  CHECK(out.find("--no-such-flag") != std::string::npos);
  CHECK(std::count(out.begin(), out.end(), '\n') == 1);

  for (auto args :
       std::vector<std::vector<std::string>>{{"--help"},
                                             {"serve", "--help"},
                                             {"migrate", "--help"},
                                             {"migrate", "down", "--help"}}) {
    args.insert(args.begin(), server_binary());
    child_process help(args, {}, (dir.path / "help.log").string());
    CHECK(help.wait(10s) == 0);
    CHECK(help.output().find("Usage:") != std::string::npos);
  }
}

TEST_CASE("serve refuses a --bundle-size outside 1..1000 with exit 2, and "
          "its help shows the option with its default") {
  temp_dir dir{"ogf-serve"};
  for (std::string value : {"0", "1001", "-3"}) {
    INFO("--bundle-size " << value);
    child_process bad({server_binary(), "serve", "--bundle-size", value}, {},
                      (dir.path / "bad.log").string());
    CHECK(bad.wait(10s) == 2);
    CHECK(bad.output().find("--bundle-size") != std::string::npos);
  }
  child_process help({server_binary(), "serve", "--help"}, {},
                     (dir.path / "help.log").string());
  CHECK(help.wait(10s) == 0);
  auto out = help.output();
  auto at = out.find("--bundle-size");
  REQUIRE(at != std::string::npos);
  auto line = out.substr(at, out.find('\n', at) - at);
  INFO(line);
  CHECK(line.find("50") != std::string::npos);
}

TEST_CASE("OGF_ environment variables configure serve and flags win over "
          "them") {
  temp_dir dir{"ogf-serve"};
  auto env_port = free_port();
  auto flag_port = free_port();
  // --data-dir is also a flag of migrate and keys: the one given to serve
  // must win over OGF_DATA_DIR all the same.
  auto env_data = dir.path / "env-data";
  auto flag_data = dir.path / "data";
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(flag_port), "--data-dir",
                        flag_data.string()},
                       {{"OGF_LISTEN", "127.0.0.1:" + std::to_string(env_port)},
                        {"OGF_DATA_DIR", env_data.string()},
                        {"OGF_WORKERS", "3"}},
                       (dir.path / "serve.log").string());
  REQUIRE(
      wait_until([&] { return health_status(flag_port) == 200; }, 60s, 100ms));
  CHECK(health_status(env_port) == 0);
  httplib::Client cli("127.0.0.1", flag_port);
  auto res = cli.Get("/api/v1/health");
  REQUIRE(res);
  CHECK(nlohmann::json::parse(res->body)["scheduler"]["workers"] == 3);
  CHECK(fs::exists(flag_data / "pgdata"));
  CHECK_FALSE(fs::exists(env_data));
  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
}

TEST_CASE("migrate up, status and down work on the embedded database") {
  temp_dir dir{"ogf-serve"};
  auto data = (dir.path / "data").string();
  auto run = [&](std::vector<std::string> args) {
    args.insert(args.begin(), server_binary());
    args.push_back("--data-dir");
    args.push_back(data);
    child_process p(args, {}, (dir.path / "migrate.log").string());
    auto code = p.wait(60s);
    return std::make_pair(code.value_or(-1), p.output());
  };
  // Whatever migrations the binary carries (their numbers may have gaps).
  auto all = ogf::persistence::embedded_migrations();
  auto count = std::to_string(all.size());
  auto latest = std::to_string(all.back().version);
  auto up = run({"migrate", "up"});
  CHECK(up.first == 0);
  CHECK(up.second.find("applied " + count + " migration(s); version " +
                       latest) != std::string::npos);
  auto status = run({"migrate", "status"});
  CHECK(status.first == 0);
  CHECK(status.second.find("version " + latest + ", latest " + latest +
                           ", pending 0") != std::string::npos);
  auto down = run({"migrate", "down", count});
  CHECK(down.first == 0);
  CHECK(down.second.find("rolled back " + count + " migration(s); version 0") !=
        std::string::npos);
}

TEST_CASE("serve starts its embedded PostgreSQL again when the postmaster is "
          "killed, and serves what was committed before") {
  temp_dir dir{"ogf-serve"};
  auto port = free_port();
  auto data = dir.path / "data";
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--data-dir",
                        data.string()},
                       {}, (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  httplib::Client cli("127.0.0.1", port);
  cli.set_read_timeout(10, 0);
  auto res = cli.Post("/api/v1/batches", tenant_headers,
                      R"({"activity_ids": ["a1"]})", "application/json");
  REQUIRE(res);
  REQUIRE(res->status == 201);
  auto id = nlohmann::json::parse(res->body)["id"].get<std::string>();

  auto old_pid = postmaster_pid(data);
  REQUIRE(old_pid > 0);
  REQUIRE(kill(old_pid, SIGKILL) == 0);
  // Health answers 503 while the database is gone, then 200 again on a new
  // postmaster, without anyone restarting serve.
  CHECK(wait_until([&] { return health_status(port) == 503; }, 10s, 50ms));
  CHECK(wait_until(
      [&] {
        auto pid = postmaster_pid(data);
        return pid > 0 && pid != old_pid && health_status(port) == 200;
      },
      60s, 200ms));
  CHECK(server.output().find("embedded PostgreSQL died, restarting") !=
        std::string::npos);
  // Logged once pg_ctl returns, which may be just after the new postmaster
  // already answers health.
  CHECK(wait_until(
      [&] {
        return server.output().find("embedded PostgreSQL restarted") !=
               std::string::npos;
      },
      10s, 20ms));

  // The batch committed before the crash is there; new work is taken.
  auto got = cli.Get(("/api/v1/batches/" + id).c_str(), tenant_headers);
  REQUIRE(got);
  CHECK(got->status == 200);
  auto again = cli.Post("/api/v1/batches", tenant_headers,
                        R"({"activity_ids": ["a2"]})", "application/json");
  REQUIRE(again);
  CHECK(again->status == 201);

  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
  CHECK_FALSE(postgres_running_in(data));
}
