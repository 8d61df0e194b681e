// The PostgreSQL batch store: the only code that talks SQL for batches,
// activities, factors and nodes. One object owns one pqxx::connection (not
// thread-safe: one owner at a time — in the engine, one detached store
// actor). Every method is one round trip where possible, with the
// statements of persistence/sql/*.sql (named_queries.hpp) prepared by name
// once per connection. Failures are thrown as store_exception or a
// libpqxx exception; the owning actor classifies them (store_error.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <pqxx/pqxx>

#include "domain/api_key.hpp"
#include "domain/model.hpp"
#include "persistence/store_error.hpp"

namespace ogf::persistence {

/// When the caller of a write stops waiting for its answer. A write whose
/// deadline has passed is dropped before it starts, and rolled back if the
/// deadline passes before its commit: a caller that gave up (and told its
/// client "nothing was written, retry") must not see the write appear
/// later. The default is no deadline (embedders that wait for every reply).
struct deadline {
  std::chrono::steady_clock::time_point at =
      std::chrono::steady_clock::time_point::max();

  /// The deadline `d` from now.
  static deadline in(std::chrono::steady_clock::duration d) {
    return {std::chrono::steady_clock::now() + d};
  }
  bool passed() const { return std::chrono::steady_clock::now() >= at; }
};

/// The message of the `unavailable` error for a write dropped because its
/// deadline passed (nothing written); the HTTP layer tells clients so.
inline constexpr const char* deadline_passed_message =
    "the request waited past its deadline; nothing was written";

/// Throws store_exception(unavailable, deadline_passed_message) when `d`
/// has passed: called before a write starts and right before its commit.
void check_deadline(const deadline& d);

/// A validated submit, as the store writes it.
struct submit_request {
  domain::tenant owner;
  std::vector<std::string> activity_ids;
  int priority = 5;
  int max_retries = 3;
  std::string metadata_json = "{}";
  /// Not claimed before this time (microseconds since the epoch); none or
  /// a time already past: now.
  std::optional<domain::timestamp_us> run_after;
  std::optional<std::string> idempotency_key;
  std::string request_hash; ///< hash of the canonical request body
  deadline until;           ///< not committed after this; default none
  /// Completion callback URL (CONTRACT §7); none by default.
  std::optional<std::string> callback_url;
};

/// Result of submit: the batch, and whether an earlier identical submit with
/// the same idempotency key was returned instead of creating one.
struct submit_outcome {
  domain::batch batch;
  bool replayed = false;
};

/// One request's outcome inside a group submit: the outcome, or an error.
struct submit_result {
  std::optional<submit_outcome> outcome;
  engine_errc error = engine_errc::none;
  std::string message;
};

/// A page of batches; `next` is the keyset cursor of the last row when more
/// rows follow.
struct batch_page {
  std::vector<domain::batch> batches;
  std::optional<std::pair<domain::timestamp_us, std::string>> next;
};

struct item_page {
  std::vector<domain::batch_item> items;
  std::optional<std::string> next_after;
};

/// A batch claimed by a node, with its fencing token.
struct claimed_batch {
  std::string batch_id;
  std::int64_t token = 0;
  int priority = 5;
  int max_retries = 3;
  std::int64_t total_activities = 0;
  bool reclaimed = false; ///< taken over after a lease expired
  /// Claimed with claim_mode::start: already processing, owner filled in.
  bool started = false;
  domain::tenant owner; ///< the batch's tenant (claim_mode::start only)
};

/// What a claim leaves the batches in.
enum class claim_mode {
  queue, ///< queued: a worker still has to `start` it
  /// processing at once, started_at set: for a claimer that hands each
  /// batch to a free worker straight away (the engine's poller), so the
  /// separate start transaction - one durable commit per batch - is saved.
  start,
};

/// (batch id, fencing token): identifies one lease.
struct lease_ref {
  std::string batch_id;
  std::int64_t token = 0;
};

/// Outcome of renew: what is still held, what is lost, what asks to cancel.
struct renew_outcome {
  std::vector<std::string> lost;
  std::vector<std::string> cancel_requested;
};

/// Outcome of one retention slice (prune_slice): whether this connection
/// got the retention lock, and the rows it deleted (none without the lock).
struct prune_outcome {
  bool locked = false;
  std::int64_t batches = 0; ///< batch_jobs rows
  std::int64_t items = 0;   ///< their batch_item_ids rows (the activities)
  std::int64_t results = 0; ///< their batch_results rows
};

/// An activity of a chunk with its chosen factor, or why there is none.
struct resolved_row {
  std::string batch_id; ///< the batch whose item this is
  std::string activity_id;
  bool found = false;   ///< activity exists
  std::string quantity; ///< exact decimal text
  std::string unit;
  std::optional<std::string> factor_id;
  std::optional<std::string> factor_unit;
  std::optional<std::string> kg_co2e_per_unit;
  std::optional<int> scope;
  bool any_factor = false; ///< a factor of the type exists for region/GLOBAL
  /// The activity's version as read (0 when not found): record_chunk
  /// writes the activity's latest result only while it is unchanged.
  std::int64_t activity_version = 0;
};

/// One computed item result to record.
struct item_result_row {
  std::string activity_id;
  bool succeeded = false;
  std::optional<int> scope;
  std::optional<std::string> emissions_kg_co2e;
  std::optional<std::string> factor_id;
  std::optional<std::string> error;
  /// resolved_row::activity_version of the inputs; the activity's latest
  /// result is written only if its version still equals it (0 never does).
  std::int64_t activity_version = 0;
};

/// What record_chunk (or record_many, per batch) wrote: only items newly
/// finished in this call count.
struct record_outcome {
  std::string batch_id;
  /// False: the batch's lease no longer held, nothing was written for it
  /// (record_many only; record_chunk throws lease_lost instead).
  bool held = true;
  std::int64_t succeeded = 0;
  std::int64_t failed = 0;
  std::string emissions_kg_co2e = "0";
  bool cancel_requested = false;
  /// Set when record_chunk was asked to finish the batch too (last chunk):
  /// the batch as it ended.
  std::optional<domain::batch> finished;
};

/// How a batch ends.
enum class finish_kind { done, cancelled, failed };

/// One batch's part of a record_many: its results, and whether the batch
/// ends in the same transaction.
struct batch_write {
  lease_ref lease;
  std::vector<item_result_row> results;
  std::optional<finish_kind> finish; ///< end the batch too
  std::string finish_error;          ///< with finish_kind::failed
};

/// A completion callback delivery claimed by a deliverer (migration 009):
/// what to send, and the token that fences the record of the attempt.
struct callback_delivery {
  std::string id;    ///< the X-OGF-Delivery id, the same on every attempt
  std::string event; ///< batch.completed, batch.failed or batch.cancelled
  std::string url;
  int attempts = 0; ///< attempts made before this one
  std::int64_t token = 0;
  domain::batch batch; ///< the batch as it is now: the body
};

/// How one delivery attempt went.
enum class callback_outcome {
  delivered, ///< a 2xx answer
  retry,     ///< anything else: try again later (or give up past the limit)
};

/// Undelivered callbacks, for metrics and the deliverer's timer.
struct callback_outbox_stats {
  std::int64_t undelivered = 0;
  double oldest_age_seconds = 0; ///< since the end of the oldest one
  /// Until the earliest next attempt (or lease expiry); nullopt when none.
  std::optional<std::chrono::milliseconds> next_due_in;
};

/// Outcome of a user's cancel.
struct cancel_outcome {
  domain::batch batch;
  bool immediate = false; ///< true: now cancelled; false: cancel_requested
};

/// Configuration of one store connection.
struct store_config {
  std::string database_url;
  std::string node_id;
  std::chrono::milliseconds statement_timeout{10000};
  /// How long a statement may wait for a lock; 0 = up to statement_timeout.
  std::chrono::milliseconds lock_timeout{0};
  /// At most one NOTIFY per this interval (NOTIFY serialises commits).
  std::chrono::milliseconds notify_interval{5};
  /// Shown in pg_stat_activity; a fixed name per role of connection.
  std::string application_name = "offgridflow-batch";
  /// Most unfinished batches (pending, queued or processing) a tenant may
  /// have for a submit on this connection to be accepted (quota_exceeded
  /// beyond; migration 006 counts them). Set on the connections that take
  /// users' submits; 0 (the default): no limit, as for the engine's own
  /// connections and tools.
  std::int64_t max_pending_batches = 0;
};

/// The channel pollers LISTEN on.
inline constexpr const char* notify_channel = "ogf_batches";

/// Cancel requests of processing batches, payload = batch id: the node
/// holding the batch stops it at once, whichever node took the request.
inline constexpr const char* cancel_channel = "ogf_cancel";

class batch_store {
public:
  explicit batch_store(store_config cfg);

