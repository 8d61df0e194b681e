// The progress aggregator: live counts, rate and ETA of the batches in
// flight on this node, pushed to subscribers at most 4 times a second.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

struct aggregator_config {
  /// Minimum gap between two pushes to one batch's subscribers. Default
  /// 250 ms (at most 4 a second, CONTRACT §2 events).
  caf::timespan push_interval = std::chrono::milliseconds(250);
  /// Window of the moving throughput average. Default 10 s.
  caf::timespan rate_window = std::chrono::seconds(10);
};

aggregator_actor spawn_aggregator(caf::actor_system& sys, store_actor store,
                                  aggregator_config cfg = {});

} // namespace ogf
