#include "actors/progress_aggregator.hpp"

#include <deque>
#include <map>
#include <unordered_map>

#include <caf/all.hpp>

#include "domain/calculator.hpp"

namespace ogf {

namespace {

using clock_type = std::chrono::steady_clock;

/// What the aggregator knows about one batch in flight here.
struct live_batch {
  std::int64_t total = 0;
  std::int64_t succeeded = 0; ///< done in this run on this node
  std::int64_t failed = 0;
  /// (time, items done so far) samples inside the rate window.
  std::deque<std::pair<clock_type::time_point, std::int64_t>> samples;
  clock_type::time_point last_push{};
  bool push_scheduled = false;
  /// The batch's tenant, learnt when the first subscriber came (tenant
  /// checked then); store reads for pushes are scoped by it.
  domain::tenant owner;
};

struct aggregator_state {
  aggregator_config cfg;
  store_actor store;
  std::unordered_map<std::string, live_batch> live;
  std::multimap<std::string, progress_listener_actor> subscribers;
  static inline const char* name = "ogf.aggregator";

  /// Items per second over the window; 0 without two samples.
  double rate(const live_batch& b) const {
    if (b.samples.size() < 2)
      return 0;
    auto dt = std::chrono::duration<double>(b.samples.back().first
                                            - b.samples.front().first)
                .count();
    if (dt <= 0)
      return 0;
    return static_cast<double>(b.samples.back().second
                               - b.samples.front().second)
           / dt;
  }
};

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

aggregator_actor::behavior_type
aggregator(aggregator_actor::stateful_pointer<aggregator_state> self,
           store_actor store, aggregator_config cfg) {
  self->state.cfg = cfg;
  self->state.store = std::move(store);
  return {
    [self](start_atom, const std::string& id, std::int64_t total) {
      auto& b = self->state.live[id];
      b.total = total;
      b.samples.clear();
      b.samples.emplace_back(clock_type::now(), 0);
    },
    [self](delta_atom, const progress_delta& d) {
      auto& st = self->state;
      auto& b = st.live[d.batch_id];
      b.succeeded += d.succeeded;
      b.failed += d.failed;
      auto now = clock_type::now();
      b.samples.emplace_back(now, b.succeeded + b.failed);
      while (b.samples.size() > 2
             && now - b.samples.front().first > st.cfg.rate_window)
        b.samples.pop_front();
      if (st.subscribers.count(d.batch_id) == 0 || b.push_scheduled)
        return;
      auto since = now - b.last_push;
      auto wait = since >= st.cfg.push_interval
                    ? caf::timespan{0}
                    : std::chrono::duration_cast<caf::timespan>(
                      st.cfg.push_interval - since);
      b.push_scheduled = true;
      self->delayed_send(self, wait, flush_atom_v, d.batch_id);
    },
    [self](flush_atom, const std::string& id) {
      auto& st = self->state;
      auto it = st.live.find(id);
      if (it == st.live.end())
        return;
      it->second.push_scheduled = false;
      it->second.last_push = clock_type::now();
      if (st.subscribers.count(id) == 0)
        return;
      double rate = st.rate(it->second);
      auto range = st.subscribers.equal_range(id);
      std::vector<progress_listener_actor> targets;
      for (auto i = range.first; i != range.second; ++i)
        targets.push_back(i->second);
      self->request(st.store, std::chrono::seconds(5), get_atom_v,
                    it->second.owner, id)
        .then(
          [targets, rate](const domain::batch& b) {
            auto p = make_progress(b, rate);
            for (const auto& t : targets)
              caf::anon_send(t, progress_atom_v, p);
          },
          [](caf::error&) {});
    },
    [self](done_atom, const domain::batch& b) {
      auto& st = self->state;
      auto range = st.subscribers.equal_range(b.id);
      double rate = 0;
      if (auto it = st.live.find(b.id); it != st.live.end())
        rate = st.rate(it->second);
      for (auto i = range.first; i != range.second; ++i) {
        caf::anon_send(i->second, progress_atom_v, make_progress(b, rate));
        caf::anon_send(i->second, done_atom_v, b);
      }
      st.subscribers.erase(b.id);
      st.live.erase(b.id);
    },
    [self](progress_atom, const domain::tenant& t, const std::string& id)
      -> caf::result<domain::batch_progress> {
      auto rp = self->make_response_promise<domain::batch_progress>();
      self->request(self->state.store, std::chrono::seconds(10), get_atom_v,
                    t, id)
        .then(
          [self, rp](const domain::batch& b) mutable {
            double rate = 0;
            auto& live = self->state.live;
            if (auto it = live.find(b.id); it != live.end())
              rate = self->state.rate(it->second);
            rp.deliver(make_progress(b, rate));
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
            if (domain::is_terminal(b.status)) {
              caf::anon_send(listener, progress_atom_v, make_progress(b, 0));
              caf::anon_send(listener, done_atom_v, b);
            } else {
              self->state.subscribers.emplace(b.id, listener);
              self->state.live[b.id].owner = b.owner;
              self->send(self, flush_atom_v, b.id);
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
        if (i->second == listener) {
          subs.erase(i);
          break;
        }
      }
    },
    [self](stats_atom) {
      return static_cast<std::int32_t>(self->state.subscribers.size());
    },
  };
}

} // namespace

aggregator_actor spawn_aggregator(caf::actor_system& sys, store_actor store,
                                  aggregator_config cfg) {
  return sys.spawn(aggregator, std::move(store), cfg);
}

} // namespace ogf