  /// Replaces the connection (after a broken one).
  void reconnect();

  bool connected() const;

  /// Whether the connection is still usable, found without a round trip:
  /// reads what the server sent while the connection sat idle. A server
  /// that ended it (a restart, pg_terminate_backend, an idle timeout) sent
  /// its FATAL and closed the socket, which shows here, so the owner can
  /// replace the connection before a request runs on it rather than fail
  /// the request. A connection cut silently (network) shows only when used.
  bool usable();

  // -- batches, user side -------------------------------------------------

  submit_outcome submit(const submit_request& req);

  /// Group commit: many submits (without idempotency keys) in one
  /// transaction and one statement — one fsync for all of them. If the
  /// group is refused as a whole (a bad value in one request), each request
  /// is retried alone so that only the bad one fails. Results are in input
  /// order. One statement, its own transaction: one round trip. A request
  /// whose deadline has passed is left out (unavailable): before the
  /// statement is sent, and, if one passes while the statement waits in
  /// the database, the statement writes nothing and the group goes again
  /// without it. Likewise when tenants' quotas refuse the group: each such
  /// tenant keeps as many of its members as fitted (in input order), the
  /// others get quota_exceeded, and the group goes again.
  std::vector<submit_result>
  submit_many(const std::vector<submit_request>& reqs);
  domain::batch get(const domain::tenant& t, const std::string& id);
  batch_page list(const domain::tenant& t, const domain::batch_filter& f);
  item_page items(const domain::tenant& t, const std::string& id,
                  const domain::item_filter& f);
  /// The tenant's batches by status.
  domain::batch_counts counts(const domain::tenant& t);
  /// Batch `id`'s succeeded items and emissions by scope; not_found when
  /// it is not the tenant's.
  domain::batch_emissions emissions(const domain::tenant& t,
                                    const std::string& id);
  cancel_outcome cancel(const domain::tenant& t, const std::string& id,
                        const deadline& until = {});
  domain::batch retry(const domain::tenant& t, const std::string& id,
                      const deadline& until = {});
  void remove(const domain::tenant& t, const std::string& id,
              const deadline& until = {});

