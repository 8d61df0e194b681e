#include "actors/worker.hpp"

#include <memory>
#include <random>
#include <unordered_map>

#include <caf/all.hpp>

#include "common/log.hpp"

namespace ogf {

namespace {

using persistence::claimed_batch;
using persistence::finish_kind;
using persistence::lease_ref;

/// What the worker is waiting for.
enum class phase {
  idle,      ///< no batch
  resolving, ///< resolve_chunk in flight
  computing, ///< the processor has the chunk
  recording, ///< record_chunk in flight
  backoff,   ///< waiting out a transient error (a delayed `chunk`)
  closing,   ///< finish, defer or release in flight
};

/// A batch of a bundle.
struct member {
  claimed_batch job;
  /// Lost its lease, or already ended on its own (cancelled while the
  /// bundle computed): left out of the bundle's writes.
  bool gone = false;
  /// A user asked to cancel it and it could not end on its own (a record
  /// was in flight, or its own finish failed): the bundle's next record
  /// writes none of its results and ends it cancelled.
  bool cancel = false;
};

struct worker_state {
  worker_config cfg;
  worker_peers peers;
  std::optional<claimed_batch> job; ///< the batch being processed
  /// Or: the bundle of small batches being processed (all at once).
  std::vector<member> bundle;
  /// Replies still awaited before a bundle is over (defer, fail).
  std::int32_t bundle_closing = 0;
  domain::tenant owner;
  std::string cursor; ///< last activity id recorded
  int transient_errors = 0;
  phase step = phase::idle;
  /// Bumped whenever a step begins or is abandoned; a reply carrying an
  /// older value belongs to an abandoned step (or an earlier batch) and is
  /// ignored. Without it a late reply could end the next batch.
  std::uint64_t generation = 0;
  bool cancel_requested = false;
  bool lease_lost = false;
  bool draining = false;
  /// A finish that failed transiently and is retried after a backoff.
  std::optional<finish_kind> finishing;
  std::string finish_error;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "ogf.worker";

  lease_ref lease() const { return {job->batch_id, job->token}; }

  /// Enters `p` and returns the generation its replies must carry.
  std::uint64_t enter(phase p) {
    step = p;
    return ++generation;
  }

  bool busy() const { return job || !bundle.empty(); }

  bool current(std::uint64_t g) const { return busy() && g == generation; }

  /// The leases of the bundle's members still in it.
  std::vector<lease_ref> bundle_leases() const {
    std::vector<lease_ref> out;
    for (const auto& m : bundle)
      if (!m.gone)
        out.push_back({m.job.batch_id, m.job.token});
    return out;
  }

  member* find_member(const std::string& id) {
    for (auto& m : bundle)
      if (m.job.batch_id == id)
        return &m;
    return nullptr;
  }

