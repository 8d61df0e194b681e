// Schema migrations: golang-migrate compatible files (migrations/NNN_name.
// {up,down}.sql) recorded in schema_migrations(version bigint, dirty bool).
// The files are embedded in the library at build time, so the executable
// and embedding applications carry exactly the SQL in the tree.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include <pqxx/connection>

namespace ogf::persistence {

/// One file of migrations/, as embedded at build time.
struct migration_file {
  std::string name; ///< e.g. "001_initial_schema.up.sql"
  std::string sql;
};

/// Every file of migrations/ (sorted by name). Defined in generated code.
const std::vector<migration_file>& embedded_migration_files();

/// A migration with both directions.
struct migration {
  std::int64_t version = 0;
  std::string name; ///< e.g. "initial_schema"
  std::string up_sql;
  std::string down_sql;
};

/// The embedded migrations, paired and ordered by version.
std::vector<migration> embedded_migrations();

/// What schema_migrations says.
struct migration_state {
  std::int64_t version = 0; ///< 0 = nothing applied
  bool dirty = false;
  std::int64_t latest = 0; ///< highest version this build knows
};

/// Thrown for dirty databases, failed migration SQL and unknown versions.
struct migration_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Applies and rolls back migrations on one connection, under a PostgreSQL
/// advisory lock so that nodes starting together do not race. A failed
/// migration leaves schema_migrations at its version with dirty = true and
/// throws migration_error; a dirty database refuses further migrations.
class migrator {
public:
  explicit migrator(pqxx::connection& conn,
                    std::vector<migration> migrations = embedded_migrations());

  /// Applies every pending migration; returns how many ran.
  int up();

  /// Rolls back the last `steps` applied migrations (all when steps < 0).
  int down(int steps);

  migration_state status();

private:
  void ensure_table();
  std::int64_t lock_key() const;

  pqxx::connection& conn_;
  std::vector<migration> migrations_;
};

} // namespace ogf::persistence