  // -- batches, engine side -----------------------------------------------

  /// Claims up to n claimable batches (pending and due, or lease expired)
  /// for `node_id`, with a new fencing token each. On the way, an expired
  /// batch that lost its lease more than max_retries times fails, and one a
  /// user asked to cancel ends cancelled.
  ///
  /// With `guaranteed` < n, only the first `guaranteed` batches (in claim
  /// order) are taken whatever their size; the ones after them only while
  /// the running sum of their activities stays within `item_budget`: a
  /// claimer packing small batches into bundles asks for many but never
  /// takes more work than its free workers can start now.
  std::vector<claimed_batch> claim(int n, std::chrono::milliseconds lease,
                                   claim_mode mode = claim_mode::queue,
                                   int guaranteed = -1,
                                   std::int64_t item_budget = 0);
  /// Time until the earliest pending batch that is not due yet becomes
  /// due (scheduled with run_after, or waiting out a retry backoff), by
  /// the database's clock; none when there is no such batch.
  std::optional<std::chrono::milliseconds> next_due();
  renew_outcome renew(const std::vector<lease_ref>& leases,
                      std::chrono::milliseconds lease);
  /// Gives leases back without counting an attempt; returns released ids.
  /// A released batch goes back to pending, or to cancelled when a user
  /// asked to cancel it while it ran.
  std::vector<std::string> release(const std::vector<lease_ref>& leases);
  /// queued -> processing under the fence; false when the lease is gone.
  bool start(const lease_ref& lease);
  /// Up to `limit` pending items after `after_activity_id`, resolved.
  std::vector<resolved_row> resolve_chunk(const lease_ref& lease,
                                          const domain::tenant& owner,
                                          const std::string& after_activity_id,
                                          int limit);
  /// The pending items of several batches at once (a bundle), at most
  /// `limit_per_batch` of each, resolved, ordered by batch then activity id.
  /// Batches whose lease no longer holds give no rows. One statement.
  std::vector<resolved_row> resolve_many(const std::vector<lease_ref>& leases,
                                         int limit_per_batch);
  /// Writes results under the fence; throws lease_lost when it no longer
  /// holds (nothing written).
  /// With `finish_batch` (the caller knows this is the last chunk) the
  /// batch is also finished as by finish(done), in the same transaction:
  /// one commit less per batch.
  record_outcome record_chunk(const lease_ref& lease,
                              const domain::tenant& owner,
                              const std::vector<item_result_row>& results,
                              bool finish_batch = false);
  /// Records the results of several batches (a bundle) and ends those that
  /// ask to, in one transaction: two statements and one commit for all of
  /// them. Fenced per batch: a batch whose lease no longer holds is left
  /// out (its outcome has held = false) and the others are written. One
  /// outcome per write, in input order.
  std::vector<record_outcome>
  record_many(const std::vector<batch_write>& writes);
  /// Ends the batch under the fence; returns the final batch.
  domain::batch finish(const lease_ref& lease, finish_kind kind,
                       const std::string& error = {});
  /// Puts a batch back to pending with run_after = now + delay (transient
  /// failure, retried later by any node). Counts as a lost attempt against
  /// max_retries, like a lease expiry (lease_expiries + 1); past it the batch
  /// fails with `error`; a batch a user asked to cancel ends cancelled.
  /// Throws lease_lost when the lease no longer holds.
  void defer(const lease_ref& lease, std::chrono::milliseconds delay,
             const std::string& error);
  /// Tenant of a batch (workers need it for activity lookups).
  domain::tenant owner_of(const std::string& batch_id);

