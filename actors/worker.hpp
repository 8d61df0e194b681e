// A worker processes one batch at a time, chunk by chunk:
//   (claimed processing) -> (resolve_chunk -> processor -> record_chunk ->
//   delta)* -> finish
// On lease loss it stops at once, abandoning whatever is in flight (the
// fence refuses its writes anyway). On cancel it stops at once too, unless a
// store write is in flight (short, bounded by the statement timeout), which
// it lets finish first; a chunk still in the processor is abandoned, so a
// slow processor cannot hold up a cancel. On drain it finishes the chunk in
// flight, then releases the lease. Transient store
// errors retry the chunk with exponential backoff and full jitter; after
// max_retries of them the batch is deferred (back to pending with run_after,
// for any node to pick up later) rather than failed: an infrastructure
// outage must not fail customers' batches.
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

struct worker_config {
  /// Activities per chunk. Default 500, range 1..10000.
  std::int32_t chunk_size = 500;
  /// First backoff after a transient error. Default 100 ms.
  caf::timespan backoff_base = std::chrono::milliseconds(100);
  /// Largest backoff. Default 30 s.
  caf::timespan backoff_cap = std::chrono::seconds(30);
  /// Timeout of one store or processor request. Default 30 s.
  caf::timespan request_timeout = std::chrono::seconds(30);
};

/// The actors a worker talks to.
struct worker_peers {
  store_actor store;
  processor_actor processor;
  aggregator_actor aggregator;
  renewer_actor renewer;
  caf::actor_addr poller; ///< receives `idle` when a batch is done
};

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          worker_peers peers);

} // namespace ogf
