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
  CHECK(first.find("CREATE TABLE public.api_keys") != std::string::npos);

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
  // lapsed and a newer batch with the same key, an activity, and an API
  // key (revoked).
  {
    pqxx::work tx{conn};
    tx.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
            " idempotency_key, idempotency_expired, created_at) VALUES"
            " ('o', 'w', 0, 'k', true, now() - interval '2 days'),"
            " ('o', 'w', 0, 'k', false, now())");
    tx.exec("INSERT INTO activities (org_id, workspace_id, id, activity_type,"
            " quantity, unit, period_start, period_end) VALUES"
            " ('o', 'w', 'a1', 'diesel', 1, 'L', '2024-01-01', '2024-01-01')");
    tx.exec("INSERT INTO api_keys (id, org_id, workspace_id, role,"
            " secret_hash, revoked_at) VALUES ('0123456789abcdef', 'o', 'w',"
            " 'read', repeat('ab', 32), now())");
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

TEST_CASE("004 moves item results into batch_results and down folds them "
          "back, item for item") {
  test_database db{false};
  pqxx::connection conn{db.url()};
  persistence::migrator{conn, ogf::testing::migrations_up_to(3)}.up();
  // Under 003: a batch retried once whose items are succeeded, failed,
  // pending after a failure (attempts 1), and never processed.
  {
    pqxx::work tx{conn};
    tx.exec("INSERT INTO batch_jobs (id, org_id, workspace_id, status,"
            " retry_count, total_activities, processed_activities,"
            " succeeded_activities, failed_activities,"
            " total_emissions_kg_co2e) VALUES"
            " ('00000000-0000-0000-0000-0000000000b1', 'o', 'w', 'failed',"
            " 1, 4, 2, 1, 1, 1.250000)");
    tx.exec("INSERT INTO batch_items (batch_id, activity_id, status, scope,"
            " emissions_kg_co2e, factor_id, error, attempts, lease_token,"
            " processed_at) VALUES"
            " ('00000000-0000-0000-0000-0000000000b1', 'a1', 'succeeded', 2,"
            "  1.250000, 'f1', NULL, 1, 3, '2025-01-01 10:00:00+00'),"
            " ('00000000-0000-0000-0000-0000000000b1', 'a2', 'failed', NULL,"
            "  NULL, NULL, 'no_emission_factor', 2, 4,"
            "  '2025-01-01 11:00:00+00'),"
            " ('00000000-0000-0000-0000-0000000000b1', 'a3', 'pending', NULL,"
            "  NULL, NULL, NULL, 1, 3, '2025-01-01 10:00:00+00'),"
            " ('00000000-0000-0000-0000-0000000000b1', 'a4', 'pending', NULL,"
            "  NULL, NULL, NULL, 0, NULL, NULL)");
    tx.commit();
  }
  const std::string view =
      "SELECT string_agg(concat_ws('|', activity_id, status, scope,"
      " emissions_kg_co2e, factor_id, error), ';' ORDER BY activity_id)"
      " FROM batch_items";
  auto text = [&](const std::string& sql) {
    pqxx::work tx{conn};
    auto f = tx.exec1(sql)[0];
    return f.is_null() ? std::string("<null>") : f.as<std::string>();
  };
  auto before = text(view);
  // (concat_ws leaves NULLs out.)
  CHECK(before == "a1|succeeded|2|1.250000|f1;a2|failed|no_emission_factor;"
                  "a3|pending;a4|pending");

  persistence::migrator{conn, ogf::testing::migrations_up_to(4)}.up();
  // The view shows what the table held; results are rows of the current
  // attempt (retry_count 1).
  CHECK(text(view) == before);
  CHECK(count(conn, "SELECT count(*) FROM batch_item_ids") == 4);
  CHECK(count(conn, "SELECT count(*) FROM batch_results WHERE attempt = 1") ==
        2);
  CHECK(text("SELECT emissions_kg_co2e::text FROM batch_results WHERE"
             " activity_id = 'a1'") == "1.250000");

  persistence::migrator{conn, ogf::testing::migrations_up_to(4)}.down(1);
  CHECK(persistence::migrator{conn, ogf::testing::migrations_up_to(3)}
            .status()
            .version == 3);
  // Back in the table, statuses and results as they were; processed_at and
  // lease tokens of the results kept.
  CHECK(text(view) == before);
  CHECK(text("SELECT string_agg(concat_ws('|', activity_id, lease_token,"
             " processed_at), ';' ORDER BY activity_id) FROM batch_items"
             " WHERE status <> 'pending'") ==
        "a1|3|2025-01-01 10:00:00+00;a2|4|2025-01-01 11:00:00+00");
}
