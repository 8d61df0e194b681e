#include "actors/poller.hpp"

#include <deque>
#include <random>
#include <unordered_map>
#include <unordered_set>

#include <caf/all.hpp>

#include "common/log.hpp"

namespace ogf {

namespace {

struct poller_state {
  poller_config cfg;
  store_actor claim_store;
  std::vector<store_actor> worker_stores;
  processor_actor processor;
  aggregator_actor aggregator;
  renewer_actor renewer;
  std::deque<worker_actor> idle;
  /// Busy workers and the batch (with its lease) each holds.
  /// Busy workers and the batches (with their leases) each holds: one, or
  /// a bundle of small ones.
  std::unordered_map<caf::actor_addr, std::vector<persistence::claimed_batch>>
      busy;
  /// Batches that crashed a worker here, and how often. A batch that keeps
  /// crashing workers would otherwise be released and claimed again
  /// forever (a release counts no attempt).
  std::unordered_map<std::string, std::int32_t> crashes;
  /// Batches of a bundle that crashed its worker, or failed it with an
  /// error that is not transient: each runs alone when claimed here
  /// again, so that one bad batch cannot take its bundle's others down
  /// with it (alone, the crash count and the failure are its own).
  std::unordered_set<std::string> solo;
  std::unordered_map<caf::actor_addr, worker_actor> all;
  bool claim_in_flight = false;
  bool follow_up = false;
  /// When the wake-up for the earliest batch not due yet fires (a
  /// scheduled batch, or one waiting out a retry backoff); in the past
  /// when none is pending. At most one such timer is kept: a later answer
  /// replaces it only when it is earlier.
  std::chrono::steady_clock::time_point due_wake_at{};
  bool next_due_in_flight = false;
  /// A claim ended while next_due was in flight: its answer may predate a
  /// batch submitted since, so ask once more when it arrives.
  bool next_due_again = false;
  bool draining = false;
  /// Release requests not yet answered; a drain is over only when none is
  /// left (the engine may be killed right after).
  std::int32_t releases_in_flight = 0;
  std::vector<caf::typed_response_promise<bool>> drain_waiters;
  engine_stats stats;
  std::size_t next_store = 0;
  std::minstd_rand rng{std::random_device{}()};
  static inline const char* name = "ogf.poller";
};

using self_ptr = poller_actor::stateful_pointer<poller_state>;

/// Marks a batch to run alone when claimed here again. The set is
/// bounded (its batches may have been taken by other nodes): a bound, not
/// a rule.
void mark_solo(poller_state& st, const std::string& batch_id) {
  if (st.solo.size() >= 10000)
    st.solo.clear();
  st.solo.insert(batch_id);
}

/// A worker that is done goes back to the idle queue.
void back_to_idle(poller_state& st, const caf::actor_addr& worker) {
  if (auto it = st.all.find(worker); it != st.all.end())
    st.idle.push_back(it->second);
}

void spawn_one_worker(self_ptr self) {
  auto& st = self->state;
  worker_peers peers{
      st.worker_stores[st.next_store++ % st.worker_stores.size()], st.processor,
      st.aggregator, st.renewer, self->address()};
  auto w = spawn_worker(self->system(), st.cfg.worker, std::move(peers));
  // Linked: a crashed worker reaches our exit handler (restart), and our
  // own exit takes every worker with it.
  self->link_to(w);
  st.all.emplace(w.address(), w);
  st.idle.push_back(w);
}

/// A drain is over when no worker holds a batch, no claim can still bring
/// in a lease, and every release has been answered.
void maybe_finish_drain(self_ptr self) {
  auto& st = self->state;
  if (st.draining && st.busy.empty() && !st.claim_in_flight &&
      st.releases_in_flight == 0) {
    for (auto& rp : st.drain_waiters)
      rp.deliver(true);
    st.drain_waiters.clear();
  }
}

/// Gives leases back at once (crashed worker, claim during a drain).
void release_leases(self_ptr self, std::vector<persistence::lease_ref> refs) {
  auto& st = self->state;
  if (refs.empty())
    return;
  ++st.releases_in_flight;
  auto answered = [self] {
    --self->state.releases_in_flight;
    maybe_finish_drain(self);
  };
  self->request(st.claim_store, std::chrono::seconds(10), release_atom_v,
                std::move(refs))
      .then([answered](const std::vector<std::string>&) { answered(); },
            [self, answered](caf::error&) {
              ++self->state.stats.store_errors;
              answered();
            });
}

/// Ends a batch as failed under its lease (counted like a release, so a
/// drain waits for it).
void fail_batch(self_ptr self, persistence::lease_ref lease,
                std::string error) {
  auto& st = self->state;
  ++st.releases_in_flight;
  auto answered = [self] {
    --self->state.releases_in_flight;
    maybe_finish_drain(self);
  };
  self->request(st.claim_store, std::chrono::seconds(10), finish_atom_v,
                std::move(lease),
                static_cast<std::int32_t>(persistence::finish_kind::failed),
                std::move(error))
      .then(
          [self, answered](const domain::batch& b) {
            caf::anon_send(self->state.aggregator, done_atom_v, b);
            answered();
          },
          [self, answered](caf::error&) {
            ++self->state.stats.store_errors;
            answered();
          });
}

/// Shares claimed batches out among the idle workers: one batch per
/// worker while there are workers enough; otherwise each large batch (more
/// activities than a chunk) gets a worker of its own and the small ones are
/// dealt round robin into bundles over the remaining workers, at most
/// bundle_size each. The claim's budget (a chunk of activities per idle
/// worker) already bounds what came back, so every small batch finds a
/// bundle; only a claim with more large batches than workers (which the
/// budget makes rare) leaves something over, which goes to `unworked`
/// (released at once).
std::vector<std::vector<persistence::claimed_batch>>
pack(poller_state& st, std::vector<persistence::claimed_batch>& claimed,
     std::vector<persistence::lease_ref>& unworked) {
  std::vector<std::vector<persistence::claimed_batch>> out;
  auto workers = st.idle.size();
  if (claimed.size() <= workers) {
    for (auto& c : claimed)
      out.push_back({std::move(c)});
    return out;
  }
  const std::int64_t chunk = st.cfg.worker.chunk_size;
  std::vector<persistence::claimed_batch> small;
  for (auto& c : claimed) {
    if (c.total_activities <= chunk && st.solo.count(c.batch_id) == 0)
      small.push_back(std::move(c));
    else if (out.size() < workers)
      out.push_back({std::move(c)});
    else
      unworked.push_back({c.batch_id, c.token});
  }
  auto free = std::min(workers - out.size(), small.size());
  if (free == 0) {
    for (auto& c : small)
      unworked.push_back({c.batch_id, c.token});
    return out;
  }
  // No cap per bundle here: the claim asked for at most bundle_size per
  // idle worker, and its budget bounds the activities; a bundle a little
  // over either (when large batches took some workers) beats giving
  // claimed batches back.
  std::vector<std::vector<persistence::claimed_batch>> bundles(free);
  for (std::size_t i = 0; i < small.size(); ++i)
    bundles[i % free].push_back(std::move(small[i]));
  for (auto& b : bundles)
    out.push_back(std::move(b));
  return out;
}

/// After a claim that found less than it asked for: asks when the
/// earliest batch not due yet becomes due, and wakes up then rather than
/// at the next tick (the poll interval may be 30 s). A LISTEN wake-up or a
/// tick meanwhile claims as usual; the claim after this wake-up asks again.
void schedule_due_wake(self_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (st.next_due_in_flight) {
    st.next_due_again = true;
    return;
  }
  st.next_due_in_flight = true;
  st.next_due_again = false;
  self->request(st.claim_store, std::chrono::seconds(10), next_due_atom_v)
      .then(
          [self](std::int64_t ms) {
            auto& st = self->state;
            st.next_due_in_flight = false;
            if (ms >= 0 && !st.draining) {
              // +1 ms: the claim compares with its own now(), a little
              // later.
              auto delay = std::chrono::milliseconds{ms + 1};
              auto now = std::chrono::steady_clock::now();
              auto at = now + delay;
              // Unless an earlier or equal wake-up is already set.
              if (!(st.due_wake_at > now && st.due_wake_at <= at)) {
                st.due_wake_at = at;
                self->delayed_send(self, delay, wake_atom_v);
              }
            }
            if (st.next_due_again)
              schedule_due_wake(self);
          },
          [self](caf::error&) {
            // The next tick or claim asks again.
            self->state.next_due_in_flight = false;
            self->state.next_due_again = false;
            ++self->state.stats.store_errors;
          });
}

void try_claim(self_ptr self) {
  auto& st = self->state;
  if (st.draining)
    return;
  if (st.claim_in_flight) {
    st.follow_up = true;
    return;
  }
  auto idle = static_cast<std::int32_t>(st.idle.size());
  auto n = std::min<std::int32_t>(idle, st.cfg.max_batches_per_poll);
  if (n <= 0)
    return;
  // With bundles, ask for more than one batch per free worker, but take the
  // ones beyond a batch per worker only while their activities fit the free
  // workers' bundles (the store stops at the budget): a short queue gives a
  // batch per worker as before, a long queue of small batches fills
  // bundles, and large batches are never hoarded.
  std::int32_t guaranteed = n;
  std::int64_t budget = 0;
  if (st.cfg.bundle_size > 1) {
    budget = static_cast<std::int64_t>(idle) * st.cfg.worker.chunk_size;
    n = static_cast<std::int32_t>(std::min<std::int64_t>(
        static_cast<std::int64_t>(idle) * st.cfg.bundle_size, 10000));
  }
  st.claim_in_flight = true;
  st.follow_up = false;
  // Longer than the claim statement may take (statement timeout < lease/2):
  // a claim we stopped waiting for could still commit and hold leases no
  // worker knows about until they expire.
  auto timeout =
      std::max<caf::timespan>(std::chrono::seconds(10), st.cfg.lease_timeout);
  self->request(st.claim_store, timeout, claim_atom_v, n, st.cfg.lease_timeout,
                guaranteed, budget)
      .then(
          [self, n,
           guaranteed](std::vector<persistence::claimed_batch>& claimed) {
            auto& st = self->state;
            st.claim_in_flight = false;
            auto got = static_cast<std::int32_t>(claimed.size());
            std::vector<persistence::lease_ref> unworked;
            if (st.draining) {
              // A drain began while the claim was out: never hold a lease
              // unworked.
              for (auto& c : claimed)
                unworked.push_back({c.batch_id, c.token});
              claimed.clear();
            }
            for (auto& work : pack(st, claimed, unworked)) {
              auto w = st.idle.front();
              st.idle.pop_front();
              st.stats.batches_claimed +=
                  static_cast<std::int64_t>(work.size());
              for (const auto& c : work)
                caf::anon_send(st.renewer, track_atom_v,
                               persistence::lease_ref{c.batch_id, c.token},
                               w.address());
              st.busy[w.address()] = work;
              if (work.size() == 1)
                st.solo.erase(work.front().batch_id);
              if (work.size() == 1)
                self->send(w, run_atom_v, work.front());
              else
                self->send(w, run_atom_v, std::move(work));
            }
            release_leases(self, std::move(unworked));
            if (st.draining) {
              maybe_finish_drain(self);
              return;
            }
            // A full claim suggests more work is waiting; so does one that
            // stopped at its budget while workers are still free.
            if (got == n || st.follow_up ||
                (got >= guaranteed && !st.idle.empty()))
              try_claim(self);
            else
              schedule_due_wake(self);
          },
          [self](caf::error&) {
            auto& st = self->state;
            st.claim_in_flight = false;
            ++st.stats.store_errors;
            if (st.draining) {
              maybe_finish_drain(self);
              return;
            }
            // A wake-up that came in meanwhile would be lost until the next
            // tick (30 s by default): try again soon, once.
            if (st.follow_up)
              self->delayed_send(
                  self,
                  std::min<caf::timespan>(st.cfg.poll_interval,
                                          std::chrono::seconds(1)),
                  wake_atom_v);
          });
}

poller_actor::behavior_type
poller(self_ptr self, poller_config cfg, store_actor claim_store,
       std::vector<store_actor> worker_stores, processor_actor processor,
       aggregator_actor aggregator, renewer_actor renewer) {
  auto& st = self->state;
  st.cfg = cfg;
  st.claim_store = std::move(claim_store);
  st.worker_stores = std::move(worker_stores);
  st.processor = std::move(processor);
  st.aggregator = std::move(aggregator);
  st.renewer = std::move(renewer);
  for (int i = 0; i < cfg.workers; ++i)
    spawn_one_worker(self);
  self->set_exit_handler([self](caf::exit_msg& dm) {
    auto& st = self->state;
    auto it = st.all.find(dm.source);
    if (it == st.all.end()) {
      // Our supervisor stops us; never with `normal`, which our workers
      // (default exit handler) would ignore.
      self->quit(dm.reason ? dm.reason
                           : caf::make_error(caf::exit_reason::user_shutdown));
      return;
    }
    st.all.erase(it);
    st.idle.erase(std::remove_if(st.idle.begin(), st.idle.end(),
                                 [&](const worker_actor& w) {
                                   return w.address() == dm.source;
                                 }),
                  st.idle.end());
    if (auto b = st.busy.find(dm.source);
        b != st.busy.end() && b->second.size() > 1) {
      // A bundle: which batch crashed it is unknown. Each goes back and
      // runs alone next time here; no crash is counted against any.
      std::vector<persistence::lease_ref> back;
      for (const auto& job : b->second) {
        caf::anon_send(st.renewer, untrack_atom_v,
                       persistence::lease_ref{job.batch_id, job.token});
        mark_solo(st, job.batch_id);
        back.push_back({job.batch_id, job.token});
      }
      release_leases(self, std::move(back));
      st.busy.erase(b);
    } else if (b != st.busy.end()) {
      std::vector<persistence::lease_ref> back;
      for (const auto& job : b->second) {
        caf::anon_send(st.renewer, untrack_atom_v,
                       persistence::lease_ref{job.batch_id, job.token});
        persistence::lease_ref lease{job.batch_id, job.token};
        if (++st.crashes[job.batch_id] > job.max_retries) {
          // A poison batch: end it rather than crash workers forever.
          log::error("batch crashed workers too often, failing it",
                     {{"batch_id", job.batch_id}});
          st.crashes.erase(job.batch_id);
          fail_batch(self, lease, "worker crashed more than max_retries times");
        } else {
          // Give the batch back now rather than after lease expiry; it
          // crashed a worker, so it runs alone again when claimed here.
          back.push_back(lease);
          mark_solo(st, job.batch_id);
        }
      }
      release_leases(self, std::move(back));
      st.busy.erase(b);
    }
    if (st.draining) {
      maybe_finish_drain(self);
      return;
    }
    ++st.stats.worker_restarts;
    log::warn("worker crashed, restarting", {{"reason", to_string(dm.reason)}});
    spawn_one_worker(self);
    try_claim(self);
  });
  self->send(self, tick_atom_v);
  return {
      [self](tick_atom) {
        auto& st = self->state;
        if (st.draining)
          return;
        auto jitter = st.cfg.poll_jitter.count();
        std::uniform_int_distribution<long long> d(-jitter, jitter);
        auto next = st.cfg.poll_interval + caf::timespan{d(st.rng)};
        if (next < std::chrono::milliseconds(10))
          next = std::chrono::milliseconds(10);
        self->delayed_send(self, next, tick_atom_v);
        try_claim(self);
      },
      [self](wake_atom) { try_claim(self); },
      [self](idle_atom, const caf::actor_addr& worker,
             const std::vector<std::string>& solo) {
        // A bundle that failed with an error that is not transient gave
        // its batches back: each runs alone when claimed here again.
        auto& st = self->state;
        for (const auto& id : solo)
          mark_solo(st, id);
        if (auto b = st.busy.find(worker); b != st.busy.end()) {
          st.busy.erase(b);
          back_to_idle(st, worker);
        }
        maybe_finish_drain(self);
        try_claim(self);
      },
      [self](idle_atom, const caf::actor_addr& worker,
             const std::string& batch_id) {
        auto& st = self->state;
        st.crashes.erase(batch_id);
        if (auto b = st.busy.find(worker); b != st.busy.end()) {
          for (const auto& job : b->second)
            st.crashes.erase(job.batch_id);
          st.stats.batches_finished +=
              static_cast<std::int64_t>(b->second.size());
          st.busy.erase(b);
          back_to_idle(st, worker);
        }
        maybe_finish_drain(self);
        try_claim(self);
      },
      [self](cancel_atom, const std::string& batch_id) {
        for (const auto& [addr, jobs] : self->state.busy)
          for (const auto& job : jobs)
            if (job.batch_id == batch_id)
              if (auto it = self->state.all.find(addr);
                  it != self->state.all.end())
                self->send(it->second, cancel_atom_v, batch_id);
      },
      [self](drain_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.draining = true;
        for (const auto& [addr, jobs] : st.busy)
          if (auto it = st.all.find(addr); it != st.all.end())
            self->send(it->second, drain_atom_v);
        auto rp = self->make_response_promise<bool>();
        st.drain_waiters.push_back(rp);
        maybe_finish_drain(self);
        return rp;
      },
      [self](stats_atom) {
        auto s = self->state.stats;
        s.workers = static_cast<std::int32_t>(self->state.all.size());
        s.busy_workers = static_cast<std::int32_t>(self->state.busy.size());
        return s;
      },
  };
}

} // namespace

poller_actor spawn_poller(caf::actor_system& sys, poller_config cfg,
                          store_actor claim_store,
                          std::vector<store_actor> worker_stores,
                          processor_actor processor,
                          aggregator_actor aggregator, renewer_actor renewer) {
  return sys.spawn(poller, cfg, std::move(claim_store),
                   std::move(worker_stores), std::move(processor),
                   std::move(aggregator), std::move(renewer));
}

} // namespace ogf
