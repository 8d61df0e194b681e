#include "persistence/migrations.hpp"

#include <algorithm>
#include <map>

#include <pqxx/pqxx>

namespace ogf::persistence {

namespace {

// Advisory-lock key shared by every node: "ogf-migrate" folded into 63 bits.
constexpr std::int64_t migrate_lock_key = 0x6f67662d6d696772;

/// Splits "001_initial_schema.up.sql" into (1, "initial_schema", up=true).
bool parse_name(const std::string& file, std::int64_t& version,
                std::string& name, bool& up) {
  auto underscore = file.find('_');
  if (underscore == std::string::npos || underscore == 0)
    return false;
  for (std::size_t i = 0; i < underscore; ++i)
    if (file[i] < '0' || file[i] > '9')
      return false;
  const std::string up_suffix = ".up.sql";
  const std::string down_suffix = ".down.sql";
  auto ends_with = [&](const std::string& suffix) {
    return file.size() > suffix.size()
           && file.compare(file.size() - suffix.size(), suffix.size(), suffix)
                == 0;
  };
  if (ends_with(up_suffix)) {
    up = true;
    name = file.substr(underscore + 1,
                       file.size() - up_suffix.size() - underscore - 1);
  } else if (ends_with(down_suffix)) {
    up = false;
    name = file.substr(underscore + 1,
                       file.size() - down_suffix.size() - underscore - 1);
  } else {
    return false;
  }
  version = std::stoll(file.substr(0, underscore));
  return true;
}

/// Holds the session-level advisory lock for the lifetime of the object.
class advisory_lock {
public:
  advisory_lock(pqxx::connection& conn, std::int64_t key)
    : conn_(conn), key_(key) {
    pqxx::nontransaction tx{conn_};
    tx.exec_params("SELECT pg_advisory_lock($1)", key_);
  }
  ~advisory_lock() {
    try {
      pqxx::nontransaction tx{conn_};
      tx.exec_params("SELECT pg_advisory_unlock($1)", key_);
    } catch (...) {
      // The lock dies with the session anyway.
    }
  }
  advisory_lock(const advisory_lock&) = delete;
  advisory_lock& operator=(const advisory_lock&) = delete;

private:
  pqxx::connection& conn_;
  std::int64_t key_;
};

} // namespace

std::vector<migration> embedded_migrations() {
  std::map<std::int64_t, migration> by_version;
  for (const auto& file : embedded_migration_files()) {
    std::int64_t version = 0;
    std::string name;
    bool up = false;
    if (!parse_name(file.name, version, name, up))
      continue;
    auto& m = by_version[version];
    m.version = version;
    m.name = name;
    (up ? m.up_sql : m.down_sql) = file.sql;
  }
  std::vector<migration> result;
  for (auto& [version, m] : by_version)
    result.push_back(std::move(m));
  return result;
}

migrator::migrator(pqxx::connection& conn, std::vector<migration> migrations)
  : conn_(conn), migrations_(std::move(migrations)) {
  std::sort(migrations_.begin(), migrations_.end(),
            [](const migration& a, const migration& b) {
              return a.version < b.version;
            });
}

std::int64_t migrator::lock_key() const {
  return migrate_lock_key;
}

void migrator::ensure_table() {
  pqxx::work tx{conn_};
  tx.exec("CREATE TABLE IF NOT EXISTS schema_migrations ("
          "version bigint NOT NULL PRIMARY KEY, dirty boolean NOT NULL)");
  tx.commit();
}

migration_state migrator::status() {
  migration_state st;
  st.latest = migrations_.empty() ? 0 : migrations_.back().version;
  pqxx::work tx{conn_};
  auto exists = tx.exec1("SELECT to_regclass('schema_migrations') IS NOT NULL");
  if (exists[0].as<bool>()) {
    auto rows = tx.exec("SELECT version, dirty FROM schema_migrations "
                        "ORDER BY version DESC LIMIT 1");
    if (!rows.empty()) {
      st.version = rows[0][0].as<std::int64_t>();
      st.dirty = rows[0][1].as<bool>();
    }
  }
  tx.commit();
  return st;
}

namespace {

/// golang-migrate keeps exactly one row: the current version and its flag.
void set_version(pqxx::transaction_base& tx, std::int64_t version,
                 bool dirty) {
  tx.exec("DELETE FROM schema_migrations");
  if (version > 0)
    tx.exec_params("INSERT INTO schema_migrations (version, dirty) "
                   "VALUES ($1, $2)",
                   version, dirty);
}

} // namespace

int migrator::up() {
  advisory_lock lock{conn_, lock_key()};
  ensure_table();
  auto st = status();
  if (st.dirty)
    throw migration_error(
      "database is dirty at migration version " + std::to_string(st.version)
      + ": a previous migration failed half-way; repair the schema by hand, "
        "then set schema_migrations.dirty = false");
  int applied = 0;
  for (const auto& m : migrations_) {
    if (m.version <= st.version)
      continue;
    {
      pqxx::work tx{conn_};
      set_version(tx, m.version, true);
      tx.commit();
    }
    try {
      pqxx::work tx{conn_};
      tx.exec(m.up_sql);
      set_version(tx, m.version, false);
      tx.commit();
    } catch (const std::exception& e) {
      throw migration_error("migration " + std::to_string(m.version) + "_"
                            + m.name + " failed (database left dirty at "
                            + std::to_string(m.version) + "): " + e.what());
    }
    ++applied;
  }
  return applied;
}

int migrator::down(int steps) {
  advisory_lock lock{conn_, lock_key()};
  ensure_table();
  auto st = status();
  if (st.dirty)
    throw migration_error("database is dirty at migration version "
                          + std::to_string(st.version)
                          + "; repair it before rolling back");
  int rolled_back = 0;
  for (auto it = migrations_.rbegin(); it != migrations_.rend(); ++it) {
    if (steps >= 0 && rolled_back >= steps)
      break;
    if (it->version > st.version)
      continue;
    auto previous = std::next(it) == migrations_.rend()
                      ? std::int64_t{0}
                      : std::next(it)->version;
    {
      pqxx::work tx{conn_};
      set_version(tx, it->version, true);
      tx.commit();
    }
    try {
      pqxx::work tx{conn_};
      tx.exec(it->down_sql);
      set_version(tx, previous, false);
      tx.commit();
    } catch (const std::exception& e) {
      throw migration_error("rollback of migration "
                            + std::to_string(it->version) + "_" + it->name
                            + " failed (database left dirty): " + e.what());
    }
    ++rolled_back;
  }
  return rolled_back;
}

} // namespace ogf::persistence
