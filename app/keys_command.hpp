// `offgridflow-batch keys create|list|revoke`: the API keys of CONTRACT §4,
// managed from the command line against the database `serve` uses
// (docs/keys-cli.md).
#pragma once

#include <string>

#include "app/database.hpp"

namespace CLI {
class App;
}

namespace ogf::app {

/// What the keys subcommands were given on the command line.
struct keys_options {
  database_options db; ///< --database-url / --data-dir, as serve's
  std::string action;  ///< "create", "list" or "revoke"
  std::string org;     ///< create: the key's org; list: filter (empty = all)
  std::string workspace;
  std::string name;
  std::string role = "write";
  std::string expires; ///< e.g. "90d"; empty = never
  bool json = false;
  std::string id; ///< revoke: the key's id
};

/// Adds `keys` and its subcommands (create, list, revoke) to `app`; what
/// they are given lands in `o`. Returns the `keys` subcommand, parsed()
/// when the command line chose it.
CLI::App* add_keys_command(CLI::App& app, keys_options& o);

/// Runs the keys subcommand that was parsed. Returns the exit code: 0 done
/// (also when revoking a key revoked before), 1 no such key or a database
/// failure, 2 a bad value; the message of a failure is one line on stderr.
int run_keys_command(const keys_options& o);

} // namespace ogf::app
