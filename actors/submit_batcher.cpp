#include "actors/submit_batcher.hpp"

#include <deque>

#include <caf/all.hpp>

namespace ogf {

namespace {

using persistence::submit_outcome;
using persistence::submit_request;
using persistence::submit_result;

struct waiting_submit {
  submit_request request;
  caf::typed_response_promise<submit_outcome> promise;
};

struct batcher_state {
  batcher_config cfg;
  std::vector<store_actor> stores;
  std::size_t next_store = 0;
  std::deque<waiting_submit> queue;
  std::int32_t in_flight = 0;
  static inline const char* name = "ogf.submit_batcher";

  const store_actor& store() { return stores[next_store++ % stores.size()]; }
};

using self_ptr = submit_batcher_actor::stateful_pointer<batcher_state>;

void flush(self_ptr self) {
  auto& st = self->state;
  while (st.in_flight < st.cfg.max_in_flight && !st.queue.empty()) {
    std::vector<submit_request> group;
    std::vector<caf::typed_response_promise<submit_outcome>> promises;
    std::int64_t items = 0;
    while (!st.queue.empty() && static_cast<std::int32_t>(group.size()) <
                                    st.cfg.max_group_requests) {
      if (st.queue.front().request.until.passed()) {
        // Its caller gave up waiting: never start it (the store would
        // refuse it too, but only after a round trip).
        st.queue.front().promise.deliver(make_engine_error(
            engine_errc::unavailable, persistence::deadline_passed_message));
        st.queue.pop_front();
        continue;
      }
      auto n = static_cast<std::int64_t>(
          st.queue.front().request.activity_ids.size());
      if (!group.empty() && items + n > st.cfg.max_group_items)
        break;
      items += n;
      group.push_back(std::move(st.queue.front().request));
      promises.push_back(std::move(st.queue.front().promise));
      st.queue.pop_front();
    }
    if (group.empty())
      continue;
    ++st.in_flight;
    self->request(st.store(), st.cfg.timeout, submit_atom_v, std::move(group))
        .then(
            [self, promises](std::vector<submit_result>& results) mutable {
              if (auto& c = self->state.cfg.counters) {
                std::int64_t committed = 0;
                for (const auto& r : results)
                  committed += r.outcome ? 1 : 0;
                c->submits += committed;
                c->transactions += committed > 0 ? 1 : 0;
              }
              for (std::size_t i = 0; i < promises.size(); ++i) {
                if (i < results.size() && results[i].outcome)
                  promises[i].deliver(std::move(*results[i].outcome));
                else if (i < results.size())
                  promises[i].deliver(
                      make_engine_error(results[i].error, results[i].message));
                else
                  promises[i].deliver(make_engine_error(engine_errc::internal,
                                                        "result missing"));
              }
              --self->state.in_flight;
              flush(self);
            },
            [self, promises](caf::error& err) mutable {
              for (auto& p : promises)
                p.deliver(err);
              --self->state.in_flight;
              flush(self);
            });
  }
}

submit_batcher_actor::behavior_type
submit_batcher(self_ptr self, std::vector<store_actor> stores,
               batcher_config cfg) {
  self->state.cfg = cfg;
  self->state.stores = std::move(stores);
  return {
      [self](submit_atom, submit_request& req) -> caf::result<submit_outcome> {
        auto& st = self->state;
        if (req.idempotency_key)
          return self->delegate(st.store(), submit_atom_v, std::move(req));
        auto rp = self->make_response_promise<submit_outcome>();
        st.queue.push_back({std::move(req), rp});
        flush(self);
        return rp;
      },
  };
}

} // namespace

submit_batcher_actor spawn_submit_batcher(caf::actor_system& sys,
                                          std::vector<store_actor> stores,
                                          batcher_config cfg) {
  return sys.spawn(submit_batcher, std::move(stores), cfg);
}

} // namespace ogf
