// Every typed interface of the engine, and nothing else.
#pragma once

#include <caf/replies_to.hpp>
#include <caf/typed_actor.hpp>

#include "actors/messages.hpp"

namespace ogf {

using caf::reacts_to;
using caf::replies_to;

/// Receives live progress of a batch (SSE streams, embedders): `progress`
/// at most 4 times a second while it changes, then `done` with the final
/// batch.
using progress_listener_actor =
    caf::typed_actor<reacts_to<progress_atom, domain::batch_progress>,
                     reacts_to<done_atom, domain::batch>>;

/// Computes a chunk: resolved activities in, item results out, same order.
/// The default implementation is the emissions calculator; an embedding
/// application may substitute its own.
using processor_actor = caf::typed_actor<
    replies_to<compute_atom, std::vector<domain::resolved_activity>>::with<
        std::vector<domain::item_result>>>;

/// A detached actor owning one database connection and one batch_store.
/// Failures arrive as caf::error with an engine_errc code.
using store_actor = caf::typed_actor<
    replies_to<submit_atom,
               persistence::submit_request>::with<persistence::submit_outcome>,
    // group commit: many submits in one transaction, results in input order
    replies_to<submit_atom, std::vector<persistence::submit_request>>::with<
        std::vector<persistence::submit_result>>,
    replies_to<get_atom, domain::tenant, std::string>::with<domain::batch>,
    replies_to<list_atom, domain::tenant,
               domain::batch_filter>::with<persistence::batch_page>,
    replies_to<items_atom, domain::tenant, std::string,
               domain::item_filter>::with<persistence::item_page>,
    replies_to<counts_atom, domain::tenant>::with<domain::batch_counts>,
    replies_to<emissions_atom, domain::tenant,
               std::string>::with<domain::batch_emissions>,
    // user writes carry the caller's deadline: not committed after it
    replies_to<cancel_atom, domain::tenant, std::string,
               persistence::deadline>::with<persistence::cancel_outcome>,
    replies_to<retry_atom, domain::tenant, std::string,
               persistence::deadline>::with<domain::batch>,
    replies_to<remove_atom, domain::tenant, std::string,
               persistence::deadline>::with<bool>,
    replies_to<claim_atom, std::int32_t,
               caf::timespan>::with<std::vector<persistence::claimed_batch>>,
    // up to n, the first `guaranteed` whatever their size, the rest while
    // their activities add up to at most the budget (bundles)
    replies_to<claim_atom, std::int32_t, caf::timespan, std::int32_t,
               std::int64_t>::with<std::vector<persistence::claimed_batch>>,
    // milliseconds until the earliest batch not due yet is due; -1: none
    replies_to<next_due_atom>::with<std::int64_t>,
    replies_to<renew_atom, std::vector<persistence::lease_ref>,
               caf::timespan>::with<persistence::renew_outcome>,
    replies_to<release_atom, std::vector<persistence::lease_ref>>::with<
        std::vector<std::string>>,
    replies_to<resolve_atom, persistence::lease_ref, domain::tenant,
               std::string,
               std::int32_t>::with<std::vector<domain::resolved_activity>>,
    // a bundle: all pending items of several batches, at most n of each
    replies_to<resolve_atom, std::vector<persistence::lease_ref>,
               std::int32_t>::with<bundle_rows>,
    // a bundle's results and ends, one transaction; outcomes in input order
    replies_to<record_atom, std::vector<persistence::batch_write>>::with<
        std::vector<persistence::record_outcome>>,
    // bool: also finish the batch (last chunk), in the same transaction
    replies_to<record_atom, persistence::lease_ref, domain::tenant,
               std::vector<domain::item_result>,
               bool>::with<persistence::record_outcome>,
    replies_to<finish_atom, persistence::lease_ref, std::int32_t,
               std::string>::with<domain::batch>,
    replies_to<defer_atom, persistence::lease_ref, caf::timespan,
               std::string>::with<bool>,
    replies_to<activity_atom, put_atom, domain::tenant,
               std::vector<domain::activity>,
               persistence::deadline>::with<std::int64_t>,
    replies_to<activity_atom, get_atom, domain::tenant,
               std::string>::with<domain::activity>,
    replies_to<factors_atom, get_atom, domain::tenant,
               std::string>::with<std::vector<domain::emission_factor>>,
    replies_to<factors_atom, put_atom, domain::tenant,
               std::vector<domain::emission_factor>,
               persistence::deadline>::with<std::int64_t>,
    replies_to<heartbeat_atom, std::string, std::int32_t,
               std::string>::with<bool>,
    replies_to<ping_atom>::with<std::int64_t>,
    replies_to<depth_atom>::with<std::int64_t>,
    // The API key with this id, revoked and expired ones included; one
    // with an empty id when there is none.
    replies_to<key_atom, std::string>::with<domain::api_key>,
    // one retention slice: ended more than this ago, at most n batches,
    // beyond the first only up to this many activities (prune_slice)
    replies_to<prune_atom, caf::timespan, std::int32_t,
               std::int64_t>::with<persistence::prune_outcome>>;

/// Groups concurrent submits into one transaction each (group commit):
/// while a group commits, the next one gathers.
using submit_batcher_actor =
    caf::typed_actor<replies_to<submit_atom, persistence::submit_request>::with<
        persistence::submit_outcome>>;

/// Keeps live progress of batches in flight on this node and pushes it to
/// subscribers.
using aggregator_actor = caf::typed_actor<
    reacts_to<start_atom, std::string, std::int64_t>, // batch id, item count
    reacts_to<delta_atom, progress_delta>, reacts_to<done_atom, domain::batch>,
    replies_to<progress_atom, domain::tenant,
               std::string>::with<domain::batch_progress>,
    replies_to<subscribe_atom, domain::tenant, std::string,
               progress_listener_actor>::with<bool>,
    reacts_to<unsub_atom, std::string, progress_listener_actor>,
    reacts_to<flush_atom, std::string>,
    // subscribers, finished batches by status, activities by result
    replies_to<stats_atom>::with<engine_stats>>;

/// Renews every lease of this node in one statement, every lease/3, and
/// tells a worker at once when its lease is lost or its batch cancelled.
using renewer_actor = caf::typed_actor<
    reacts_to<track_atom, persistence::lease_ref, caf::actor_addr>,
    // only while the tracked token is this one
    reacts_to<untrack_atom, persistence::lease_ref>, reacts_to<tick_atom>,
    replies_to<stats_atom>::with<std::int64_t, std::int64_t>>; // renewals, lost

/// Processes one batch at a time, chunk by chunk, or a bundle of small
/// batches at once.
using worker_actor = caf::typed_actor<
    reacts_to<run_atom, persistence::claimed_batch>,
    reacts_to<run_atom, std::vector<persistence::claimed_batch>>,
    reacts_to<chunk_atom>,
    reacts_to<lost_atom, std::string>,   // lease lost: stop, write nothing
    reacts_to<cancel_atom, std::string>, // cancel requested: stop at once
    reacts_to<drain_atom>>;              // graceful stop: release the lease

/// Claims batches when workers are free and hands them out; owns the
/// worker pool.
using poller_actor = caf::typed_actor<
    reacts_to<tick_atom>, reacts_to<wake_atom>,
    reacts_to<idle_atom, caf::actor_addr, std::string>, // worker, batch done
    // worker idle after giving a bundle back: these run alone next time
    reacts_to<idle_atom, caf::actor_addr, std::vector<std::string>>,
    reacts_to<cancel_atom, std::string>,
    replies_to<drain_atom>::with<bool>, // graceful stop; true when drained
    replies_to<stats_atom>::with<engine_stats>>;

/// Deletes batches that ended longer ago than the retention window, in
/// rounds of small transactions on a connection of its own (retention).
using pruner_actor =
    caf::typed_actor<reacts_to<tick_atom>,
                     reacts_to<stop_atom>, // graceful stop: no new slice
                     // only the pruned_* and prune_* fields are set
                     replies_to<stats_atom>::with<engine_stats>>;

/// Waits on LISTEN and wakes the poller; only talks to itself otherwise.
using listener_actor = caf::typed_actor<reacts_to<listen_atom>>;

/// Delivers completion callbacks from the outbox (migration 009): `wake`
/// when a batch with a callback ended on this node; it polls on its own
/// (`tick`) for other nodes' ends and retries that are due.
using deliverer_actor =
    caf::typed_actor<reacts_to<wake_atom>, reacts_to<tick_atom>>;

/// The engine's public face: everything REST clients and embedders may ask.
using engine_actor = caf::typed_actor<
    replies_to<submit_atom,
               persistence::submit_request>::with<persistence::submit_outcome>,
    replies_to<get_atom, domain::tenant, std::string>::with<domain::batch>,
    replies_to<list_atom, domain::tenant,
               domain::batch_filter>::with<persistence::batch_page>,
    replies_to<items_atom, domain::tenant, std::string,
               domain::item_filter>::with<persistence::item_page>,
    replies_to<counts_atom, domain::tenant>::with<domain::batch_counts>,
    replies_to<emissions_atom, domain::tenant,
               std::string>::with<domain::batch_emissions>,
    replies_to<progress_atom, domain::tenant,
               std::string>::with<domain::batch_progress>,
    replies_to<cancel_atom, domain::tenant,
               std::string>::with<persistence::cancel_outcome>,
    replies_to<retry_atom, domain::tenant, std::string>::with<domain::batch>,
    replies_to<remove_atom, domain::tenant, std::string>::with<bool>,
    // The same writes with the caller's deadline (the HTTP front end's):
    // dropped before they start, or rolled back before their commit, once
    // it has passed, so a caller that gave up never sees them appear later.
    // Submits carry theirs in submit_request::until.
    replies_to<cancel_atom, domain::tenant, std::string,
               persistence::deadline>::with<persistence::cancel_outcome>,
    replies_to<retry_atom, domain::tenant, std::string,
               persistence::deadline>::with<domain::batch>,
    replies_to<remove_atom, domain::tenant, std::string,
               persistence::deadline>::with<bool>,
    replies_to<activity_atom, put_atom, domain::tenant,
               std::vector<domain::activity>,
               persistence::deadline>::with<std::int64_t>,
    replies_to<factors_atom, put_atom, domain::tenant,
               std::vector<domain::emission_factor>,
               persistence::deadline>::with<std::int64_t>,
    replies_to<subscribe_atom, domain::tenant, std::string,
               progress_listener_actor>::with<bool>,
    reacts_to<unsub_atom, std::string, progress_listener_actor>,
    replies_to<activity_atom, put_atom, domain::tenant,
               std::vector<domain::activity>>::with<std::int64_t>,
    replies_to<activity_atom, get_atom, domain::tenant,
               std::string>::with<domain::activity>,
    replies_to<factors_atom, get_atom, domain::tenant,
               std::string>::with<std::vector<domain::emission_factor>>,
    replies_to<factors_atom, put_atom, domain::tenant,
               std::vector<domain::emission_factor>>::with<std::int64_t>,
    replies_to<key_atom, std::string>::with<domain::api_key>, // see store
    replies_to<health_atom>::with<health_report>,
    replies_to<stats_atom>::with<engine_stats>,
    replies_to<stop_atom>::with<bool>>; // graceful stop

} // namespace ogf
