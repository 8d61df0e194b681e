#include "actors/worker.hpp"

#include <random>

#include <caf/all.hpp>

#include "common/log.hpp"

namespace ogf {

namespace {

using persistence::claimed_batch;
using persistence::finish_kind;
using persistence::lease_ref;

struct worker_state {
  worker_config cfg;
  worker_peers peers;
  std::optional<claimed_batch> job; ///< the batch being processed
  domain::tenant owner;
  std::string cursor; ///< last activity id recorded
  int transient_errors = 0;
  bool step_in_flight = false;
  bool cancel_requested = false;
  bool lease_lost = false;
  bool draining = false;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "ogf.worker";

  lease_ref lease() const { return {job->batch_id, job->token}; }

  /// Full jitter: uniform in [0, min(cap, base * 2^attempt)].
  caf::timespan backoff() {
    auto ceiling = cfg.backoff_base * (1LL << std::min(transient_errors, 20));
    if (ceiling > cfg.backoff_cap)
      ceiling = cfg.backoff_cap;
    std::uniform_int_distribution<long long> d(0, ceiling.count());
    return caf::timespan{d(rng)};
  }
};

using self_ptr = worker_actor::stateful_pointer<worker_state>;

/// The batch is over for this worker: tell the renewer and the poller.
void done(self_ptr self) {
  auto& st = self->state;
  if (!st.job)
    return;
  auto id = st.job->batch_id;
  caf::anon_send(st.peers.renewer, untrack_atom_v, id);
  st.job.reset();
  st.step_in_flight = false;
  if (auto p = caf::actor_cast<poller_actor>(st.peers.poller))
    caf::anon_send(p, idle_atom_v, self->address(), id);
}

void finish(self_ptr self, finish_kind kind, const std::string& error) {
  auto& st = self->state;
  self
    ->request(st.peers.store, st.cfg.request_timeout, finish_atom_v,
              st.lease(), static_cast<std::int32_t>(kind), error)
    .then(
      [self](const domain::batch& b) {
        caf::anon_send(self->state.peers.aggregator, done_atom_v, b);
        log::info("batch finished", {{"batch_id", b.id},
                                     {"status", domain::to_string(b.status)}});
        done(self);
      },
      [self](caf::error& err) {
        // Lease lost or database gone: whoever holds the batch next will
        // finish it.
        log::warn("finish refused", {{"batch_id", self->state.job->batch_id},
                                     {"error", to_string(engine_code(err))}});
        done(self);
      });
}

/// Handles a failed store/processor step.
void on_step_error(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  st.step_in_flight = false;
  auto code = engine_code(err);
  if (code == engine_errc::lease_lost) {
    log::warn("lease lost, stopping", {{"batch_id", st.job->batch_id}});
    done(self);
    return;
  }
  if (is_transient(code)) {
    ++st.transient_errors;
    if (st.transient_errors > st.job->max_retries) {
      auto delay = st.backoff();
      self
        ->request(st.peers.store, st.cfg.request_timeout, defer_atom_v,
                  st.lease(), delay, std::string("database unavailable"))
        .then([self](bool) { done(self); },
              [self](caf::error&) { done(self); });
      return;
    }
    self->delayed_send(self, st.backoff(), chunk_atom_v);
    st.step_in_flight = true; // the delayed chunk is the step
    return;
  }
  log::error("batch failed", {{"batch_id", st.job->batch_id},
                              {"error", to_string(code)}});
  finish(self, finish_kind::failed, "internal error");
}

void next_chunk(self_ptr self) {
  auto& st = self->state;
  if (!st.job)
    return;
  if (st.lease_lost) {
    done(self);
    return;
  }
  if (st.cancel_requested) {
    finish(self, finish_kind::cancelled, {});
    return;
  }
  if (st.draining) {
    std::vector<lease_ref> leases{st.lease()};
    self->request(st.peers.store, st.cfg.request_timeout, release_atom_v, leases)
      .then([self](const std::vector<std::string>&) { done(self); },
            [self](caf::error&) { done(self); });
    return;
  }
  st.step_in_flight = true;
  self
    ->request(st.peers.store, st.cfg.request_timeout, resolve_atom_v,
              st.lease(), st.owner, st.cursor, st.cfg.chunk_size)
    .then(
      [self](std::vector<domain::resolved_activity>& rows) {
        auto& st = self->state;
        if (rows.empty()) {
          st.step_in_flight = false;
          finish(self, finish_kind::done, {});
          return;
        }
        auto last = rows.back().activity_id;
        self
          ->request(st.peers.processor, st.cfg.request_timeout, compute_atom_v,
                    std::move(rows))
          .then(
            [self, last](std::vector<domain::item_result>& results) {
              auto& st = self->state;
              if (st.lease_lost) {
                st.step_in_flight = false;
                done(self);
                return;
              }
              self
                ->request(st.peers.store, st.cfg.request_timeout,
                          record_atom_v, st.lease(), st.owner,
                          std::move(results))
                .then(
                  [self, last](const persistence::record_outcome& out) {
                    auto& st = self->state;
                    st.step_in_flight = false;
                    st.transient_errors = 0;
                    st.cursor = last;
                    if (out.cancel_requested)
                      st.cancel_requested = true;
                    caf::anon_send(st.peers.aggregator, delta_atom_v,
                                   progress_delta{st.job->batch_id,
                                                  out.succeeded, out.failed,
                                                  out.emissions_kg_co2e});
                    next_chunk(self);
                  },
                  [self](caf::error& err) { on_step_error(self, err); });
            },
            [self](caf::error& err) { on_step_error(self, err); });
      },
      [self](caf::error& err) { on_step_error(self, err); });
}

void begin(self_ptr self) {
  auto& st = self->state;
  st.step_in_flight = true;
  self
    ->request(st.peers.store, st.cfg.request_timeout, start_atom_v, st.lease())
    .then(
      [self](const domain::tenant& owner) {
        auto& st = self->state;
        st.owner = owner;
        st.step_in_flight = false;
        caf::anon_send(st.peers.aggregator, start_atom_v, st.job->batch_id,
                       st.job->total_activities);
        next_chunk(self);
      },
      [self](caf::error& err) {
        auto& st = self->state;
        st.step_in_flight = false;
        if (is_transient(engine_code(err))
            && st.transient_errors < st.job->max_retries) {
          ++st.transient_errors;
          self->delayed_send(self, st.backoff(), chunk_atom_v);
          st.step_in_flight = true;
          return;
        }
        // Cancelled while queued, or the lease went elsewhere.
        done(self);
      });
}

worker_actor::behavior_type worker(self_ptr self, worker_config cfg,
                                   worker_peers peers) {
  self->state.cfg = cfg;
  self->state.peers = std::move(peers);
  return {
    [self](run_atom, const claimed_batch& job) {
      auto& st = self->state;
      if (st.job) {
        // Never happens by design (the poller hands one batch per idle
        // worker); give it back rather than run two at once.
        log::error("worker got a second batch", {{"batch_id", job.batch_id}});
        return;
      }
      st.job = job;
      st.owner = {};
      st.cursor.clear();
      st.transient_errors = 0;
      st.cancel_requested = false;
      st.lease_lost = false;
      begin(self);
    },
    [self](chunk_atom) {
      auto& st = self->state;
      if (!st.job)
        return;
      st.step_in_flight = false;
      if (st.owner.org_id.empty())
        begin(self); // a retried start
      else
        next_chunk(self);
    },
    [self](lost_atom, const std::string& id) {
      auto& st = self->state;
      if (st.job && st.job->batch_id == id) {
        st.lease_lost = true;
        if (!st.step_in_flight)
          done(self);
      }
    },
    [self](cancel_atom, const std::string& id) {
      auto& st = self->state;
      if (st.job && st.job->batch_id == id)
        st.cancel_requested = true;
    },
    [self](drain_atom) { self->state.draining = true; },
  };
}

} // namespace

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          worker_peers peers) {
  return sys.spawn(worker, cfg, std::move(peers));
}

} // namespace ogf
