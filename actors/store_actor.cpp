#include "actors/store_actor.hpp"

#include <chrono>
#include <memory>

#include <caf/all.hpp>

#include "common/log.hpp"

namespace ogf {

namespace {

using namespace std::chrono;
using persistence::batch_store;

/// A resolved row as the processor takes it: the inputs, or the failure
/// the resolver already decided.
domain::resolved_activity to_resolved(persistence::resolved_row&& r) {
  domain::resolved_activity a;
  a.activity_id = std::move(r.activity_id);
  a.activity_version = r.activity_version;
  if (!r.found) {
    a.failure = "activity_not_found";
  } else if (!r.factor_id) {
    a.failure = r.any_factor ? "unit_mismatch" : "no_emission_factor";
  } else {
    a.quantity = std::move(r.quantity);
    a.unit = std::move(r.unit);
    a.factor_id = std::move(*r.factor_id);
    a.scope = r.scope.value_or(0);
    a.factor_unit = std::move(*r.factor_unit);
    a.kg_co2e_per_unit = std::move(*r.kg_co2e_per_unit);
  }
  return a;
}

struct store_state {
  persistence::store_config cfg;
  std::unique_ptr<batch_store> store;
  steady_clock::time_point next_connect_attempt{};
  milliseconds backoff{100};
  static inline const char* name = "ogf.store";

  /// A usable store: the current one, or a new connection (with backoff
  /// between failed attempts). False when the database is unreachable.
  bool ensure_store() {
    if (store && !store->usable()) {
      // Closed by the server while idle (a restart, a terminated backend):
      // replace it now, so that the request does not fail on it.
      log::info("database connection closed by the server, reconnecting");
      store.reset();
      next_connect_attempt = steady_clock::now();
    }
    if (store)
      return true;
    auto now = steady_clock::now();
    if (now < next_connect_attempt)
      return false;
    try {
      store = std::make_unique<batch_store>(cfg);
      backoff = milliseconds{100};
      return true;
    } catch (...) {
      next_connect_attempt = now + backoff;
      backoff = std::min(backoff * 2, milliseconds{5000});
      return false;
    }
  }

