// The pruner (retention): every `interval`, and once at start, deletes the
// batches that ended (completed, failed, cancelled) longer ago than the
// retention window, with their items, results and chunk log. A round is a
// series of slices, each one short transaction on the pruner's own
// connection under the retention advisory lock (batch_store::prune_slice):
// a node that does not get the lock skips the round, so only one node
// prunes at a time. A round goes on while slices delete something, up to
// round_batches, and never holds one long transaction; claims, records and
// API requests run on other connections and meet only the row locks of the
// ended batches being deleted. Spawned by the engine only when retention is
// on (engine_config::retention > 0).
#pragma once

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

struct pruner_config {
  /// Batches that ended longer ago than this go. Must be > 0.
  caf::timespan retention = std::chrono::hours(24 * 30);
  /// Time between the starts of two rounds.
  caf::timespan interval = std::chrono::minutes(1);
  /// Most batches per slice (transaction).
  std::int32_t slice_batches = 100;
  /// Most activities per slice, beyond its first batch (which always goes):
  /// bounds the item and result rows one transaction deletes.
  std::int64_t slice_items = 10000;
  /// Most batches per round; the rest waits for the next round.
  std::int64_t round_batches = 2000;
  /// The pruner's own connection (it spawns and links its store actor).
  persistence::store_config store;

  /// Empty when valid, else what is wrong (one line).
  std::string validate() const;
};

/// Throws std::invalid_argument for an invalid config.
pruner_actor spawn_pruner(caf::actor_system& sys, pruner_config cfg);

} // namespace ogf
