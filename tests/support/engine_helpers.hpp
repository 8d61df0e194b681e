// Shared pieces of the engine tests: activities and submits, SQL probes, a
// spy processor that records what it computes (and can hold chunks or kill
// its caller), and a progress listener that records what it hears.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <caf/all.hpp>

#include "actors/engine.hpp"
#include "support/engine_fixture.hpp"
#include "support/test_database.hpp"

namespace ogf::testing {

/// The tenant of the engine tests.
inline const domain::tenant acme{"acme", "main"};

/// An engine config for tests: NOTIFY-driven (30 s poll), small chunks.
engine_config test_engine_config(const test_database& db,
                                 const std::string& node_id = "node-a");

/// Activities "<prefix>_0000".."<prefix>_{n-1}": electricity, US, i+1 kWh
/// each (built-in factor 0.375294 kg/kWh).
std::vector<domain::activity> make_activities(const std::string& prefix, int n);

/// Ids of `acts`, in order.
std::vector<std::string> ids_of(const std::vector<domain::activity>& acts);

/// A submit of `ids` for acme.
persistence::submit_request make_submit(const std::vector<std::string>& ids);

/// Emissions of make_activities(_, n): sum(1..n) × 0.375294, 6 decimals.
std::string expected_emissions(int n);

/// One value of a one-row, one-column query on `db`.
std::int64_t scalar(const test_database& db, const std::string& sql);
std::string text(const test_database& db, const std::string& sql);

/// Runs a statement on `db` in its own transaction.
void execute(const test_database& db, const std::string& sql);

/// Single-quoted SQL literal.
std::string sql_literal(const std::string& s);

/// What a spy processor saw. Shared between the spy actor and the test.
struct spy_log {
  /// Delay of every reply; changeable while running.
  std::atomic<std::int64_t> delay_ms{0};
  /// When > 0: the computes from this one (1-based) on take slow_delay_ms
  /// instead. Set before the batch starts, this makes "the chunk in flight
  /// when the test acts is slow" certain, however late the test looks.
  std::atomic<std::int64_t> slow_from_compute{0};
  std::atomic<std::int64_t> slow_delay_ms{0};
  /// When > 0: the N-th compute (1-based) kills its sender (the worker)
  /// with an error exit instead of replying. Fires once.
  std::atomic<std::int64_t> kill_sender_on_compute{0};
  /// When not empty: every compute holding an activity of this batch key
  /// kills its sender, also a bundle's compute where the batch is not the
  /// first. Set before the engine starts.
  std::string kill_senders_of_batch;
  std::atomic<bool> killed_a_worker{false};
  std::atomic<int> workers_killed{0};
  /// Of workers_killed, those killed in a compute of several batches.
  std::atomic<int> bundle_workers_killed{0};

  std::mutex mutex;
  std::int64_t computes = 0;
  /// Activity id -> how often it was computed.
  std::map<std::string, int> seen;
  /// Batch key (activity id up to '_') -> computes in flight.
  std::map<std::string, int> in_flight;
  /// Most distinct batches inside compute at the same time.
  std::size_t max_batches_in_flight = 0;
  /// True when one batch was inside compute twice at the same time.
  bool same_batch_twice = false;
  /// Most distinct batch keys in one compute: above 1 only for bundles.
  std::size_t most_batches_in_one_compute = 0;
  /// Time the latest compute began.
  std::chrono::steady_clock::time_point last_compute_start{};

  /// Thread-safe copies for the test.
  std::map<std::string, int> seen_copy();
  std::size_t max_in_flight();
  std::int64_t compute_count();
  std::size_t batches_in_flight();
  std::size_t most_batches_per_compute();
};

/// Spawns a processor that computes with the built-in calculator and
/// replies after `log->delay_ms` (via a response promise and a delayed
/// message, so chunks of several workers overlap), recording all in `log`.
processor_actor spawn_spy_processor(caf::actor_system& sys,
                                    std::shared_ptr<spy_log> log);

/// What a recording progress listener heard.
struct listener_log {
  struct event {
    std::chrono::steady_clock::time_point at;
    domain::batch_progress progress;
  };
  std::mutex mutex;
  std::vector<event> progress;
  std::optional<domain::batch> done;
  std::chrono::steady_clock::time_point done_at{};
  bool progress_after_done = false;

  bool has_done();
};

/// Spawns a progress listener recording into `log`.
progress_listener_actor
spawn_recording_listener(caf::actor_system& sys,
                         std::shared_ptr<listener_log> log);

/// A processor factory for engine_fixture: a spy writing to `log`.
processor_factory spy_factory(std::shared_ptr<spy_log> log);

/// Stores `batches` × `items` activities ("b<k>_<i>"), then submits one
/// batch per k through `f`; returns the batch ids in order.
std::vector<std::string> submit_batches(engine_fixture& f, int batches,
                                        int items);

/// Stores the activities of batches "b<k>" (make_activities, sizes[k] of
/// them) and submits one batch per k, straight through a store of its own,
/// before any engine runs: the engine's first claim finds the whole queue
/// waiting. Returns the batch ids in order of k.
std::vector<std::string> queue_before_start(const test_database& db,
                                            const std::vector<int>& sizes);

/// How many batches of `db` have `status`.
std::int64_t count_status(const test_database& db, const std::string& status);

/// How many batches of `db` have counters or a total that differ from what
/// their items say (batch_items): 0 when nothing was counted twice or lost.
std::int64_t batches_off_their_items(const test_database& db);

} // namespace ogf::testing
