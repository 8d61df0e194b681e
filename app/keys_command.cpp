#include "app/keys_command.hpp"

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <thread>
#include <vector>

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "common/api_token.hpp"
#include "common/log.hpp"
#include "domain/api_key.hpp"
#include "domain/time.hpp"
#include "domain/validation.hpp"
#include "persistence/batch_store.hpp"
#include "persistence/embedded_postgres.hpp"
#include "persistence/migrations.hpp"

namespace ogf::app {

namespace {

namespace fs = std::filesystem;
using domain::api_key;
using json = nlohmann::ordered_json;

/// A bad value on the command line: exit 2.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// The command could not do its work: exit 1.
struct command_failure : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// How long to wait for the database of the process that holds the data
/// dir: it may still be starting (initdb on first use takes seconds), or
/// be restarting after its postmaster died.
constexpr std::chrono::seconds holder_wait{30};

/// How often a new key id is drawn when the random one is taken (64 random
/// bits: in practice never).
constexpr int create_attempts = 3;

/// The first line of a libpq / libpqxx message, without its "ERROR:" tag:
/// errors are one line on stderr.
std::string first_line(const std::string& message) {
  auto line = message.substr(0, message.find('\n'));
  for (const char* tag : {"ERROR:", "FATAL:"})
    if (line.rfind(tag, 0) == 0)
      line = line.substr(std::string(tag).size());
  auto start = line.find_first_not_of(' ');
  return start == std::string::npos ? line : line.substr(start);
}

/// `text` with every byte outside printable ASCII shown as '?': a value
/// from the command line echoed in a message cannot move the cursor or
/// colour the terminal.
std::string printable(const std::string& text) {
  std::string out = text;
  for (auto& c : out)
    if (c < 0x20 || c > 0x7e)
      c = '?';
  return out;
}

/// Whether another process holds the embedded data dir `dir`: `serve`,
/// `migrate` or another `keys` command with its own server there
/// (embedded_postgres holds an exclusive flock on offgridflow.lock while
/// its server runs). Asked only after our own start failed, so the probe's
/// brief shared lock never gets in the way of a starting process.
bool data_dir_held(const fs::path& dir) {
  int fd = ::open((dir / "offgridflow.lock").c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0)
    return false;
  bool held = ::flock(fd, LOCK_SH | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);
  return held;
}

persistence::store_config store_settings(const std::string& url) {
  persistence::store_config cfg;
  cfg.database_url = url;
  cfg.node_id = "keys-cli";
  cfg.application_name = "offgridflow-batch keys";
  return cfg;
}

/// The database the keys commands work on, and the embedded server they
/// started for it, if any. That server is stopped when this goes away
/// (after the store's connection is closed); a server of another process
/// is only ever connected to.
class key_database {
public:
  explicit key_database(const keys_options& o) {
    if (!o.db.database_url.empty()) {
      store_ = std::make_unique<persistence::batch_store>(
          store_settings(o.db.database_url));
      return;
    }
    std::unique_ptr<persistence::embedded_postgres> server;
    std::string url;
    try {
      url = resolve_database(o.db, server);
    } catch (const persistence::embedded_postgres_error&) {
      // Our own lock (taken before a failed server start) goes first, or
      // the probe would find the dir held by ourselves.
      auto dir = server->data_dir();
      server.reset();
      if (!data_dir_held(dir))
        throw;
      connect_to_holder(dir);
      return;
    }
    own_server_ = std::move(server);
    // Migrated as `serve` and `migrate` would.
    {
      pqxx::connection conn{url};
      persistence::migrator{conn}.up();
    }
    store_ = std::make_unique<persistence::batch_store>(store_settings(url));
  }

