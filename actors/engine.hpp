// The public API of the batch engine for CAF applications: one config
// struct, one spawn function, one typed handle. `offgridflow-batch serve`
// uses exactly this API.
//
//   caf::actor_system sys{cfg};
//   ogf::engine_config ec;
//   ec.database_url = "postgresql:///mydb";
//   auto engine = ogf::spawn_engine(sys, ec);
//   // talk to `engine` with typed messages (actors/interfaces.hpp)
#pragma once

#include <chrono>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

/// Every option of the engine, with its default and range.
struct engine_config {
  /// libpq URL or key=value string. Required.
  std::string database_url;
  /// This node's name in leases and heartbeats. Default: hostname-pid.
  std::string node_id;
  /// Concurrent batches on this node. Default 5, range 1..256.
  std::int32_t workers = 5;
  /// Database connections of the engine side: poller, workers, lease
  /// renewer, progress aggregator (store actors). Default 4, range 1..64.
  std::int32_t store_connections = 4;
  /// Database connections of the API side: submits (group commit) and
  /// user requests. Separate from the engine's so that a submit never
  /// waits in a store's mailbox behind chunk writes (which may wait for
  /// row locks). Default 2, range 1..64. Besides these: one LISTEN
  /// connection and one for health.
  std::int32_t api_connections = 2;
  /// Database connections for activity and factor uploads (up to 10,000
  /// rows, megabytes each), so that bulk uploads queue behind each other
  /// and never in front of another tenant's submit or read. Default 1,
  /// range 1..64.
  std::int32_t bulk_connections = 1;
  /// Activities per chunk. Default 500, range 1..10000.
  std::int32_t chunk_size = 500;
  /// Poll timer; LISTEN/NOTIFY wakes the poller sooner. Default 30 s,
  /// range 10 ms..1 h.
  std::chrono::milliseconds poll_interval{30000};
  /// Random ± spread of the poll timer. Default 5 s, range 0..1 h; capped
  /// at half the poll interval when applied.
  std::chrono::milliseconds poll_jitter{5000};
  /// Most batches claimed in one statement for one batch per worker.
  /// Default 10, range 1..1000.
  std::int32_t max_batches_per_poll = 10;
  /// Most small batches (at most chunk_size activities each) one worker
  /// processes at once as a bundle when more batches wait than workers are
  /// free: one resolve, one processor call and one transaction for all of
  /// them. 1 = no bundles. Default 50, range 1..1000.
  std::int32_t bundle_size = 50;
  /// Lease length; renewed every third of it. Default 30 s, range
  /// 300 ms..1 h. Statement timeout is set below half of it.
  std::chrono::milliseconds lease_timeout{30000};
  /// max_retries of batches that do not say. Default 3, range 0..10.
  std::int32_t default_max_retries = 3;
  /// Most unfinished batches (pending, queued or processing) one tenant
  /// (org, workspace) may have: a submit beyond it fails with
  /// quota_exceeded, checked in the submit's own transaction. Retries are
  /// never refused (but count); an idempotent replay creates nothing and is
  /// answered as before. Applies to the API connections' submits. Default
  /// 100000, range 0..1000000000; 0 = no limit.
  std::int64_t max_pending_batches = 100000;
  /// Retention: batches that ended (completed, failed, cancelled) longer
  /// ago than this are deleted with their items and results, a little at a
  /// time, by one node at a time (actors/pruner.hpp). Default 0 = keep
  /// forever: batch results are audit evidence, deleting them is opt-in.
  /// Range 0 or 1 s..36500 days.
  std::chrono::milliseconds retention{0};
  /// Time between two retention rounds (the first runs at start). Default
  /// 10 s (a round with nothing old enough is one index probe), range
  /// 10 ms..1 h.
  std::chrono::milliseconds retention_interval{10000};
  /// Time a graceful stop may take. Default 30 s.
  std::chrono::milliseconds shutdown_timeout{30000};
  /// Key of the completion callbacks' X-OGF-Signature (HMAC-SHA256,
  /// CONTRACT §7). Empty (the default) signs with the empty key: callbacks
  /// work either way (`serve` warns without one). Every engine runs
  /// webhook_deliverers callback deliverers, each with a database
  /// connection of its own.
  std::string webhook_secret;
  /// Callback deliverers per node, each sending one callback at a time:
  /// a receiver that holds its requests holds up only the deliverers
  /// inside its attempts, not every tenant's callbacks. Default 2, range
  /// 1..32.
  int webhook_deliverers = 2;
  /// Also deliver callbacks to loopback, private, link-local and other
  /// non-public addresses (checked at submit for literal IPs, and on every
  /// resolved address at delivery). Default false.
  bool webhook_allow_private = false;
  /// Connect timeout of one callback attempt. Default 5 s, range
  /// 10 ms..60 s.
  std::chrono::milliseconds webhook_connect_timeout{5000};
  /// Read and write timeout of one callback attempt. Default 10 s, range
  /// 10 ms..60 s.
  std::chrono::milliseconds webhook_read_timeout{10000};
  /// How often the deliverer polls the outbox (other nodes' ends, retries
  /// due). Default 2 s, range 10 ms..1 h.
  std::chrono::milliseconds webhook_poll_interval{2000};
  /// Backoff after a failed attempt n: random up to min(cap, base *
  /// 2^(n-1)). Defaults 1 s and 1 h; base 1 ms..cap, cap ..24 h.
  std::chrono::milliseconds webhook_backoff_base{1000};
  std::chrono::milliseconds webhook_backoff_cap{3600000};
  /// A delivery not done this long after its batch ended fails for good.
  /// Default 24 h (CONTRACT §7), range 1 s..7 days.
  std::chrono::milliseconds webhook_give_up_after{std::chrono::hours(24)};
  /// Replaces the built-in emissions calculator when set.
  processor_actor processor;
  /// Version reported in heartbeats and health.
  std::string version = "0.1.0";

  /// Empty when valid, else what is wrong (one line).
  std::string validate() const;
};

/// hostname-pid, the default node id.
std::string default_node_id();

/// Spawns the engine (supervisor + gateway) and all its actors. The handle
/// answers every request of engine_actor; send it `stop` for a graceful
/// stop (stop claiming, finish chunks in flight, release leases), then
/// `caf::anon_send_exit(handle, caf::exit_reason::user_shutdown)`.
engine_actor spawn_engine(caf::actor_system& sys, engine_config cfg);

} // namespace ogf
