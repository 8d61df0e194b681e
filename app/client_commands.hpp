// The client commands of offgridflow-batch (CONTRACT §5, docs/cli.md):
// upload, submit, watch, list, get, cancel, retry, delete and results,
// talking to a running server over its HTTP API through client/.
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "client/http_client.hpp"

namespace CLI {
class App;
}

namespace ogf::app {

/// What the client subcommands were given on the command line.
struct client_options {
  client::client_config config; ///< --server, --api-key, --org, ...
  std::string timeout = "60s";  ///< --timeout: one request's answer
  bool json = false;            ///< --json: machine-readable stdout
  /// The subcommand these are of, run on a connection to the server.
  int (*run)(client_options&, client::connection&) = nullptr;

  std::string file;                            ///< upload FILE
  std::size_t request_bytes = 3 * 1024 * 1024; ///< --request-bytes

  std::string ids;      ///< submit --ids A,B
  std::string ids_file; ///< submit --ids-file FILE
  std::string csv;      ///< submit --csv FILE
  int priority = 0;     ///< --priority (0 = the server's default)
  int max_retries = -1; ///< --max-retries (-1 = the server's default)
  std::string idempotency_key;
  std::string metadata;  ///< a JSON object's text
  std::string run_after; ///< submit: RFC 3339 time, sent as given
  bool wait = false;
  int batch_size = 10000; ///< --batch-size: ids per batch

  std::vector<std::string> batch_ids; ///< watch ID...
  /// watch, submit --wait: how long the server may be unreachable
  std::string give_up_after = "60s";
  std::string status;         ///< list --status
  int limit = 20;             ///< list --limit
  std::string id;             ///< get/cancel/retry/delete/results
  std::string format = "csv"; ///< results --format
  std::string output;         ///< results --output
};

/// A client subcommand and what it was given. Each has its own options:
/// CLI11 reads the OGF_ variables of every subcommand, so options shared
/// by two of them would let the other's environment value overwrite a
/// flag given to the one that runs.
struct client_command {
  CLI::App* app;
  std::unique_ptr<client_options> options;
};

/// Adds the client subcommands to `app`. Each one's app is parsed() when
/// the command line chose it.
std::vector<client_command> add_client_commands(CLI::App& app);

/// Runs the client subcommand that was parsed. Returns its exit code: 0
/// success, 1 a batch ended failed or cancelled (watch, submit --wait), 2
/// usage, 3 server unreachable or 5xx, 4 401/403, 5 another 4xx (the
/// server's code and message on stderr), 130 after Ctrl-C in watch.
int run_client_command(client_options& o);

} // namespace ogf::app
