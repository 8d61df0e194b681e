// serve --retention as a user runs it: bad windows refused before anything
// starts (exit 2, one line naming the flag), a good one (flag over
// OGF_RETENTION) logged at start and pruning an old ended batch.
#include <algorithm>
#include <csignal>
#include <string>
#include <vector>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;

TEST_CASE("serve refuses a --retention without a unit, with a sign or an "
          "unknown unit, under 1s or over 36500d, with exit 2") {
  temp_dir dir{"ogf-retention"};
  for (std::string value :
       {"30", "-1d", "1.5d", "4w", "abc", "", "999ms", "500ms", "36501d"}) {
    INFO("--retention '" << value << "'");
    child_process bad({server_binary(), "serve", "--retention", value}, {},
                      (dir.path / "bad.log").string());
    CHECK(bad.wait(10s) == 2);
    auto out = bad.output();
    CHECK(out.find("retention") != std::string::npos);
    CHECK(std::count(out.begin(), out.end(), '\n') == 1);
  }
  child_process env_bad({server_binary(), "serve"}, {{"OGF_RETENTION", "7"}},
                        (dir.path / "env.log").string());
  CHECK(env_bad.wait(10s) == 2);
  CHECK(env_bad.output().find("--retention") != std::string::npos);
}

TEST_CASE("serve --retention 30d, over OGF_RETENTION, prunes a batch that "
          "ended 31 days ago and keeps one that ended 29 days ago") {
  test_database db;
  execute(db, "INSERT INTO batch_jobs (org_id, workspace_id, status,"
              " total_activities, completed_at, metadata) VALUES"
              " ('acme', 'main', 'completed', 0, now() - interval '31 days',"
              "  '{\"age\": \"old\"}'),"
              " ('acme', 'main', 'cancelled', 0, now() - interval '29 days',"
              "  '{\"age\": \"recent\"}')");
  temp_dir dir{"ogf-retention"};
  auto port = free_port();
  child_process server({server_binary(), "serve", "--listen",
                        "127.0.0.1:" + std::to_string(port), "--database-url",
                        db.url(), "--workers", "1", "--retention", "30d"},
                       {{"OGF_RETENTION", "12h"}},
                       (dir.path / "serve.log").string());
  REQUIRE(wait_until([&] { return health_status(port) == 200; }, 60s, 100ms));
  CHECK(wait_until(
      [&] {
        return scalar(db, "SELECT count(*) FROM batch_jobs WHERE "
                          "metadata->>'age' = 'old'") == 0;
      },
      20s));
  CHECK(scalar(db, "SELECT count(*) FROM batch_jobs") == 1);
  server.signal(SIGTERM);
  CHECK(server.wait(30s) == 0);
  // The window it ran with: the flag's 30 days, not the variable's 12 h.
  auto out = server.output();
  CHECK(out.find("\"retention_ms\":2592000000") != std::string::npos);
}
