#include "app/database.hpp"

#include <CLI/CLI.hpp>
#include <pqxx/pqxx>

#include "common/log.hpp"
#include "persistence/embedded_postgres.hpp"

namespace ogf::app {

void add_database_options(CLI::App* cmd, database_options& o,
                          const std::string& data_dir_help) {
  cmd->add_option("--database-url", o.database_url,
                  "libpq URL or key=value string; empty = embedded database")
      ->envname("OGF_DATABASE_URL");
  cmd->add_option("--data-dir", o.data_dir, data_dir_help)
      ->envname("OGF_DATA_DIR")
      ->capture_default_str();
}

std::string
resolve_database(const database_options& o,
                 std::unique_ptr<persistence::embedded_postgres>& pg) {
  if (!o.database_url.empty())
    return o.database_url;
  persistence::embedded_postgres_config cfg;
  cfg.data_dir = o.data_dir;
  pg = std::make_unique<persistence::embedded_postgres>(cfg);
  log::info("starting embedded PostgreSQL", {{"data_dir", o.data_dir}});
  pg->start();
  // Our own database inside the cluster, created on first use.
  {
    pqxx::connection admin{pg->connection_string("postgres")};
    pqxx::nontransaction tx{admin};
    if (tx.exec("SELECT 1 FROM pg_database WHERE datname = 'offgridflow'")
            .empty())
      tx.exec("CREATE DATABASE offgridflow");
  }
  return pg->connection_string("offgridflow");
}

} // namespace ogf::app