  /// The smallest max_retries of the bundle's batches: transient errors
  /// beyond it defer the whole bundle.
  std::int32_t bundle_max_retries() const {
    std::int32_t n = 10;
    for (const auto& m : bundle)
      n = std::min<std::int32_t>(n, m.job.max_retries);
    return n;
  }

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

void proceed(self_ptr self);

/// The batch is over for this worker: tell the renewer and the poller.
/// Whatever is still in flight for it is abandoned.
void done(self_ptr self) {
  auto& st = self->state;
  if (!st.job)
    return;
  auto id = st.job->batch_id;
  caf::anon_send(st.peers.renewer, untrack_atom_v, st.lease());
  st.job.reset();
  st.finishing.reset();
  st.enter(phase::idle);
  if (auto p = caf::actor_cast<poller_actor>(st.peers.poller))
    caf::anon_send(p, idle_atom_v, self->address(), id);
}

void back_off(self_ptr self) {
  auto& st = self->state;
  st.enter(phase::backoff);
  self->delayed_send(self, st.backoff(), chunk_atom_v);
}

void finish(self_ptr self, finish_kind kind, const std::string& error) {
  auto& st = self->state;
  st.finishing = kind;
  st.finish_error = error;
  auto g = st.enter(phase::closing);
  self->request(st.peers.store, st.cfg.request_timeout, finish_atom_v,
                st.lease(), static_cast<std::int32_t>(kind), error)
      .then(
          [self, g](const domain::batch& b) {
            if (!self->state.current(g))
              return;
            caf::anon_send(self->state.peers.aggregator, done_atom_v, b);
            log::info(
                "batch finished",
                {{"batch_id", b.id}, {"status", domain::to_string(b.status)}});
            done(self);
          },
          [self, g](caf::error& err) {
            auto& st = self->state;
            if (!st.current(g))
              return;
            auto code = engine_code(err);
            if (is_transient(code) &&
                st.transient_errors < st.job->max_retries) {
              // The work is done and recorded; only the final write is missing.
              // Keep the lease (renewed) and try again rather than leave the
              // batch to expire.
              ++st.transient_errors;
              back_off(self);
              return;
            }
            // Lease lost or database gone for good: whoever holds the batch
            // next will finish it.
            log::warn("finish refused", {{"batch_id", st.job->batch_id},
                                         {"error", to_string(code)}});
            done(self);
          });
}

/// Gives the lease back (graceful stop) without counting an attempt.
void release(self_ptr self) {
  auto& st = self->state;
  auto g = st.enter(phase::closing);
  std::vector<lease_ref> leases{st.lease()};
  self->request(st.peers.store, st.cfg.request_timeout, release_atom_v, leases)
      .then(
          [self, g](const std::vector<std::string>&) {
            if (self->state.current(g))
              done(self);
          },
          [self, g](caf::error&) {
            if (self->state.current(g))
              done(self);
          });
}

/// Handles a failed store/processor step.
void on_step_error(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto code = engine_code(err);
  if (code == engine_errc::lease_lost) {
    // Cancelled while queued, or the lease went elsewhere.
    log::warn("lease lost, stopping", {{"batch_id", st.job->batch_id}});
    done(self);
    return;
  }
  if (is_transient(code)) {
    ++st.transient_errors;
    if (st.transient_errors > st.job->max_retries) {
      auto delay = st.backoff();
      auto g = st.enter(phase::closing);
      self->request(st.peers.store, st.cfg.request_timeout, defer_atom_v,
                    st.lease(), delay, std::string("database unavailable"))
          .then(
              [self, g](bool) {
                if (self->state.current(g))
                  done(self);
              },
              [self, g](caf::error&) {
                if (self->state.current(g))
                  done(self);
              });
      return;
    }
    back_off(self);
    return;
  }
  log::error("batch failed",
             {{"batch_id", st.job->batch_id}, {"error", to_string(code)}});
  finish(self, finish_kind::failed, "internal error");
}

/// Records a chunk's results; `final_chunk` (fewer pending items were left
/// than a chunk holds) also finishes the batch in the same transaction.
void record(self_ptr self, std::vector<domain::item_result> results,
            std::string last, bool final_chunk) {
  auto& st = self->state;
  auto g = st.enter(phase::recording);
  self->request(st.peers.store, st.cfg.request_timeout, record_atom_v,
                st.lease(), st.owner, std::move(results), final_chunk)
      .then(
          [self, g, last](const persistence::record_outcome& out) {
            auto& st = self->state;
            if (!st.current(g))
              return;
            st.transient_errors = 0;
            st.cursor = last;
            if (out.cancel_requested)
              st.cancel_requested = true;
            caf::anon_send(st.peers.aggregator, delta_atom_v,
                           progress_delta{st.job->batch_id, out.succeeded,
                                          out.failed, out.emissions_kg_co2e});
            if (out.finished) {
              caf::anon_send(st.peers.aggregator, done_atom_v, *out.finished);
              log::info("batch finished",
                        {{"batch_id", out.finished->id},
                         {"status", domain::to_string(out.finished->status)}});
              done(self);
              return;
            }
            proceed(self);
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              on_step_error(self, err);
          });
}

void compute(self_ptr self, std::vector<domain::resolved_activity> rows) {
  auto& st = self->state;
  auto last = rows.back().activity_id;
  bool final_chunk = static_cast<std::int32_t>(rows.size()) < st.cfg.chunk_size;
  auto g = st.enter(phase::computing);
  self->request(st.peers.processor, st.cfg.request_timeout, compute_atom_v,
                std::move(rows))
      .then(
          [self, g, last,
           final_chunk](std::vector<domain::item_result>& results) {
            if (self->state.current(g))
              record(self, std::move(results), last, final_chunk);
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              on_step_error(self, err);
          });
}

void resolve(self_ptr self) {
  auto& st = self->state;
  auto g = st.enter(phase::resolving);
  self->request(st.peers.store, st.cfg.request_timeout, resolve_atom_v,
                st.lease(), st.owner, st.cursor, st.cfg.chunk_size)
      .then(
          [self, g](std::vector<domain::resolved_activity>& rows) {
            if (!self->state.current(g))
              return;
            if (rows.empty())
              finish(self, finish_kind::done, {});
            else
              compute(self, std::move(rows));
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              on_step_error(self, err);
          });
}

/// Decides the next step of the batch. Between steps is where lease loss,
/// cancel and drain take effect.
void proceed(self_ptr self) {
  auto& st = self->state;
  if (!st.job)
    return;
  if (st.lease_lost) {
    done(self);
    return;
  }
  if (st.finishing) {
    finish(self, *st.finishing, st.finish_error);
    return;
  }
  if (st.cancel_requested) {
    finish(self, finish_kind::cancelled, {});
    return;
  }
  if (st.draining) {
    release(self);
    return;
  }
  resolve(self);
}

// -- bundles ---------------------------------------------------------------
//
// A bundle is a set of small batches (each with at most a chunk of pending
// items) claimed together when the queue is long. They are processed at
// once: one resolve for all their items, one processor call, one
// transaction that records every item and ends every batch. Each batch
// keeps its own lease and fence: one that is lost, or cancelled, while the
// bundle is in flight is simply left out of the bundle's writes.

void bundle_proceed(self_ptr self);

/// The bundle is over for this worker: untrack every lease, tell the
/// poller - with `solo`, that the batches were given back and should each
/// run alone when claimed again.
void bundle_done(self_ptr self, bool solo = false) {
  auto& st = self->state;
  if (st.bundle.empty())
    return;
  auto first = st.bundle.front().job.batch_id;
  std::vector<std::string> ids;
  for (const auto& m : st.bundle) {
    caf::anon_send(st.peers.renewer, untrack_atom_v,
                   lease_ref{m.job.batch_id, m.job.token});
    ids.push_back(m.job.batch_id);
  }
  st.bundle.clear();
  st.bundle_closing = 0;
  st.enter(phase::idle);
  if (auto p = caf::actor_cast<poller_actor>(st.peers.poller)) {
    if (solo)
      caf::anon_send(p, idle_atom_v, self->address(), std::move(ids));
    else
      caf::anon_send(p, idle_atom_v, self->address(), first);
  }
}

/// Sends `close(lease)` for every member still in the bundle and ends the
/// bundle when every reply (or error) is in.
template <class Close>
void bundle_close_each(self_ptr self, Close close) {
  auto& st = self->state;
  auto g = st.enter(phase::closing);
  auto leases = st.bundle_leases();
  if (leases.empty()) {
    bundle_done(self);
    return;
  }
  st.bundle_closing = static_cast<std::int32_t>(leases.size());
  auto answered = [self, g] {
    auto& st = self->state;
    if (st.current(g) && --st.bundle_closing == 0)
      bundle_done(self);
  };
  for (auto& lease : leases)
    close(lease, answered);
}

/// Gives every lease of the bundle back (no attempt counted); `solo`: and
/// asks the poller to run each batch alone next time.
void bundle_release(self_ptr self, bool solo = false) {
  std::vector<lease_ref> leases = self->state.bundle_leases();
  auto g = self->state.enter(phase::closing);
  self->request(self->state.peers.store, self->state.cfg.request_timeout,
                release_atom_v, leases)
      .then(
          [self, g, solo](const std::vector<std::string>&) {
            if (self->state.current(g))
              bundle_done(self, solo);
          },
          [self, g, solo](caf::error&) {
            if (self->state.current(g))
              bundle_done(self, solo);
          });
}

void bundle_step_error(self_ptr self, const caf::error& err) {
  auto& st = self->state;
  auto code = engine_code(err);
  if (is_transient(code)) {
    ++st.transient_errors;
    if (st.transient_errors > st.bundle_max_retries()) {
      auto delay = st.backoff();
      bundle_close_each(self, [self, delay](lease_ref lease, auto answered) {
        self->request(self->state.peers.store, self->state.cfg.request_timeout,
                      defer_atom_v, lease, delay,
                      std::string("database unavailable"))
            .then([answered](bool) { answered(); },
                  [answered](caf::error&) { answered(); });
      });
      return;
    }
    st.enter(phase::backoff);
    self->delayed_send(self, st.backoff(), chunk_atom_v);
    return;
  }
  // Which batch caused it is unknown: rather than fail them all, give
  // them back to run alone, where an error fails only its own batch.
  log::error("bundle failed, its batches will run alone",
             {{"batches", std::to_string(st.bundle.size())},
              {"error", to_string(code)}});
  bundle_release(self, true);
}

/// Records every member's results and ends every member, in one
/// transaction.
void bundle_record(self_ptr self, std::vector<std::string> batch_ids,
                   std::vector<domain::item_result> results) {
  auto& st = self->state;
  std::vector<persistence::batch_write> writes;
  std::unordered_map<std::string, std::size_t> index;
  for (const auto& m : st.bundle) {
    if (m.gone)
      continue;
    persistence::batch_write w;
    w.lease = {m.job.batch_id, m.job.token};
    w.finish = m.cancel ? finish_kind::cancelled : finish_kind::done;
    if (!m.cancel)
      index[m.job.batch_id] = writes.size();
    writes.push_back(std::move(w));
  }
  for (std::size_t i = 0; i < results.size() && i < batch_ids.size(); ++i) {
    auto it = index.find(batch_ids[i]);
    if (it == index.end())
      continue; // left the bundle meanwhile
    auto& r = results[i];
    writes[it->second].results.push_back(
        {std::move(r.activity_id), r.succeeded, r.scope,
         std::move(r.emissions_kg_co2e), std::move(r.factor_id),
         std::move(r.error), r.activity_version});
  }
  if (writes.empty()) {
    bundle_done(self);
    return;
  }
  auto g = st.enter(phase::recording);
  self->request(st.peers.store, st.cfg.request_timeout, record_atom_v,
                std::move(writes))
      .then(
          [self, g](std::vector<persistence::record_outcome>& outcomes) {
            auto& st = self->state;
            if (!st.current(g))
              return;
            for (auto& out : outcomes) {
              if (!out.held) {
                log::warn("lease lost, left out of the bundle",
                          {{"batch_id", out.batch_id}});
                continue;
              }
              if (out.succeeded + out.failed > 0)
                caf::anon_send(st.peers.aggregator, delta_atom_v,
                               progress_delta{out.batch_id, out.succeeded,
                                              out.failed,
                                              out.emissions_kg_co2e});
              if (out.finished)
                caf::anon_send(st.peers.aggregator, done_atom_v, *out.finished);
            }
            bundle_done(self);
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              bundle_step_error(self, err);
          });
}

void bundle_compute(self_ptr self, bundle_rows rows) {
  auto& st = self->state;
  if (rows.rows.empty()) {
    // Nothing pending (a taken-over batch whose items were all recorded):
    // the record only ends the batches.
    bundle_record(self, {}, {});
    return;
  }
  auto g = st.enter(phase::computing);
  auto ids =
      std::make_shared<std::vector<std::string>>(std::move(rows.batch_ids));
  self->request(st.peers.processor, st.cfg.request_timeout, compute_atom_v,
                std::move(rows.rows))
      .then(
          [self, g, ids](std::vector<domain::item_result>& results) {
            if (self->state.current(g))
              bundle_record(self, std::move(*ids), std::move(results));
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              bundle_step_error(self, err);
          });
}

void bundle_resolve(self_ptr self) {
  auto& st = self->state;
  auto g = st.enter(phase::resolving);
  self->request(st.peers.store, st.cfg.request_timeout, resolve_atom_v,
                st.bundle_leases(), st.cfg.chunk_size)
      .then(
          [self, g](bundle_rows& rows) {
            if (self->state.current(g))
              bundle_compute(self, std::move(rows));
          },
          [self, g](caf::error& err) {
            if (self->state.current(g))
              bundle_step_error(self, err);
          });
}

void bundle_proceed(self_ptr self) {
  auto& st = self->state;
  if (st.bundle_leases().empty()) {
    bundle_done(self);
    return;
  }
  if (st.draining) {
    bundle_release(self);
    return;
  }
  bundle_resolve(self);
}

/// A member asked to cancel: it ends now, on its own (cancelled, results
/// recorded so far kept - none, for a bundle's batch), and leaves the
/// bundle, whose other batches go on.
void bundle_cancel(self_ptr self, member& m) {
  auto& st = self->state;
  m.gone = true;
  lease_ref lease{m.job.batch_id, m.job.token};
  self->request(st.peers.store, st.cfg.request_timeout, finish_atom_v, lease,
                static_cast<std::int32_t>(finish_kind::cancelled),
                std::string())
      .then(
          [self](const domain::batch& b) {
            caf::anon_send(self->state.peers.aggregator, done_atom_v, b);
          },
          [self, lease](caf::error& err) {
            // Lease gone: whoever holds it now ends it cancelled (the
            // claim and every finish honour cancel_requested). Any other
            // error: back into the bundle, whose next record ends it.
            if (engine_code(err) == engine_errc::lease_lost)
              return;
            if (auto* m = self->state.find_member(lease.batch_id);
                m && m->job.token == lease.token) {
              m->gone = false;
              m->cancel = true;
            }
          });
}

worker_actor::behavior_type worker(self_ptr self, worker_config cfg,
                                   worker_peers peers) {
  self->state.cfg = cfg;
  self->state.peers = std::move(peers);
  return {
      [self](run_atom, std::vector<claimed_batch>& jobs) {
        auto& st = self->state;
        if (st.busy() || jobs.empty()) {
          // Never happens by design (the poller hands work to idle workers
          // only): give the leases back rather than run two things at once.
          std::vector<lease_ref> leases;
          for (const auto& j : jobs)
            leases.push_back({j.batch_id, j.token});
          self->request(st.peers.store, st.cfg.request_timeout, release_atom_v,
                        leases)
              .then([](const std::vector<std::string>&) {}, [](caf::error&) {});
          return;
        }
        st.bundle.clear();
        for (auto& j : jobs) {
          caf::anon_send(st.peers.aggregator, start_atom_v, j.batch_id,
                         j.total_activities);
          st.bundle.push_back({std::move(j), false});
        }
        st.transient_errors = 0;
        st.bundle_closing = 0;
        bundle_proceed(self);
      },
      [self](run_atom, const claimed_batch& job) {
        auto& st = self->state;
        if (st.busy() || !job.started) {
          // Never happens by design: the poller hands one batch per idle
          // worker, claimed straight into processing (claim_mode::start).
          // Give it back rather than run two at once or a batch whose fence
          // would refuse every chunk.
          log::error(st.job ? "worker got a second batch"
                            : "worker got a batch not claimed to start",
                     {{"batch_id", job.batch_id}});
          std::vector<lease_ref> leases{{job.batch_id, job.token}};
          self->request(st.peers.store, st.cfg.request_timeout, release_atom_v,
                        leases)
              .then([](const std::vector<std::string>&) {}, [](caf::error&) {});
          return;
        }
        st.job = job;
        st.owner = job.owner;
        st.cursor.clear();
        st.transient_errors = 0;
        st.cancel_requested = false;
        st.lease_lost = false;
        st.finishing.reset();
        caf::anon_send(st.peers.aggregator, start_atom_v, job.batch_id,
                       job.total_activities);
        proceed(self);
      },
      [self](chunk_atom) {
        // Only the end of a backoff; a stale one (from an abandoned step) is
        // ignored unless we happen to wait again, which merely retries early.
        if (self->state.step != phase::backoff)
          return;
        if (self->state.job)
          proceed(self);
        else if (!self->state.bundle.empty())
          bundle_proceed(self);
      },
      [self](lost_atom, const std::string& id) {
        auto& st = self->state;
        if (auto* m = st.find_member(id)) {
          // Left out of the bundle's writes (the fence would refuse them).
          if (!m->gone)
            log::warn("lease lost, leaving the bundle", {{"batch_id", id}});
          m->gone = true;
          if (st.bundle_leases().empty() && st.step != phase::recording &&
              st.step != phase::closing)
            bundle_done(self);
          return;
        }
        if (!st.job || st.job->batch_id != id)
          return;
        // Nothing we could still write would be accepted (the fence refuses
        // it): stop at once, whatever is in flight - except a final write,
        // whose answer comes soon and may tell the aggregator the batch ended
        // (a renew racing a successful finish also reports `lost`).
        st.lease_lost = true;
        log::warn("lease lost, stopping", {{"batch_id", id}});
        if (st.step != phase::closing)
          done(self);
      },
      [self](cancel_atom, const std::string& id) {
        auto& st = self->state;
        if (auto* m = st.find_member(id)) {
          // A record in flight ends it cancelled by itself (the finish
          // honours cancel_requested) - or, if it fails, the next one
          // does; otherwise end it now, alone.
          if (m->gone)
            return;
          if (st.step == phase::recording || st.step == phase::closing)
            m->cancel = true;
          else
            bundle_cancel(self, *m);
          return;
        }
        if (!st.job || st.job->batch_id != id || st.cancel_requested)
          return;
        st.cancel_requested = true;
        // A chunk in the processor (which may be slow, and is not ours) or a
        // backoff must not delay the stop: abandon it, end the batch now.
        // Store steps in flight are short (statement timeout) and finish
        // their write first.
        if (st.step == phase::computing || st.step == phase::resolving ||
            st.step == phase::backoff)
          proceed(self);
      },
      [self](drain_atom) {
        auto& st = self->state;
        st.draining = true;
        // Finish the chunk in flight; but a backoff may last long.
        if (st.step != phase::backoff)
          return;
        if (st.job)
          proceed(self);
        else if (!st.bundle.empty())
          bundle_proceed(self);
      },
  };
}

} // namespace

worker_actor spawn_worker(caf::actor_system& sys, worker_config cfg,
                          worker_peers peers) {
  return sys.spawn(worker, cfg, std::move(peers));
}

} // namespace ogf
