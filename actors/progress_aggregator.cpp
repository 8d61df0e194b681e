#include "actors/progress_aggregator.hpp"

#include <deque>
#include <map>
#include <optional>
#include <unordered_map>

#include <caf/all.hpp>

#include "domain/calculator.hpp"
#include "domain/throughput_window.hpp"

namespace ogf {

namespace {

using clock_type = std::chrono::steady_clock;

/// Milliseconds of the monotonic clock, for the throughput window.
std::int64_t monotonic_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             clock_type::now().time_since_epoch())
      .count();
}

/// A subscriber of one batch.
struct subscriber {
  progress_listener_actor listener;
  bool fresh = true; ///< has heard nothing yet
};

/// The stored state last pushed to a batch's subscribers.
struct pushed_state {
  domain::batch_status status;
  std::int64_t processed;
  domain::timestamp_us updated_at;
  bool operator!=(const pushed_state& o) const {
    return status != o.status || processed != o.processed ||
           updated_at != o.updated_at;
  }
};

/// What the aggregator knows about one batch worked on here or subscribed
/// to here.
struct live_batch {
  std::int64_t total = 0;
  std::int64_t succeeded = 0; ///< done in this run on this node
  std::int64_t failed = 0;
  /// (time, items done so far) samples inside the rate window.
  std::deque<std::pair<clock_type::time_point, std::int64_t>> samples;
  clock_type::time_point last_seen = clock_type::now();
  // Pushes, only while there are subscribers:
  clock_type::time_point last_push{};
  /// When the pending flush message is due; max() when none is pending.
  /// Flush messages due at another time are stale and ignored.
  clock_type::time_point next_flush = clock_type::time_point::max();
  bool fetch_in_flight = false;
  std::optional<pushed_state> pushed;
  /// The batch's tenant, learnt when the first subscriber came (tenant
  /// checked then); store reads for pushes are scoped by it.
  domain::tenant owner;
};

/// A batch without subscribers that has not been heard of for this long
/// was released or lost here, never to be `done` here: forget it.
constexpr auto forget_after = std::chrono::minutes(5);

struct aggregator_state {
  aggregator_config cfg;
  store_actor store;
  std::unordered_map<std::string, live_batch> live;
  std::multimap<std::string, subscriber> subscribers;
  /// This node's finished batches by status and recorded activities.
  engine_stats counters;
  /// Activities recorded here per 10 s, for the dashboard's node view.
  domain::throughput_window recent;
  static inline const char* name = "ogf.aggregator";

  /// Items per second over the window; 0 without two samples.
  double rate(const live_batch& b) const {
    if (b.samples.size() < 2)
      return 0;
    auto dt = std::chrono::duration<double>(b.samples.back().first -
                                            b.samples.front().first)
                  .count();
    if (dt <= 0)
      return 0;
    return static_cast<double>(b.samples.back().second -
                               b.samples.front().second) /
           dt;
  }

  double rate_of(const std::string& id) const {
    auto it = live.find(id);
    return it == live.end() ? 0 : rate(it->second);
  }
};

using self_ptr = aggregator_actor::stateful_pointer<aggregator_state>;

/// The progress object from a stored batch plus live rate/ETA.
domain::batch_progress make_progress(const domain::batch& b, double rate) {
  domain::batch_progress p;
  p.batch_id = b.id;
  p.status = b.status;
  p.total = b.total_activities;
  p.processed = b.processed_activities;
  p.succeeded = b.succeeded_activities;
  p.failed = b.failed_activities;
  p.emissions_kg_co2e = b.total_emissions_kg_co2e;
  p.throughput_per_second = rate;
  auto remaining = b.total_activities - b.processed_activities;
  if (remaining == 0)
    p.eta_seconds = 0.0;
  else if (rate > 0)
    p.eta_seconds = static_cast<double>(remaining) / rate;
  p.started_at = b.started_at;
  p.updated_at = b.updated_at;
  return p;
}

