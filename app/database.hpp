// Which database a subcommand works on (CONTRACT §1): `--database-url`, or
// the embedded server in `--data-dir`. Shared by serve, migrate and keys.
#pragma once

#include <memory>
#include <string>

namespace CLI {
class App;
}

namespace ogf::persistence {
class embedded_postgres;
}

namespace ogf::app {

/// The database flags of a subcommand.
struct database_options {
  /// libpq URL or key=value string; empty = the embedded database.
  std::string database_url;
  /// Folder of the embedded database (without database_url).
  std::string data_dir = "./offgridflow-data";
};

/// Adds `--database-url` and `--data-dir` (and their OGF_ variables) to
/// `cmd`; `data_dir_help` is the help text of `--data-dir`.
void add_database_options(
    CLI::App* cmd, database_options& o,
    const std::string& data_dir_help =
        "embedded PostgreSQL folder (without --database-url)");

/// The database to use: the given URL, or the embedded server, started in
/// `pg`, with its `offgridflow` database created on first use. When the
/// start fails, `pg` still holds the server object (and the data dir's
/// lock): reset it before asking who else holds the dir.
std::string
resolve_database(const database_options& o,
                 std::unique_ptr<persistence::embedded_postgres>& pg);

} // namespace ogf::app
