// Real PostgreSQL for tests: one embedded cluster per test run (started by
// the ctest fixture `pg_cluster_start`, or by the first test of a process run
// by hand), and a fresh database per test case cloned from a migrated
// template, so test cases are isolated and may run in parallel.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "persistence/migrations.hpp"

namespace ogf::testing {

/// Name of the migrated template database inside the test cluster.
inline constexpr const char* template_database = "ogf_template";

/// Starts (or reuses) a test cluster in `dir` and creates the migrated
/// template. Settings favour speed over durability (fsync off): test data is
/// thrown away.
void start_test_cluster(const std::filesystem::path& dir);

/// Stops the test cluster in `dir`.
void stop_test_cluster(const std::filesystem::path& dir);

/// A fresh database, dropped when this object goes away.
class test_database {
public:
  /// Clone of the migrated template (the usual case).
  test_database();
  /// An empty database (no migrations) when `migrated` is false.
  explicit test_database(bool migrated);
  ~test_database();

  test_database(const test_database&) = delete;
  test_database& operator=(const test_database&) = delete;

  const std::string& name() const { return name_; }

  /// libpq connection string of this database.
  std::string url() const;

  /// Connection string of the cluster's maintenance database.
  static std::string admin_url();

  /// Folder of the running test cluster.
  static std::filesystem::path cluster_dir();

private:
  std::string name_;
};

/// The embedded migrations up to and including `version`: a migrator over
/// them takes a database to that version (tests of one migration's up and
/// down with data in it).
std::vector<persistence::migration> migrations_up_to(std::int64_t version);

} // namespace ogf::testing