/// The batch ended: final progress and `done` to every subscriber, once.
void announce_done(self_ptr self, const domain::batch& b) {
  auto& st = self->state;
  auto p = make_progress(b, st.rate_of(b.id));
  auto range = st.subscribers.equal_range(b.id);
  for (auto i = range.first; i != range.second; ++i) {
    caf::anon_send(i->second.listener, progress_atom_v, p);
    caf::anon_send(i->second.listener, done_atom_v, b);
  }
  st.subscribers.erase(b.id);
  st.live.erase(b.id);
}

/// Asks for a flush of `id` no earlier than `at`, and never sooner than
/// push_interval after the last push (CONTRACT: at most 4 a second).
void schedule_flush(self_ptr self, const std::string& id,
                    clock_type::time_point at) {
  auto& st = self->state;
  auto& b = st.live[id];
  at = std::max(at, b.last_push + st.cfg.push_interval);
  if (b.next_flush <= at)
    return; // one is due sooner, and will schedule the next
  b.next_flush = at;
  auto delay = std::max(at - clock_type::now(), clock_type::duration::zero());
  self->delayed_send(self, std::chrono::duration_cast<caf::timespan>(delay),
                     flush_atom_v, id);
}

/// Pushes the stored state of a batch to its subscribers: to all when it
/// changed since the last push, else only to those that heard nothing yet.
void on_fetched(self_ptr self, const domain::batch& b) {
  auto& st = self->state;
  if (auto it = st.live.find(b.id); it != st.live.end())
    it->second.fetch_in_flight = false;
  // Subscribers as they are now: a `done` that came meanwhile removed them,
  // and nothing may follow `done`.
  if (st.subscribers.count(b.id) == 0)
    return;
  if (domain::is_terminal(b.status)) {
    announce_done(self, b); // e.g. processed by another node
    return;
  }
  auto& live = st.live[b.id];
  pushed_state now_state{b.status, b.processed_activities, b.updated_at};
  bool changed = !live.pushed || *live.pushed != now_state;
  auto p = make_progress(b, st.rate(live));
  bool sent = false;
  auto range = st.subscribers.equal_range(b.id);
  for (auto i = range.first; i != range.second; ++i) {
    if (changed || i->second.fresh) {
      caf::anon_send(i->second.listener, progress_atom_v, p);
      i->second.fresh = false;
      sent = true;
    }
  }
  auto now = clock_type::now();
  if (sent) {
    live.last_push = now;
    live.pushed = now_state;
  }
  schedule_flush(self, b.id, now + st.cfg.watch_interval);
}