  persistence::batch_store& store() { return *store_; }

private:
  /// Through the socket of the server that holds `dir`, as that process
  /// set it up (its migrations are its own business), waiting while it
  /// comes up.
  void connect_to_holder(const fs::path& dir) {
    auto url = persistence::embedded_postgres::connection_string_for(
        dir, "offgridflow");
    auto deadline = std::chrono::steady_clock::now() + holder_wait;
    for (;;) {
      try {
        store_ =
            std::make_unique<persistence::batch_store>(store_settings(url));
        return;
      } catch (const pqxx::broken_connection& e) {
        if (std::chrono::steady_clock::now() >= deadline)
          throw command_failure(
              "data dir " + dir.string() +
              " is held by another offgridflow-batch process whose database "
              "did not answer within " +
              std::to_string(holder_wait.count()) +
              " s: " + first_line(e.what()));
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  }

  // Declared first, destroyed last: the connection closes before the
  // server stops.
  std::unique_ptr<persistence::embedded_postgres> own_server_;
  std::unique_ptr<persistence::batch_store> store_;
};

/// A stored name for the table: names are checked when created, but one
/// written by other means shows no control characters either.
std::string shown_name(const std::string& name) {
  std::string out = name;
  for (auto& c : out)
    if ((c >= 0 && c < 0x20) || c == 0x7f)
      c = '?';
  return out;
}

std::string format_expiry(const std::optional<domain::timestamp_us>& t) {
  return t ? domain::format_rfc3339_ms(*t) : "never";
}

json optional_time(const std::optional<domain::timestamp_us>& t) {
  return t ? json(domain::format_rfc3339_ms(*t)) : json(nullptr);
}

void require_tenant_part(const char* flag, const std::string& value) {
  if (!domain::validate_tenant_header(value))
    throw usage_error(std::string(flag) + ": '" + printable(value) +
                      "' must be 1-64 characters of A-Z a-z 0-9 _ -");
}

int create_key(const keys_options& o) {
  require_tenant_part("--org", o.org);
  require_tenant_part("--workspace", o.workspace);
  if (!domain::valid_key_name(o.name))
    throw usage_error("--name: must be UTF-8 text of at most " +
                      std::to_string(domain::max_key_name_chars) +
                      " characters without control characters");
  auto role = domain::parse_key_role(o.role);
  if (!role)
    throw usage_error("--role: '" + printable(o.role) +
                      "' is not read or write");
  std::optional<std::chrono::seconds> lifetime;
  if (!o.expires.empty()) {
    lifetime = domain::parse_key_lifetime(o.expires);
    if (!lifetime)
      throw usage_error("--expires: '" + printable(o.expires) +
                        "' is not a lifetime from 1s to 3650d (e.g. 90d, "
                        "12h, 30m, 45s)");
  }

  key_database db{o};
  for (int attempt = 1;; ++attempt) {
    auto token = auth::new_token();
    api_key k;
    k.id = token.key_id;
    k.owner = {o.org, o.workspace};
    k.name = o.name;
    k.role = *role;
    k.secret_hash = auth::hash_secret(token.secret);
    if (lifetime)
      k.expires_at =
          domain::now_us() +
          std::chrono::duration_cast<std::chrono::microseconds>(*lifetime)
              .count();
    api_key stored;
    try {
      stored = db.store().create_api_key(k);
    } catch (const store_exception& e) {
      if (e.code == engine_errc::conflict && attempt < create_attempts)
        continue; // the random id is taken: draw another
      throw;
    }
    if (o.json) {
      json out;
      out["id"] = stored.id;
      out["token"] = auth::format_token(token);
      out["org_id"] = stored.owner.org_id;
      out["workspace_id"] = stored.owner.workspace_id;
      out["name"] = stored.name;
      out["role"] = domain::to_string(stored.role);
      out["created_at"] = domain::format_rfc3339_ms(stored.created_at);
      out["expires_at"] = optional_time(stored.expires_at);
      std::cout << out.dump() << "\n";
    } else {
      std::cout << auth::format_token(token) << "\n";
      std::cerr << "created key " << stored.id << " for " << stored.owner.org_id
                << "/" << stored.owner.workspace_id << ", role "
                << domain::to_string(stored.role) << ", expires "
                << format_expiry(stored.expires_at)
                << "; the token is shown only now\n";
    }
    return 0;
  }
}

/// Left-aligned columns two spaces apart; no trailing spaces.
void print_table(const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> width;
  for (const auto& row : rows)
    for (std::size_t i = 0; i < row.size(); ++i) {
      if (width.size() <= i)
        width.push_back(0);
      width[i] = std::max(width[i], row[i].size());
    }
  for (const auto& row : rows) {
    std::string line;
    for (std::size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size())
        line += std::string(width[i] - row[i].size() + 2, ' ');
    }
    line.erase(line.find_last_not_of(' ') + 1);
    std::cout << line << "\n";
  }
}

int list_keys(const keys_options& o) {
  std::optional<std::string> org;
  if (!o.org.empty()) {
    require_tenant_part("--org", o.org);
    org = o.org;
  }
  key_database db{o};
  auto keys = db.store().list_api_keys(org);
  auto now = domain::now_us();
  if (o.json) {
    auto out = json::array();
    for (const auto& k : keys) {
      json j;
      j["id"] = k.id;
      j["org_id"] = k.owner.org_id;
      j["workspace_id"] = k.owner.workspace_id;
      j["name"] = k.name;
      j["role"] = domain::to_string(k.role);
      j["status"] = domain::to_string(domain::status_at(k, now));
      j["created_at"] = domain::format_rfc3339_ms(k.created_at);
      j["expires_at"] = optional_time(k.expires_at);
      j["revoked_at"] = optional_time(k.revoked_at);
      out.push_back(std::move(j));
    }
    // Names are UTF-8 (checked when created); replace rather than throw
    // should one written by other means not be.
    std::cout << out.dump(-1, ' ', false, json::error_handler_t::replace)
              << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows{
      {"ID", "ORG", "WORKSPACE", "ROLE", "STATUS", "EXPIRES", "NAME"}};
  for (const auto& k : keys)
    rows.push_back({k.id, k.owner.org_id, k.owner.workspace_id,
                    domain::to_string(k.role),
                    domain::to_string(domain::status_at(k, now)),
                    format_expiry(k.expires_at), shown_name(k.name)});
  print_table(rows);
  return 0;
}

int revoke_key(const keys_options& o) {
  key_database db{o};
  auto key = db.store().find_api_key(o.id);
  if (!key)
    throw command_failure("no API key with id " + printable(o.id));
  if (key->revoked_at) {
    std::cout << "key " << key->id << " was already revoked\n";
    return 0;
  }
  if (!db.store().revoke_api_key(key->id))
    throw command_failure("no API key with id " + key->id);
  std::cout << "revoked key " << key->id << "\n";
  return 0;
}

int report(const std::string& message, int code) {
  std::fprintf(stderr, "offgridflow-batch: %s\n", message.c_str());
  return code;
}

} // namespace

CLI::App* add_keys_command(CLI::App& app, keys_options& o) {
  auto* keys = app.add_subcommand(
      "keys", "create, list and revoke API keys (--auth keys)");
  add_database_options(keys, o.db,
                       "embedded PostgreSQL folder (without --database-url); "
                       "while a serve holds it, through that server's socket");
  keys->require_subcommand(1);
  // Before the subcommands, which inherit it: `keys create --data-dir X`
  // reaches keys' own flags.
  keys->fallthrough();

  auto* create = keys->add_subcommand(
      "create", "create a key; prints its token, which is shown only now");
  create->add_option("--org", o.org, "the key's org (1-64 of A-Za-z0-9_-)")
      ->required();
  create
      ->add_option("--workspace", o.workspace,
                   "the key's workspace (1-64 of A-Za-z0-9_-)")
      ->required();
  create->add_option("--name", o.name,
                     "a label for people, at most 200 characters");
  create->add_option("--role", o.role, "read (GET and HEAD only) or write")
      ->capture_default_str();
  create->add_option("--expires", o.expires,
                     "lifetime: <n>d, <n>h, <n>m or <n>s, 1s..3650d; "
                     "default never");
  create->add_flag("--json", o.json,
                   "print a JSON object with the token instead of the token");
  create->callback([&o] { o.action = "create"; });

  auto* list = keys->add_subcommand("list", "list keys, never their tokens");
  list->add_option("--org", o.org, "only this org's keys");
  list->add_flag("--json", o.json, "print a JSON array");
  list->callback([&o] { o.action = "list"; });

  auto* revoke = keys->add_subcommand(
      "revoke", "revoke a key: its token is refused from then on");
  revoke->add_option("ID", o.id, "the key's id, as keys list shows it")
      ->required();
  revoke->callback([&o] { o.action = "revoke"; });
  return keys;
}

int run_keys_command(const keys_options& o) {
  // Output is the command's own (stdout, and one line on stderr for a
  // failure); the embedded server's start is not news here.
  log::set_level(log::level::warn);
  try {
    if (o.action == "create")
      return create_key(o);
    if (o.action == "list")
      return list_keys(o);
    return revoke_key(o);
  } catch (const usage_error& e) {
    return report(e.what(), 2);
  } catch (const command_failure& e) {
    return report(e.what(), 1);
  } catch (const pqxx::undefined_table&) {
    return report("the database has no api_keys table; run "
                  "`offgridflow-batch migrate up` first",
                  1);
  } catch (const std::exception& e) {
    return report(first_line(e.what()), 1);
  }
}

} // namespace ogf::app
