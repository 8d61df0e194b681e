#include "actors/pruner.hpp"

#include <stdexcept>
#include <string>

#include <caf/all.hpp>

#include "actors/store_actor.hpp"
#include "common/log.hpp"
#include "domain/time.hpp"

namespace ogf {

namespace {

using namespace std::chrono;

/// How long one slice may take before the pruner stops waiting for it
/// (the store's statement timeout ends the statement itself sooner).
constexpr auto slice_timeout = seconds(60);

struct pruner_state {
  pruner_config cfg;
  store_actor store;
  bool round_in_flight = false;
  bool stopping = false;
  /// The round in flight: what it deleted so far, and since when.
  persistence::prune_outcome round;
  steady_clock::time_point round_started;
  engine_stats stats; ///< only the pruned_* and prune_* fields
  static inline const char* name = "ogf.pruner";
};

using self_ptr = pruner_actor::stateful_pointer<pruner_state>;

void end_round(self_ptr self, bool held_lock) {
  auto& st = self->state;
  st.round_in_flight = false;
  if (held_lock)
    st.stats.last_prune_us = domain::now_us();
  if (st.round.batches > 0)
    log::info("retention pruned ended batches",
              {{"batches", st.round.batches},
               {"items", st.round.items},
               {"results", st.round.results},
               {"ms", duration_cast<milliseconds>(steady_clock::now() -
                                                  st.round_started)
                          .count()}});
}

/// One slice; the next follows from its answer while slices delete
/// something, the round's cap is not reached and no stop was asked.
void next_slice(self_ptr self) {
  auto& st = self->state;
  self->request(st.store, slice_timeout, prune_atom_v, st.cfg.retention,
                st.cfg.slice_batches, st.cfg.slice_items)
      .then(
          [self](const persistence::prune_outcome& out) {
            auto& st = self->state;
            if (!out.locked) {
              // Another node prunes (or an operator paused pruning). In
              // mid-round too: that node goes on where this one stopped.
              if (st.round.batches == 0)
                ++st.stats.prune_rounds_skipped;
              end_round(self, false);
              return;
            }
            st.round.batches += out.batches;
            st.round.items += out.items;
            st.round.results += out.results;
            st.stats.pruned_batches += out.batches;
            st.stats.pruned_items += out.items;
            st.stats.pruned_results += out.results;
            if (out.batches > 0 && st.round.batches < st.cfg.round_batches &&
                !st.stopping)
              next_slice(self);
            else
              end_round(self, true);
          },
          [self](caf::error& err) {
            // Database unreachable, a statement or lock timeout: nothing of
            // the slice was committed. The next round tries again.
            log::warn("retention slice failed", {{"error", to_string(err)}});
            end_round(self, false);
          });
}

pruner_actor::behavior_type pruner(self_ptr self, pruner_config cfg) {
  auto& st = self->state;
  st.cfg = std::move(cfg);
  st.store = spawn_store(self->system(), st.cfg.store);
  // The store lives and dies with this actor: a crash of either ends
  // both, and the engine restarts the pruner (with a new connection).
  self->link_to(st.store);
  self->send(self, tick_atom_v);
  return {
      [self](tick_atom) {
        auto& st = self->state;
        if (st.stopping)
          return;
        self->delayed_send(self, st.cfg.interval, tick_atom_v);
        if (st.round_in_flight)
          return; // a round longer than the interval: no second one
        st.round_in_flight = true;
        st.round = {};
        st.round_started = steady_clock::now();
        next_slice(self);
      },
      [self](stop_atom) { self->state.stopping = true; },
      [self](stats_atom) { return self->state.stats; },
  };
}

} // namespace

std::string pruner_config::validate() const {
  if (retention <= caf::timespan::zero())
    return "retention must be > 0 (0 = keep forever spawns no pruner)";
  if (interval <= caf::timespan::zero())
    return "interval must be > 0";
  if (slice_batches < 1 || slice_items < 1 || round_batches < 1)
    return "slice_batches, slice_items and round_batches must be >= 1";
  return {};
}

pruner_actor spawn_pruner(caf::actor_system& sys, pruner_config cfg) {
  if (auto problem = cfg.validate(); !problem.empty())
    throw std::invalid_argument("invalid pruner config: " + problem);
  return sys.spawn(pruner, std::move(cfg));
}

} // namespace ogf