aggregator_actor::behavior_type aggregator(self_ptr self, store_actor store,
                                           aggregator_config cfg) {
  self->state.cfg = cfg;
  self->state.store = std::move(store);
  // A listener that dies without unsubscribing (an SSE client gone) must
  // not keep its batch watched.
  self->set_down_handler([self](caf::down_msg& dm) {
    auto& subs = self->state.subscribers;
    for (auto i = subs.begin(); i != subs.end();) {
      if (i->second.listener.address() == dm.source)
        i = subs.erase(i);
      else
        ++i;
    }
  });
  return {
      [self](start_atom, const std::string& id, std::int64_t total) {
        auto& st = self->state;
        auto now = clock_type::now();
        for (auto i = st.live.begin(); i != st.live.end();) {
          if (now - i->second.last_seen > forget_after &&
              st.subscribers.count(i->first) == 0)
            i = st.live.erase(i);
          else
            ++i;
        }
        auto& b = st.live[id];
        b.total = total;
        b.last_seen = now;
        b.samples.clear();
        b.samples.emplace_back(now, 0);
      },
      [self](delta_atom, const progress_delta& d) {
        self->state.counters.activities_succeeded += d.succeeded;
        self->state.counters.activities_failed += d.failed;
        self->state.recent.add(monotonic_ms(), d.succeeded + d.failed);
        auto& st = self->state;
        auto& b = st.live[d.batch_id];
        b.succeeded += d.succeeded;
        b.failed += d.failed;
        auto now = clock_type::now();
        b.last_seen = now;
        b.samples.emplace_back(now, b.succeeded + b.failed);
        while (b.samples.size() > 2 &&
               now - b.samples.front().first > st.cfg.rate_window)
          b.samples.pop_front();
        if (st.subscribers.count(d.batch_id) > 0)
          schedule_flush(self, d.batch_id, now);
      },
      [self](flush_atom, const std::string& id) {
        auto& st = self->state;
        auto it = st.live.find(id);
        if (it == st.live.end())
          return;
        auto& b = it->second;
        auto now = clock_type::now();
        // A flush that was superseded by an earlier one (or whose batch
        // ended) is stale. The clock may fire a little early: allow 1 ms.
        if (b.next_flush == clock_type::time_point::max() ||
            now + std::chrono::milliseconds(1) < b.next_flush)
          return;
        b.next_flush = clock_type::time_point::max();
        if (st.subscribers.count(id) == 0)
          return; // nobody listens: stop watching
        if (b.fetch_in_flight) {
          schedule_flush(self, id, now + st.cfg.push_interval);
          return;
        }
        b.fetch_in_flight = true;
        self->request(st.store, std::chrono::seconds(5), get_atom_v, b.owner,
                      id)
            .then(
                [self](const domain::batch& batch) { on_fetched(self, batch); },
                [self, id](caf::error&) {
                  auto& st = self->state;
                  auto it = st.live.find(id);
                  if (it == st.live.end())
                    return;
                  it->second.fetch_in_flight = false;
                  if (st.subscribers.count(id) > 0)
                    schedule_flush(self, id,
                                   clock_type::now() + st.cfg.watch_interval);
                });
      },
      [self](done_atom, const domain::batch& b) {
        // Sent by this node's workers only (batches finished elsewhere reach
        // announce_done through the watch), so these counts are this node's.
        if (self->state.cfg.on_done)
          self->state.cfg.on_done(b);
        auto& c = self->state.counters;
        switch (b.status) {
        case domain::batch_status::completed:
          ++c.batches_completed;
          break;
        case domain::batch_status::failed:
          ++c.batches_failed;
          break;
        case domain::batch_status::cancelled:
          ++c.batches_cancelled;
          break;
        default:
          break;
        }
        announce_done(self, b);
      },
      [self](progress_atom, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::batch_progress> {
        auto rp = self->make_response_promise<domain::batch_progress>();
        self->request(self->state.store, std::chrono::seconds(10), get_atom_v,
                      t, id)
            .then(
                [self, rp](const domain::batch& b) mutable {
                  rp.deliver(make_progress(b, self->state.rate_of(b.id)));
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](subscribe_atom, const domain::tenant& t, const std::string& id,
             progress_listener_actor listener) -> caf::result<bool> {
        auto rp = self->make_response_promise<bool>();
        self->request(self->state.store, std::chrono::seconds(10), get_atom_v,
                      t, id)
            .then(
                [self, rp, listener](const domain::batch& b) mutable {
                  auto& st = self->state;
                  if (domain::is_terminal(b.status)) {
                    caf::anon_send(listener, progress_atom_v,
                                   make_progress(b, 0));
                    caf::anon_send(listener, done_atom_v, b);
                  } else {
                    self->monitor(listener);
                    st.subscribers.emplace(b.id, subscriber{listener, true});
                    st.live[b.id].owner = b.owner;
                    // Its first progress comes with the next push, at once when
                    // none was pushed lately (throttled like every push).
                    schedule_flush(self, b.id, clock_type::now());
                  }
                  rp.deliver(true);
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](unsub_atom, const std::string& id,
             const progress_listener_actor& listener) {
        auto& subs = self->state.subscribers;
        auto range = subs.equal_range(id);
        for (auto i = range.first; i != range.second; ++i) {
          if (i->second.listener == listener) {
            subs.erase(i);
            break;
          }
        }
      },
      [self](stats_atom) {
        auto s = self->state.counters;
        s.recent_activities = self->state.recent.snapshot(monotonic_ms());
        s.subscribers =
            static_cast<std::int32_t>(self->state.subscribers.size());
        return s;
      },
  };
}

} // namespace

aggregator_actor spawn_aggregator(caf::actor_system& sys, store_actor store,
                                  aggregator_config cfg) {
  return sys.spawn(aggregator, std::move(store), cfg);
}

} // namespace ogf