  // -- activities and factors ---------------------------------------------

  std::int64_t upsert_activities(const domain::tenant& t,
                                 const std::vector<domain::activity>& rows,
                                 const deadline& until = {});
  domain::activity get_activity(const domain::tenant& t, const std::string& id);
  std::vector<domain::emission_factor>
  list_factors(const domain::tenant& t,
               const std::optional<std::string>& activity_type);
  std::int64_t upsert_factors(const domain::tenant& t,
                              const std::vector<domain::emission_factor>& rows,
                              const deadline& until = {});

  // -- API keys (persistence/batch_store_keys.cpp) ---------------------------

  /// Stores a new key; returns it with created_at as stored. `k.revoked_at`
  /// is ignored (a new key is not revoked). Throws store_exception:
  /// conflict when a key with this id exists (the stored one is left as
  /// it is), validation for a value the table refuses.
  domain::api_key create_api_key(const domain::api_key& k);
  /// Every key, or those of one org, oldest first (created_at, id).
  std::vector<domain::api_key>
  list_api_keys(const std::optional<std::string>& org_id);
  /// Revokes the key (revoked_at = now(), kept if already set); false when
  /// no key has this id.
  bool revoke_api_key(const std::string& id);
  /// The key with this id, revoked and expired ones included; nullopt when
  /// none (also for an id that is not 16 lower-case hex digits: no such key
  /// can exist, and nothing is sent to the database).
  std::optional<domain::api_key> find_api_key(const std::string& id);

  // -- completion callbacks (persistence/batch_store_callbacks.cpp) --------

  /// Claims one due delivery for this node with a lease of `lease` (its
  /// next attempt moves to the lease's end, so no other node finds it due
  /// before); nullopt when none is due. One statement.
  std::optional<callback_delivery>
  claim_callback(std::chrono::milliseconds lease);
  /// Records an attempt under the claim's token: delivered, or a failure
  /// with `error` and the next attempt after `retry_in` - unless that is
  /// more than `give_up_after` after the batch's end, then the delivery
  /// fails for good. The batch row mirrors it while the delivery is that of
  /// its latest end. Returns the delivery's status after this ("delivered",
  /// "pending", "failed"), or nullopt when the claim no longer held (taken
  /// over: nothing written).
  std::optional<std::string>
  record_callback_attempt(const callback_delivery& d, callback_outcome outcome,
                          const std::optional<std::string>& error,
                          std::chrono::milliseconds retry_in,
                          std::chrono::milliseconds give_up_after);
  /// Undelivered callbacks of the whole database.
  callback_outbox_stats callback_stats();

  // -- nodes and health ---------------------------------------------------

  void heartbeat(const std::string& host, int pid, const std::string& version);
  /// Round trip to the database; returns its latency.
  std::chrono::microseconds ping();
  /// Pending batches that are due (for metrics / health).
  std::int64_t queue_depth();

  // -- retention ----------------------------------------------------------

  /// One slice of retention in one short transaction, under the retention
  /// advisory lock (not waited for: without it, nothing is deleted and
  /// `locked` is false): deletes the oldest batches that ended (completed,
  /// failed, cancelled) more than `retention` ago, with their items,
  /// results and chunk log - at most `max_batches`, and beyond the first
  /// only while their activities add up to at most `max_items`. A batch
  /// whose idempotency key is still live (< 24 h) stays until it lapses.
  prune_outcome prune_slice(std::chrono::milliseconds retention,
                            std::int32_t max_batches, std::int64_t max_items);

private:
  void connect();
  void prepare_all();
  void maybe_notify(pqxx::transaction_base& tx);
  /// Whether a wake-up NOTIFY is due now (and counts it as sent).
  bool notify_due();

  store_config cfg_;
  std::unique_ptr<pqxx::connection> conn_;
  std::chrono::steady_clock::time_point last_notify_{};
};

/// A row that starts with the batch_columns fragment, as a batch (for the
/// store's own files: batch_store_*.cpp).
domain::batch read_batch_row(const pqxx::row& r);

/// PostgreSQL array literal of text values ({"a","b"}), escaped.
std::string to_pg_array(const std::vector<std::string>& values);

/// Same for optional values (NULL elements).
std::string to_pg_array(const std::vector<std::optional<std::string>>& values);

} // namespace ogf::persistence
