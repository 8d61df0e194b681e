#include "persistence/migrations.hpp"

#include <future>
#include <regex>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "persistence/embedded_postgres.hpp"
#include "support/test_database.hpp"

using namespace ogf;
using ogf::testing::test_database;

namespace {

std::string schema_dump(const test_database& db) {
  auto pg_dump = persistence::embedded_postgres::find_bin_dir() / "pg_dump";
  auto r = persistence::run_command(
      {pg_dump.string(), "--schema-only", "--no-owner", "-d", db.url()}, false);
  REQUIRE(r.exit_code == 0);
  // Comment lines and the per-run random \restrict key (pg_dump 15.14+)
  // differ between two dumps of the same schema.
  return std::regex_replace(
      r.output,
      std::regex("^(--|\\\\restrict|\\\\unrestrict).*$", std::regex::multiline),
      "");
}

std::int64_t count(pqxx::connection& c, const std::string& sql) {
  pqxx::work tx{c};
  return tx.exec1(sql)[0].as<std::int64_t>();
}

} // namespace

TEST_CASE("migrations go up to latest, down to zero and up again to the same "
          "schema") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  persistence::migrator m{conn};
  auto all = persistence::embedded_migrations();
  REQUIRE(all.size() >= 1);

  CHECK(m.up() == static_cast<int>(all.size()));
  auto first = schema_dump(db);
  auto st = m.status();
  CHECK(st.version == all.back().version);
  CHECK_FALSE(st.dirty);
  CHECK(first.find("CREATE TABLE public.batch_jobs") != std::string::npos);

  CHECK(m.down(-1) == static_cast<int>(all.size()));
  CHECK(m.status().version == 0);
  CHECK(count(conn, "SELECT count(*) FROM pg_tables WHERE schemaname = "
                    "'public' AND tablename <> 'schema_migrations'") == 0);

  CHECK(m.up() == static_cast<int>(all.size()));
  CHECK(schema_dump(db) == first);
  CHECK(m.up() == 0); // nothing pending
}

TEST_CASE("down N rolls back exactly N migrations") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  persistence::migrator m{conn};
  auto all = persistence::embedded_migrations();
  m.up();
  if (all.size() >= 2) {
    CHECK(m.down(1) == 1);
    CHECK(m.status().version == all[all.size() - 2].version);
  } else {
    CHECK(m.down(1) == 1);
    CHECK(m.status().version == 0);
  }
}

TEST_CASE("each migration's down restores exactly the schema before it, with "
          "data in the tables") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  auto all = persistence::embedded_migrations();
  // The schema after each prefix of the migrations, built up one by one
  // (after[0]: only the schema_migrations table).
  CHECK(persistence::migrator{conn, {}}.up() == 0);
  std::vector<std::string> after{schema_dump(db)};
  for (std::size_t n = 1; n <= all.size(); ++n) {
    std::vector<persistence::migration> prefix(all.begin(), all.begin() + n);
    persistence::migrator m{conn, prefix};
    CHECK(m.up() == 1);
    after.push_back(schema_dump(db));
  }
  // Rows a down migration must cope with: a batch whose idempotency key
  // lapsed and a newer batch with the same key, and an activity.
  {
    pqxx::work tx{conn};
    tx.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
            " idempotency_key, idempotency_expired, created_at) VALUES"
            " ('o', 'w', 0, 'k', true, now() - interval '2 days'),"
            " ('o', 'w', 0, 'k', false, now())");
    tx.exec("INSERT INTO activities (org_id, workspace_id, id, activity_type,"
            " quantity, unit, period_start, period_end) VALUES"
            " ('o', 'w', 'a1', 'diesel', 1, 'L', '2024-01-01', '2024-01-01')");
    tx.commit();
  }
  persistence::migrator m{conn};
  for (auto n = all.size(); n > 0; --n) {
    CHECK(m.down(1) == 1);
    INFO("down of " << all[n - 1].name);
    CHECK(schema_dump(db) == after[n - 1]);
  }
}

TEST_CASE("a failed migration leaves the database dirty and refuses to go on") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  auto migrations = persistence::embedded_migrations();
  migrations.push_back({999, "broken",
                        "CREATE TABLE ok_table (x int); "
                        "SELECT no_such_function();",
                        "DROP TABLE ok_table;"});
  persistence::migrator m{conn, migrations};
  CHECK_THROWS_AS(m.up(), persistence::migration_error);
  auto st = m.status();
  CHECK(st.version == 999);
  CHECK(st.dirty);
  // The failed migration's own statements were rolled back with it.
  CHECK(count(conn, "SELECT count(*) FROM pg_tables WHERE tablename = "
                    "'ok_table'") == 0);
  try {
    m.up();
    FAIL("a dirty database must refuse further migrations");
  } catch (const persistence::migration_error& e) {
    CHECK(std::string(e.what()).find("dirty") != std::string::npos);
  }
}

TEST_CASE("two nodes migrating at once apply every migration exactly once") {
  test_database db{false};
  auto run = [&] {
    pqxx::connection conn{db.url()};
    persistence::migrator m{conn};
    return m.up();
  };
  auto a = std::async(std::launch::async, run);
  auto b = std::async(std::launch::async, run);
  auto applied = a.get() + b.get();
  CHECK(applied == static_cast<int>(persistence::embedded_migrations().size()));
  pqxx::connection conn{db.url()};
  persistence::migrator m{conn};
  CHECK(m.status().version ==
        persistence::embedded_migrations().back().version);
}

TEST_CASE("the SQL units table matches the migrations' intent") {
  test_database db;
  pqxx::connection conn{db.url()};
  CHECK(count(conn, "SELECT count(*) FROM units") == 19);
  CHECK(count(conn, "SELECT count(DISTINCT dimension) FROM units") == 7);
}
