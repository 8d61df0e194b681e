// The poller: on each tick (poll interval ± jitter) or wake-up (LISTEN),
// claims at most min(free workers, max_batches_per_poll) batches — never
// more than this node can run — and hands each to an idle worker. A wake-up
// while a claim is in flight coalesces into one follow-up claim. It owns the
// worker pool: spawns the workers, restarts one that crashes (releasing its
// lease so the batch is picked up again at once; a batch that crashed
// workers here more than its max_retries times is failed instead, or it
// would crash workers forever) and drains them on stop.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"
#include "actors/worker.hpp"

namespace ogf {

struct poller_config {
  std::int32_t workers = 5;
  std::int32_t max_batches_per_poll = 10;
  /// Most small batches a worker processes at once as a bundle, when more
  /// batches wait than workers are free. 1 = no bundles. Default 50.
  std::int32_t bundle_size = 50;
  caf::timespan poll_interval = std::chrono::seconds(30);
  caf::timespan poll_jitter = std::chrono::seconds(5);
  caf::timespan lease_timeout = std::chrono::seconds(30);
  worker_config worker;
};

/// Workers get their store from `worker_stores` round-robin; the poller
/// claims through `claim_store`.
poller_actor spawn_poller(caf::actor_system& sys, poller_config cfg,
                          store_actor claim_store,
                          std::vector<store_actor> worker_stores,
                          processor_actor processor,
                          aggregator_actor aggregator, renewer_actor renewer);

} // namespace ogf
