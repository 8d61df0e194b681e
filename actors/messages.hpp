// The engine's whole message contract: every atom and payload type the
// actors exchange. Read this and interfaces.hpp to learn the system.
//
// Payloads are plain structs from domain/ and persistence/. They travel only
// between actors of one process, never over the network: CAF 0.17's
// inspectors cannot serialize std::optional, so the payload types are
// declared local-only (CAF_ALLOW_UNSAFE_MESSAGE_TYPE) and need no type-ID
// registration. Moving to CAF 0.18+ means adding inspect overloads and a
// CAF_BEGIN_TYPE_ID_BLOCK here, nothing else.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <caf/allowed_unsafe_message_type.hpp>
#include <caf/error.hpp>
#include <caf/sec.hpp>
#include <caf/type_id.hpp>

#include "domain/api_key.hpp"
#include "domain/calculator.hpp"
#include "domain/model.hpp"
#include "persistence/batch_store.hpp"

namespace ogf {

/// A chunk's delta, sent by a worker to the progress aggregator after each
/// recorded chunk.
struct progress_delta {
  std::string batch_id;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::string emissions_kg_co2e = "0";
};

/// The resolved pending items of a bundle's batches: rows[i] belongs to
/// batch batch_ids[i]; ordered by batch, then activity id.
struct bundle_rows {
  std::vector<std::string> batch_ids;
  std::vector<domain::resolved_activity> rows;
};

/// How healthy this node is (GET /api/v1/health).
struct health_report {
  bool database_ok = false;
  std::int64_t database_latency_us = 0;
  bool running = false;  ///< claiming and processing
  bool stopping = false; ///< graceful stop in progress
  bool degraded = false; ///< a child crashed more often than allowed
  std::int32_t workers = 0;
  std::int32_t busy_workers = 0;
  std::int32_t in_flight_batches = 0;
  std::int64_t queue_depth = 0;
};

/// Counters for metrics (GET /metrics) and tests.
struct engine_stats {
  std::int32_t workers = 0;
  std::int32_t busy_workers = 0;
  std::int64_t batches_claimed = 0;
  std::int64_t batches_finished = 0;     ///< by this node's workers, any end
  std::int64_t batches_completed = 0;    ///< of those: completed
  std::int64_t batches_failed = 0;       ///< failed
  std::int64_t batches_cancelled = 0;    ///< cancelled
  std::int64_t activities_succeeded = 0; ///< items recorded by this node
  std::int64_t activities_failed = 0;
  std::int64_t chunks_recorded = 0;
  std::int64_t lease_renewals = 0;
  std::int64_t leases_lost = 0;
  std::int64_t store_errors = 0;
  std::int64_t submits_committed = 0;   ///< through the submit batcher
  std::int64_t submit_transactions = 0; ///< the group commits they took
  std::int64_t worker_restarts = 0;
  std::int32_t subscribers = 0;
  /// Completion callbacks sent by this node: answered 2xx, attempts that
  /// failed, deliveries given up (failed for good).
  std::int64_t callbacks_delivered = 0;
  std::int64_t callback_attempts_failed = 0;
  std::int64_t callbacks_given_up = 0;
  /// Undelivered callbacks in the database and the age of the oldest one's
  /// batch end, as of the deliverer's last poll (-1: no deliverer).
  std::int64_t callbacks_undelivered = -1;
  double callback_oldest_age_seconds = 0;
  /// Activities recorded by this node per 10 s over the last 10 minutes,
  /// oldest first, the last bucket still filling
  /// (domain::throughput_window).
  std::vector<std::int64_t> recent_activities;
  /// Retention (the pruner, actors/pruner.hpp): rows this node deleted
  /// because their batch ended longer ago than --retention.
  std::int64_t pruned_batches = 0;
  std::int64_t pruned_items = 0;   ///< their activities (batch_item_ids)
  std::int64_t pruned_results = 0; ///< their results (batch_results)
  /// Rounds skipped because another node held the retention lock.
  std::int64_t prune_rounds_skipped = 0;
  /// When this node's last round ended having held the lock all through,
  /// µs since the epoch; 0 while none did.
  std::int64_t last_prune_us = 0;
};

} // namespace ogf

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::tenant)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::api_key)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::batch_progress)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::batch_counts)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::batch_emissions)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::batch_filter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::item_filter)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::activity)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::domain::activity>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::domain::emission_factor)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::domain::emission_factor>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::domain::resolved_activity>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::domain::item_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::deadline)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::submit_request)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::submit_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::submit_request>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::submit_result>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::batch_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::item_page)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::claimed_batch)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::claimed_batch>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::lease_ref)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::lease_ref>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::renew_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::prune_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::record_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::record_outcome>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(std::vector<ogf::persistence::batch_write>)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::bundle_rows)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::persistence::cancel_outcome)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::progress_delta)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::health_report)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(ogf::engine_stats)

