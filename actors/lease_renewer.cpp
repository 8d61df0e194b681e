#include "actors/lease_renewer.hpp"

#include <unordered_map>

#include <caf/all.hpp>

#include "common/log.hpp"

namespace ogf {

namespace {

struct tracked_lease {
  std::int64_t token = 0;
  caf::actor_addr worker;
};

struct renewer_state {
  renewer_config cfg;
  store_actor store;
  std::unordered_map<std::string, tracked_lease> leases;
  std::int64_t renewals = 0;
  std::int64_t lost = 0;
  bool renew_in_flight = false;
  static inline const char* name = "ogf.renewer";
};

void tell_worker(const caf::actor_addr& addr, lost_atom,
                 const std::string& id) {
  if (auto w = caf::actor_cast<worker_actor>(addr))
    caf::anon_send(w, lost_atom_v, id);
}

void tell_worker(const caf::actor_addr& addr, cancel_atom,
                 const std::string& id) {
  if (auto w = caf::actor_cast<worker_actor>(addr))
    caf::anon_send(w, cancel_atom_v, id);
}

renewer_actor::behavior_type
renewer(renewer_actor::stateful_pointer<renewer_state> self, store_actor store,
        renewer_config cfg) {
  self->state.cfg = std::move(cfg);
  self->state.store = std::move(store);
  self->send(self, tick_atom_v);
  return {
      [self](track_atom, const persistence::lease_ref& lease,
             const caf::actor_addr& worker) {
        self->state.leases[lease.batch_id] = {lease.token, worker};
      },
      [self](untrack_atom, const persistence::lease_ref& lease) {
        // Only that lease: the batch may have been claimed again by this
        // node (another worker, a newer token) after it was lost here.
        auto& leases = self->state.leases;
        if (auto it = leases.find(lease.batch_id);
            it != leases.end() && it->second.token == lease.token)
          leases.erase(it);
      },
      [self](tick_atom) {
        auto& st = self->state;
        self->delayed_send(self, st.cfg.lease_timeout / 3, tick_atom_v);
        self->request(st.store, std::chrono::seconds(10), heartbeat_atom_v,
                      st.cfg.host, st.cfg.pid, st.cfg.version)
            .then([](bool) {}, [](caf::error&) {});
        if (st.leases.empty() || st.renew_in_flight)
          return;
        std::vector<persistence::lease_ref> refs;
        for (const auto& [id, l] : st.leases)
          refs.push_back({id, l.token});
        st.renew_in_flight = true;
        self->request(st.store, st.cfg.lease_timeout / 3, renew_atom_v, refs,
                      st.cfg.lease_timeout)
            .then(
                [self, refs](const persistence::renew_outcome& out) {
                  auto& st = self->state;
                  st.renew_in_flight = false;
                  st.renewals +=
                      static_cast<std::int64_t>(refs.size() - out.lost.size());
                  for (const auto& id : out.lost) {
                    auto it = st.leases.find(id);
                    // Only if still the same lease (not re-tracked meanwhile).
                    if (it == st.leases.end())
                      continue;
                    bool same = false;
                    for (const auto& r : refs)
                      if (r.batch_id == id && r.token == it->second.token)
                        same = true;
                    if (!same)
                      continue;
                    ++st.lost;
                    log::warn("lease lost", {{"batch_id", id}});
                    tell_worker(it->second.worker, lost_atom_v, id);
                    st.leases.erase(it);
                  }
                  for (const auto& id : out.cancel_requested)
                    if (auto it = st.leases.find(id); it != st.leases.end())
                      tell_worker(it->second.worker, cancel_atom_v, id);
                },
                [self](caf::error&) {
                  // Database unreachable: keep trying every tick. A lease that
                  // expires meanwhile is reported lost by the next renew, and
                  // the fence refuses the worker's writes anyway.
                  self->state.renew_in_flight = false;
                });
      },
      [self](stats_atom) {
        return caf::make_result(self->state.renewals, self->state.lost);
      },
  };
}

} // namespace

renewer_actor spawn_renewer(caf::actor_system& sys, store_actor store,
                            renewer_config cfg) {
  return sys.spawn(renewer, std::move(store), std::move(cfg));
}

} // namespace ogf
