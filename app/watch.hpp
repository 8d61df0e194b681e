// `offgridflow-batch watch ID...` (and `submit --wait`): follows batches
// live (CONTRACT §5). Each batch has a follower thread reading its event
// stream (reconnecting when it drops, polling /progress while it cannot be
// opened); the calling thread draws what they found: progress bars redrawn
// in place on a terminal, plain lines at most once a second per batch on a
// pipe, JSON lines with --json. Ends with a summary line per batch.
#pragma once

#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "client/http_client.hpp"

namespace ogf::app {

/// How `watch` writes what it sees.
struct watch_output {
  /// JSON lines on stdout instead of text.
  bool json = false;
  /// Progress bars redrawn in place (stdout is a terminal); plain lines
  /// otherwise.
  bool terminal = false;
  /// Redraws per second on a terminal (at most 10).
  int redraws_per_second = 10;
  /// Stops trying after the server could not be reached for this long in
  /// a row (exit 3).
  std::chrono::milliseconds give_up_after{std::chrono::seconds(60)};
};

/// Follows `ids` until every batch has ended, Ctrl-C (SIGINT) or a
/// failure. Returns the exit code of CONTRACT §5: 0 all completed, 1 one
/// ended failed or cancelled, 3 the server could not be reached for
/// give_up_after or answered 5xx, 4 401/403, 5 another 4xx (an unknown
/// id); 130 after Ctrl-C, which stops watching and never the batches.
int watch_batches(const client::client_config& config,
                  const std::vector<std::string>& ids,
                  const watch_output& output);

/// Whether stdout is a terminal that understands cursor movement.
bool stdout_is_terminal();

/// Columns of the terminal on `fd` (stdout by default); 80 when unknown.
int terminal_width(int fd = 1);

} // namespace ogf::app