// Atoms (CAF 0.17: at most 10 characters each).
CAF_ADD_ATOM(ogf, ogf, submit_atom, "submit")
CAF_ADD_ATOM(ogf, ogf, list_atom, "list")
CAF_ADD_ATOM(ogf, ogf, items_atom, "items")
CAF_ADD_ATOM(ogf, ogf, counts_atom, "counts")
CAF_ADD_ATOM(ogf, ogf, emissions_atom, "emissions")
CAF_ADD_ATOM(ogf, ogf, progress_atom, "progress")
CAF_ADD_ATOM(ogf, ogf, cancel_atom, "cancel")
CAF_ADD_ATOM(ogf, ogf, retry_atom, "retry")
CAF_ADD_ATOM(ogf, ogf, remove_atom, "remove")
CAF_ADD_ATOM(ogf, ogf, activity_atom, "activity")
CAF_ADD_ATOM(ogf, ogf, factors_atom, "factors")
CAF_ADD_ATOM(ogf, ogf, health_atom, "health")
CAF_ADD_ATOM(ogf, ogf, stats_atom, "stats")
CAF_ADD_ATOM(ogf, ogf, claim_atom, "claim")
CAF_ADD_ATOM(ogf, ogf, renew_atom, "renew")
CAF_ADD_ATOM(ogf, ogf, next_due_atom, "nextdue")
CAF_ADD_ATOM(ogf, ogf, release_atom, "release")
CAF_ADD_ATOM(ogf, ogf, start_atom, "start")
CAF_ADD_ATOM(ogf, ogf, resolve_atom, "resolve")
CAF_ADD_ATOM(ogf, ogf, compute_atom, "compute")
CAF_ADD_ATOM(ogf, ogf, record_atom, "record")
CAF_ADD_ATOM(ogf, ogf, finish_atom, "finish")
CAF_ADD_ATOM(ogf, ogf, defer_atom, "defer")
CAF_ADD_ATOM(ogf, ogf, heartbeat_atom, "heartbeat")
CAF_ADD_ATOM(ogf, ogf, depth_atom, "depth")
CAF_ADD_ATOM(ogf, ogf, wake_atom, "wake")
CAF_ADD_ATOM(ogf, ogf, run_atom, "run")
CAF_ADD_ATOM(ogf, ogf, chunk_atom, "chunk")
CAF_ADD_ATOM(ogf, ogf, idle_atom, "idle")
CAF_ADD_ATOM(ogf, ogf, track_atom, "track")
CAF_ADD_ATOM(ogf, ogf, untrack_atom, "untrack")
CAF_ADD_ATOM(ogf, ogf, lost_atom, "lost")
CAF_ADD_ATOM(ogf, ogf, done_atom, "done")
CAF_ADD_ATOM(ogf, ogf, drain_atom, "drain")
CAF_ADD_ATOM(ogf, ogf, stop_atom, "stop")
CAF_ADD_ATOM(ogf, ogf, tick_atom, "tick")
CAF_ADD_ATOM(ogf, ogf, listen_atom, "listen")
CAF_ADD_ATOM(ogf, ogf, delta_atom, "delta")
CAF_ADD_ATOM(ogf, ogf, subscribe_atom, "subscribe")
CAF_ADD_ATOM(ogf, ogf, unsub_atom, "unsub")
CAF_ADD_ATOM(ogf, ogf, flush_atom, "flush")
CAF_ADD_ATOM(ogf, ogf, get_atom, "get")
CAF_ADD_ATOM(ogf, ogf, put_atom, "put")
CAF_ADD_ATOM(ogf, ogf, ping_atom, "ping")
CAF_ADD_ATOM(ogf, ogf, free_atom, "free")
CAF_ADD_ATOM(ogf, ogf, key_atom, "apikey")
CAF_ADD_ATOM(ogf, ogf, prune_atom, "prune")

// engine_errc travels as a caf::error of category "ogf".
CAF_ERROR_CODE_ENUM(ogf::engine_errc, "ogf")

namespace ogf {

/// A caf::error carrying an engine error code and a message.
inline caf::error make_engine_error(engine_errc code, std::string message) {
  return caf::make_error(code, std::move(message));
}

/// The engine error code inside `err`; internal for foreign errors, and
/// unavailable for CAF's own timeouts and dead receivers.
engine_errc engine_code(const caf::error& err);

/// The human message inside an engine error (empty when none).
std::string engine_message(const caf::error& err);

} // namespace ogf
