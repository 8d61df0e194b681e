// The submit batcher: group commit for submits. A durable commit costs one
// WAL flush (about 4 ms on this machine's disk), so one transaction per
// submit caps a node at a few hundred submits per second per connection.
// The batcher sends a submit on at once when nothing is committing; while
// a group commits, further submits gather and go together in the next
// transaction (one statement for all their batch rows and items). No
// artificial delay is ever added.
#pragma once

#include <atomic>
#include <memory>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

/// What the batcher has committed, for metrics (submits per transaction
/// is how well group commit works). Written by the batcher only.
struct batcher_counters {
  std::atomic<std::int64_t> submits{0};      ///< committed submits
  std::atomic<std::int64_t> transactions{0}; ///< group transactions
};

struct batcher_config {
  /// Groups committing at the same time. Default 2, range 1..64.
  std::int32_t max_in_flight = 2;
  /// Most submits in one group. Default 256.
  std::int32_t max_group_requests = 256;
  /// Most activity ids in one group (bounds statement size). Default 50,000.
  std::int64_t max_group_items = 50000;
  /// Timeout of one group's transaction. Default 30 s.
  caf::timespan timeout = std::chrono::seconds(30);
  /// Where to count commits; may be null.
  std::shared_ptr<batcher_counters> counters;
};

/// Submits with an Idempotency-Key bypass grouping (their key check is a
/// statement of its own) and go to a store actor directly.
submit_batcher_actor spawn_submit_batcher(caf::actor_system& sys,
                                          std::vector<store_actor> stores,
                                          batcher_config cfg = {});

} // namespace ogf
