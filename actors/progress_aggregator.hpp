// The progress aggregator: live counts, rate and ETA of the batches in
// flight on this node, pushed to subscribers at most 4 times a second, then
// `done`. Pushes read the stored batch (the truth, whichever node works on
// it): at once-but-throttled after a local delta, and every watch_interval
// while a batch has subscribers, which also catches batches processed by
// other nodes. Nothing is scheduled for batches without subscribers.
#pragma once

#include <functional>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

struct aggregator_config {
  /// Minimum gap between two pushes to one batch's subscribers. Default
  /// 250 ms (at most 4 a second, CONTRACT §2 events).
  caf::timespan push_interval = std::chrono::milliseconds(250);
  /// Window of the moving throughput average. Default 10 s.
  caf::timespan rate_window = std::chrono::seconds(10);
  /// While a batch has subscribers, its stored state is read at least this
  /// often, so that subscribers hear progress and `done` of batches that
  /// another node processes (no deltas arrive here then). Default 1 s
  /// (CONTRACT §2: progress at most 1 s behind the work done).
  caf::timespan watch_interval = std::chrono::seconds(1);
  /// Called (on the aggregator's thread) with every batch this node's
  /// workers ended; the engine wakes the callback deliverer with it.
  /// Default none.
  std::function<void(const domain::batch&)> on_done;
};

aggregator_actor spawn_aggregator(caf::actor_system& sys, store_actor store,
                                  aggregator_config cfg = {});

} // namespace ogf
