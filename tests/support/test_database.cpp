#include "support/test_database.hpp"

#include <atomic>
#include <cstdlib>
#include <memory>
#include <mutex>

#include <pqxx/pqxx>
#include <unistd.h>

#include "persistence/embedded_postgres.hpp"
#include "persistence/migrations.hpp"

namespace fs = std::filesystem;

namespace ogf::testing {

namespace {

std::vector<std::pair<std::string, std::string>> test_settings() {
  return {{"fsync", "off"},
          {"synchronous_commit", "off"},
          {"full_page_writes", "off"},
          {"max_connections", "300"},
          {"log_min_messages", "warning"}};
}

/// A cluster this process started itself (tests run outside ctest).
struct own_cluster {
  fs::path dir;
  own_cluster() {
    char tmpl[] = "/tmp/ogf-test-cluster-XXXXXX";
    dir = mkdtemp(tmpl);
    start_test_cluster(dir);
  }
  ~own_cluster() {
    try {
      stop_test_cluster(dir);
      std::error_code ec;
      fs::remove_all(dir, ec);
    } catch (...) {
    }
  }
};

std::atomic<int> database_counter{0};

/// Where the cluster's files are. As root the server runs as the postgres
/// user, who cannot walk into a build folder inside a private directory (a
/// clone in `mktemp -d`, mode 0700): the files then live in a /tmp folder
/// of their own and `dir` is a symbolic link to it, so that tests still
/// find the cluster at `dir`.
fs::path data_dir_of(const fs::path& dir, bool create) {
  if (geteuid() != 0)
    return dir;
  std::error_code ec;
  if (fs::is_symlink(dir, ec)) {
    auto target = fs::read_symlink(dir, ec);
    if (!ec && fs::is_directory(target, ec))
      return target;
    if (!create)
      return target; // gone (a reboot cleared /tmp): nothing to stop
    fs::remove(dir, ec);
  }
  if (!create || fs::exists(dir, ec))
    return dir; // a folder of its own, from an earlier run
  char tmpl[] = "/tmp/ogf-test-cluster-XXXXXX";
  fs::path real = mkdtemp(tmpl);
  fs::permissions(real, fs::perms::others_exec, fs::perm_options::add);
  fs::create_directories(dir.parent_path());
  fs::create_directory_symlink(real, dir);
  return real;
}

} // namespace

/// The cluster start_test_cluster started (external linkage, so the
/// pointer is kept for LeakSanitizer to find).
persistence::embedded_postgres* fixture_cluster = nullptr;

void start_test_cluster(const fs::path& dir) {
  persistence::embedded_postgres_config cfg;
  cfg.data_dir = data_dir_of(dir, true);
  cfg.settings = test_settings();
  // The server outlives this process on purpose: the ctest fixture starts
  // it once for every test process and the cleanup step stops it. Its
  // object is never destroyed (the destructor would stop the cluster) but
  // stays reachable from a global, so LeakSanitizer does not report it.
  auto* server = new persistence::embedded_postgres(cfg);
  fixture_cluster = server;
  server->start();
  pqxx::connection admin{server->connection_string("postgres")};
  {
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + std::string(template_database));
    tx.exec("CREATE DATABASE " + std::string(template_database) +
            " TEMPLATE template0");
  }
  {
    pqxx::connection conn{server->connection_string(template_database)};
    persistence::migrator m{conn};
    m.up();
  }
}

void stop_test_cluster(const fs::path& dir) {
  persistence::embedded_postgres::stop_existing(data_dir_of(dir, false));
}

fs::path test_database::cluster_dir() {
  if (const char* dir = std::getenv("OGF_TEST_CLUSTER_DIR"); dir && *dir) {
    // The real folder when the cluster lives in /tmp behind a link (see
    // data_dir_of): the socket's path is derived from it.
    std::error_code ec;
    if (fs::is_symlink(dir, ec))
      return fs::read_symlink(dir, ec);
    return dir;
  }
  static std::once_flag once;
  static std::unique_ptr<own_cluster> cluster;
  std::call_once(once, [] { cluster = std::make_unique<own_cluster>(); });
  return cluster->dir;
}

std::string test_database::admin_url() {
  return persistence::embedded_postgres::connection_string_for(cluster_dir(),
                                                               "postgres");
}

test_database::test_database() : test_database(true) {}

test_database::test_database(bool migrated) {
  name_ = "t_" + std::to_string(getpid()) + "_" +
          std::to_string(database_counter++);
  pqxx::connection admin{admin_url()};
  pqxx::nontransaction tx{admin};
  tx.exec("CREATE DATABASE " + name_ + " TEMPLATE " +
          (migrated ? template_database : "template0"));
}

test_database::~test_database() {
  try {
    pqxx::connection admin{admin_url()};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
  } catch (...) {
    // The cluster is thrown away at the end of the run anyway.
  }
}

std::string test_database::url() const {
  return persistence::embedded_postgres::connection_string_for(cluster_dir(),
                                                               name_);
}

std::vector<persistence::migration> migrations_up_to(std::int64_t version) {
  std::vector<persistence::migration> prefix;
  for (const auto& mig : persistence::embedded_migrations())
    if (mig.version <= version)
      prefix.push_back(mig);
  return prefix;
}

} // namespace ogf::testing