  /// Runs `f(store)`; every exception becomes a caf::error here, at the
  /// boundary, and a broken connection is dropped for a later reconnect.
  /// A connection found broken before anything was committed (the server
  /// ended it while this actor was deciding to use it) costs no failed
  /// request: `f` runs once more on a new connection.
  template <class F>
  auto guarded(F&& f)
      -> caf::result<decltype(f(std::declval<batch_store&>()))> {
    for (int attempt = 0;; ++attempt) {
      if (!ensure_store())
        return make_engine_error(engine_errc::unavailable,
                                 "database unavailable");
      try {
        return f(*store);
      } catch (...) {
        auto error = std::current_exception();
        std::string message;
        bool reconnect = false;
        auto code = classify_exception(error, message, reconnect);
        if (reconnect || !store->connected()) {
          store.reset();
          next_connect_attempt = steady_clock::now();
          if (attempt == 0 && broke_before_commit(error))
            continue;
        }
        if (code == engine_errc::internal)
          log::error("store error", {{"error", message}});
        return make_engine_error(code, message);
      }
    }
  }
};

store_actor::behavior_type
store_behavior(store_actor::stateful_pointer<store_state> self,
               persistence::store_config cfg) {
  self->state.cfg = std::move(cfg);
  auto& st = self->state;
  using namespace persistence;
  return {
      [&st](submit_atom, const submit_request& req) {
        return st.guarded([&](batch_store& s) { return s.submit(req); });
      },
      [&st](submit_atom, const std::vector<submit_request>& reqs) {
        return st.guarded([&](batch_store& s) { return s.submit_many(reqs); });
      },
      [&st](get_atom, const domain::tenant& t, const std::string& id) {
        return st.guarded([&](batch_store& s) { return s.get(t, id); });
      },
      [&st](list_atom, const domain::tenant& t, const domain::batch_filter& f) {
        return st.guarded([&](batch_store& s) { return s.list(t, f); });
      },
      [&st](items_atom, const domain::tenant& t, const std::string& id,
            const domain::item_filter& f) {
        return st.guarded([&](batch_store& s) { return s.items(t, id, f); });
      },
      [&st](counts_atom, const domain::tenant& t) {
        return st.guarded([&](batch_store& s) { return s.counts(t); });
      },
      [&st](emissions_atom, const domain::tenant& t, const std::string& id) {
        return st.guarded([&](batch_store& s) { return s.emissions(t, id); });
      },
      [&st](cancel_atom, const domain::tenant& t, const std::string& id,
            const deadline& until) {
        return st.guarded(
            [&](batch_store& s) { return s.cancel(t, id, until); });
      },
      [&st](retry_atom, const domain::tenant& t, const std::string& id,
            const deadline& until) {
        return st.guarded(
            [&](batch_store& s) { return s.retry(t, id, until); });
      },
      [&st](remove_atom, const domain::tenant& t, const std::string& id,
            const deadline& until) {
        return st.guarded([&](batch_store& s) {
          s.remove(t, id, until);
          return true;
        });
      },
      [&st](claim_atom, std::int32_t n, caf::timespan lease) {
        return st.guarded([&](batch_store& s) {
          // The poller claims only for free workers, which start at once.
          return s.claim(n, duration_cast<milliseconds>(lease),
                         persistence::claim_mode::start);
        });
      },
      [&st](claim_atom, std::int32_t n, caf::timespan lease,
            std::int32_t guaranteed, std::int64_t item_budget) {
        return st.guarded([&](batch_store& s) {
          return s.claim(n, duration_cast<milliseconds>(lease),
                         persistence::claim_mode::start, guaranteed,
                         item_budget);
        });
      },
      [&st](renew_atom, const std::vector<lease_ref>& leases,
            caf::timespan lease) {
        return st.guarded([&](batch_store& s) {
          return s.renew(leases, duration_cast<milliseconds>(lease));
        });
      },
      [&st](next_due_atom) {
        return st.guarded([&](batch_store& s) -> std::int64_t {
          auto due = s.next_due();
          return due ? std::max<std::int64_t>(due->count(), 0) : -1;
        });
      },
      [&st](release_atom, const std::vector<lease_ref>& leases) {
        return st.guarded([&](batch_store& s) { return s.release(leases); });
      },
      [&st](resolve_atom, const lease_ref& lease, const domain::tenant& owner,
            const std::string& after, std::int32_t limit) {
        return st.guarded([&](batch_store& s) {
          auto rows = s.resolve_chunk(lease, owner, after, limit);
          std::vector<domain::resolved_activity> out;
          out.reserve(rows.size());
          for (auto& r : rows)
            out.push_back(to_resolved(std::move(r)));
          return out;
        });
      },
      [&st](resolve_atom, const std::vector<lease_ref>& leases,
            std::int32_t limit_per_batch) {
        return st.guarded([&](batch_store& s) {
          auto rows = s.resolve_many(leases, limit_per_batch);
          bundle_rows out;
          out.batch_ids.reserve(rows.size());
          out.rows.reserve(rows.size());
          for (auto& r : rows) {
            out.batch_ids.push_back(r.batch_id);
            out.rows.push_back(to_resolved(std::move(r)));
          }
          return out;
        });
      },
      [&st](record_atom, const std::vector<persistence::batch_write>& writes) {
        return st.guarded(
            [&](batch_store& s) { return s.record_many(writes); });
      },
      [&st](record_atom, const lease_ref& lease, const domain::tenant& owner,
            const std::vector<domain::item_result>& results,
            bool finish_batch) {
        return st.guarded([&](batch_store& s) {
          std::vector<item_result_row> rows;
          rows.reserve(results.size());
          for (const auto& r : results)
            rows.push_back({r.activity_id, r.succeeded, r.scope,
                            r.emissions_kg_co2e, r.factor_id, r.error,
                            r.activity_version});
          return s.record_chunk(lease, owner, rows, finish_batch);
        });
      },
      [&st](finish_atom, const lease_ref& lease, std::int32_t kind,
            const std::string& error) {
        return st.guarded([&](batch_store& s) {
          return s.finish(lease, static_cast<finish_kind>(kind), error);
        });
      },
      [&st](defer_atom, const lease_ref& lease, caf::timespan delay,
            const std::string& error) {
        return st.guarded([&](batch_store& s) {
          s.defer(lease, duration_cast<milliseconds>(delay), error);
          return true;
        });
      },
      [&st](activity_atom, put_atom, const domain::tenant& t,
            const std::vector<domain::activity>& rows, const deadline& until) {
        return st.guarded([&](batch_store& s) {
          return s.upsert_activities(t, rows, until);
        });
      },
      [&st](activity_atom, get_atom, const domain::tenant& t,
            const std::string& id) {
        return st.guarded(
            [&](batch_store& s) { return s.get_activity(t, id); });
      },
      [&st](factors_atom, get_atom, const domain::tenant& t,
            const std::string& activity_type) {
        return st.guarded([&](batch_store& s) {
          return s.list_factors(
              t, activity_type.empty()
                     ? std::nullopt
                     : std::optional<std::string>(activity_type));
        });
      },
      [&st](factors_atom, put_atom, const domain::tenant& t,
            const std::vector<domain::emission_factor>& rows,
            const deadline& until) {
        return st.guarded(
            [&](batch_store& s) { return s.upsert_factors(t, rows, until); });
      },
      [&st](heartbeat_atom, const std::string& host, std::int32_t pid,
            const std::string& version) {
        return st.guarded([&](batch_store& s) {
          s.heartbeat(host, pid, version);
          return true;
        });
      },
      [&st](ping_atom) {
        return st.guarded([&](batch_store& s) {
          return static_cast<std::int64_t>(s.ping().count());
        });
      },
      [&st](depth_atom) {
        return st.guarded([&](batch_store& s) { return s.queue_depth(); });
      },
      [&st](key_atom, const std::string& id) {
        return st.guarded([&](batch_store& s) {
          return s.find_api_key(id).value_or(domain::api_key{});
        });
      },
      [&st](prune_atom, caf::timespan retention, std::int32_t max_batches,
            std::int64_t max_items) {
        return st.guarded([&](batch_store& s) {
          return s.prune_slice(duration_cast<milliseconds>(retention),
                               max_batches, max_items);
        });
      },
  };
}

} // namespace

store_actor spawn_store(caf::actor_system& sys, persistence::store_config cfg) {
  return sys.spawn<caf::detached>(store_behavior, std::move(cfg));
}

} // namespace ogf
