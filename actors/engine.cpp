#include "actors/engine.hpp"

#include <deque>
#include <mutex>

#include <caf/all.hpp>
#include <unistd.h>

#include "actors/callback_deliverer.hpp"
#include "actors/lease_renewer.hpp"
#include "actors/listener.hpp"
#include "actors/poller.hpp"
#include "actors/processor.hpp"
#include "actors/progress_aggregator.hpp"
#include "actors/pruner.hpp"
#include "actors/store_actor.hpp"
#include "actors/submit_batcher.hpp"
#include "common/log.hpp"
#include "domain/callback_url.hpp"

namespace ogf {

namespace {

using namespace std::chrono;

/// More restarts than this within restart_window: the node reports
/// unhealthy (degraded) instead of restarting forever silently.
constexpr int max_restarts = 5;
constexpr auto restart_window = seconds(60);

struct engine_state {
  engine_config cfg;
  std::vector<store_actor> stores;      ///< engine side: poller, workers, ...
  std::vector<store_actor> api_stores;  ///< submits and user requests
  std::vector<store_actor> bulk_stores; ///< activity and factor uploads
  /// A connection of its own for health and metrics, so that a stalled or
  /// busy pool cannot delay them: short statement and lock timeouts.
  store_actor health_store;
  std::size_t next_store = 0;
  std::size_t next_bulk_store = 0;
  processor_actor processor;
  submit_batcher_actor batcher;
  std::shared_ptr<batcher_counters> batcher_counts =
      std::make_shared<batcher_counters>();
  aggregator_actor aggregator;
  renewer_actor renewer;
  poller_actor poller;
  listener_actor listener;
  pruner_actor pruner; ///< retention; none while it is off
  /// The pruner's counters as last read, reported while it does not
  /// answer (a zero would make the metrics count everything again later).
  engine_stats pruner_stats;
  /// What the pruners before the current one counted (restarts).
  engine_stats pruner_base;
  /// Completion callbacks: the pool of webhook_deliverers deliverers,
  /// their shared counters and, per deliverer, the handle to cut its HTTP
  /// call short at exit (kept across respawns of that slot). The box is
  /// how the aggregator's on_done reaches the current deliverers (each is
  /// respawned after a crash).
  struct deliverer_box {
    std::mutex mutex;
    std::vector<deliverer_actor> handles;
    /// Wakes every deliverer, not one in turn: the one a round robin picked
    /// may be inside an attempt a receiver holds, and the callback would
    /// wait for the next poll. The idle ones race for it; SKIP LOCKED
    /// gives it to one, the others find nothing (one cheap claim each).
    void wake() {
      std::lock_guard<std::mutex> guard{mutex};
      for (const auto& handle : handles)
        if (handle)
          caf::anon_send(handle, wake_atom_v);
    }
  };
  std::vector<deliverer_actor> deliverers;
  std::shared_ptr<deliverer_box> deliverer_handle =
      std::make_shared<deliverer_box>();
  std::shared_ptr<deliverer_counters> deliverer_counts =
      std::make_shared<deliverer_counters>();
  std::vector<std::shared_ptr<delivery_abort>> deliverer_aborts;
  bool stopping = false;
  bool degraded = false;
  /// Health requests waiting for the round in flight: probes and scrapes
  /// arriving together share one ping, so they can never queue up on the
  /// single health connection (a backlog there would turn a slow database
  /// into timeouts, i.e. 503).
  std::vector<caf::typed_response_promise<health_report>> health_waiting;
  std::deque<steady_clock::time_point> restarts;
  static inline const char* name = "ogf.engine";

  /// Spreads user requests over the API store pool.
  const store_actor& store() {
    return api_stores[next_store++ % api_stores.size()];
  }

  /// Spreads uploads over the bulk pool.
  const store_actor& bulk_store() {
    return bulk_stores[next_bulk_store++ % bulk_stores.size()];
  }
};

using self_ptr = engine_actor::stateful_pointer<engine_state>;

persistence::store_config store_config_of(const engine_config& cfg) {
  persistence::store_config sc;
  sc.database_url = cfg.database_url;
  sc.node_id = cfg.node_id;
  // Below half the lease: a statement can never outlive a lease renewal.
  sc.statement_timeout =
      std::max(milliseconds(100), cfg.lease_timeout / 2 - milliseconds(50));
  return sc;
}

/// The API connections: the engine's settings plus the tenants' quota,
/// which only users' submits are checked against.
persistence::store_config api_store_config_of(const engine_config& cfg) {
  auto ac = store_config_of(cfg);
  ac.max_pending_batches = cfg.max_pending_batches;
  return ac;
}

/// How long the health ping may take before the database counts as
/// unreachable. A slow answer is not an unreachable database: on a busy
/// machine a round trip can take a second, and reporting that as 503 would
/// make load balancers pull healthy nodes exactly when load is highest.
constexpr auto health_ping_bound = milliseconds(5000);

/// The health connection, of its own so that health never queues behind
/// the API's or the engine's connections. Its ping may take up to
/// health_ping_bound; the queue-depth read gives up on a lock at once.
persistence::store_config health_store_config_of(const engine_config& cfg) {
  auto hc = store_config_of(cfg);
  hc.statement_timeout = health_ping_bound;
  hc.lock_timeout = milliseconds(200);
  hc.application_name = "offgridflow-batch-health";
  return hc;
}

/// The pruner's connection: of its own, so that a round of retention
/// slices never queues in front of claims, records or user requests. A
/// delete waits at most 2 s for a row lock (a user's retry or delete of
/// that batch); the slice then fails and the next round tries again.
pruner_config pruner_config_of(const engine_config& cfg) {
  pruner_config pc;
  pc.retention = duration_cast<caf::timespan>(cfg.retention);
  pc.interval = duration_cast<caf::timespan>(cfg.retention_interval);
  pc.store = store_config_of(cfg);
  pc.store.lock_timeout = milliseconds(2000);
  pc.store.application_name = "offgridflow-batch-retention";
  return pc;
}

deliverer_config deliverer_config_of(const engine_config& cfg,
                                     const engine_state& st, std::size_t i) {
  deliverer_config dc;
  dc.database_url = cfg.database_url;
  dc.node_id = cfg.node_id;
  dc.secret = cfg.webhook_secret;
  dc.allow_private = cfg.webhook_allow_private;
  dc.connect_timeout = cfg.webhook_connect_timeout;
  dc.read_timeout = cfg.webhook_read_timeout;
  dc.poll_interval = cfg.webhook_poll_interval;
  dc.backoff_base = cfg.webhook_backoff_base;
  dc.backoff_cap = cfg.webhook_backoff_cap;
  dc.give_up_after = cfg.webhook_give_up_after;
  dc.version = cfg.version;
  dc.counters = st.deliverer_counts;
  dc.abort = st.deliverer_aborts[i];
  return dc;
}

/// Spawns (or respawns) callback deliverer `i` of the pool, linked to the
/// engine.
void spawn_deliverer(self_ptr self, std::size_t i) {
  auto& st = self->state;
  st.deliverers[i] = spawn_callback_deliverer(
      self->system(), deliverer_config_of(st.cfg, st, i));
  self->link_to(st.deliverers[i]);
  std::lock_guard<std::mutex> guard{st.deliverer_handle->mutex};
  st.deliverer_handle->handles[i] = st.deliverers[i];
}

/// Cuts every deliverer's HTTP call in flight short, and all later ones.
void abort_deliveries(engine_state& st) {
  for (const auto& abort : st.deliverer_aborts)
    abort->abort_all();
}

/// Why a submit's callback_url cannot be taken (a non-public address
/// known without resolving); empty when it can.
std::string callback_refusal(const engine_config& cfg,
                             const persistence::submit_request& req) {
  if (!req.callback_url)
    return {};
  if (auto why = domain::check_callback_url(*req.callback_url,
                                            cfg.webhook_allow_private))
    return *why;
  return {};
}

void note_restart(self_ptr self) {
  auto& st = self->state;
  auto now = steady_clock::now();
  st.restarts.push_back(now);
  while (!st.restarts.empty() && now - st.restarts.front() > restart_window)
    st.restarts.pop_front();
  if (static_cast<int>(st.restarts.size()) > max_restarts) {
    st.degraded = true;
    log::error("restart intensity exceeded, node degraded");
  }
}

/// Cancels through the API pool and, when the batch is processing (here or
/// on another node), tells this node's workers at once.
caf::result<persistence::cancel_outcome>
cancel(self_ptr self, const domain::tenant& t, const std::string& id,
       const persistence::deadline& until) {
  auto rp = self->make_response_promise<persistence::cancel_outcome>();
  self->request(self->state.store(), seconds(30), cancel_atom_v, t, id, until)
      .then(
          [self, rp](persistence::cancel_outcome& out) mutable {
            if (!out.immediate)
              self->send(self->state.poller, cancel_atom_v, out.batch.id);
            else if (out.batch.callback)
              self->state.deliverer_handle->wake();
            rp.deliver(std::move(out));
          },
          [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
  return rp;
}

/// Answers every waiting health request with `report`.
void finish_health_round(self_ptr self, const health_report& report) {
  auto waiting = std::move(self->state.health_waiting);
  self->state.health_waiting.clear();
  for (auto& rp : waiting)
    rp.deliver(report);
}

/// One health round for every request waiting: ping, scheduler stats and
/// queue depth. Bounded in all: ping up to health_ping_bound (an answer in
/// time, however late, means reachable; the HTTP layer calls a late one
/// degraded), stats 200 ms, depth 300 ms, on the dedicated health
/// connection. On an idle machine all of it takes a millisecond.
void start_health_round(self_ptr self) {
  auto report = std::make_shared<health_report>();
  report->stopping = self->state.stopping;
  report->degraded = self->state.degraded;
  self->request(self->state.health_store, health_ping_bound + milliseconds(500),
                ping_atom_v)
      .then(
          [self, report](std::int64_t latency_us) {
            report->database_ok = true;
            report->database_latency_us = latency_us;
            self->request(self->state.poller, milliseconds(200), stats_atom_v)
                .then(
                    [self, report](const engine_stats& s) {
                      report->running = !self->state.stopping;
                      report->workers = s.workers;
                      report->busy_workers = s.busy_workers;
                      report->in_flight_batches = s.busy_workers;
                      self->request(self->state.health_store, milliseconds(300),
                                    depth_atom_v)
                          .then(
                              [self, report](std::int64_t depth) {
                                report->queue_depth = depth;
                                finish_health_round(self, *report);
                              },
                              [self, report](caf::error&) {
                                finish_health_round(self, *report);
                              });
                    },
                    [self, report](caf::error&) {
                      finish_health_round(self, *report);
                    });
          },
          [self, report](caf::error&) {
            report->database_ok = false;
            finish_health_round(self, *report);
          });
}

/// Delivers `s` with the pruner's counters added (as they are when
/// retention is off or the pruner does not answer: zero or the last seen).
void add_pruner_stats(self_ptr self,
                      caf::typed_response_promise<engine_stats> rp,
                      engine_stats s) {
  if (!self->state.pruner) {
    rp.deliver(s);
    return;
  }
  auto deliver = [self, rp, s]() mutable {
    const auto& p = self->state.pruner_stats;
    s.pruned_batches = p.pruned_batches;
    s.pruned_items = p.pruned_items;
    s.pruned_results = p.pruned_results;
    s.prune_rounds_skipped = p.prune_rounds_skipped;
    s.last_prune_us = p.last_prune_us;
    rp.deliver(s);
  };
  self->request(self->state.pruner, seconds(5), stats_atom_v)
      .then(
          [self, deliver](const engine_stats& p) mutable {
            // A restarted pruner counts from zero again: add its counts to
            // what the ones before it counted (kept in pruner_base).
            auto& base = self->state.pruner_base;
            auto& seen = self->state.pruner_stats;
            seen.pruned_batches = base.pruned_batches + p.pruned_batches;
            seen.pruned_items = base.pruned_items + p.pruned_items;
            seen.pruned_results = base.pruned_results + p.pruned_results;
            seen.prune_rounds_skipped =
                base.prune_rounds_skipped + p.prune_rounds_skipped;
            seen.last_prune_us = std::max(base.last_prune_us, p.last_prune_us);
            deliver();
          },
          [deliver](caf::error&) mutable { deliver(); });
}

/// Error for requests arriving during a graceful stop.
caf::error stopping_error() {
  return make_engine_error(engine_errc::unavailable, "engine is stopping");
}

engine_actor::behavior_type engine(self_ptr self, engine_config cfg) {
  auto& st = self->state;
  st.cfg = cfg;
  auto& sys = self->system();
  auto sc = store_config_of(cfg);
  for (int i = 0; i < cfg.store_connections; ++i) {
    st.stores.push_back(spawn_store(sys, sc));
    self->link_to(st.stores.back());
  }
  for (int i = 0; i < cfg.api_connections; ++i) {
    st.api_stores.push_back(spawn_store(sys, api_store_config_of(cfg)));
    self->link_to(st.api_stores.back());
  }
  for (int i = 0; i < cfg.bulk_connections; ++i) {
    st.bulk_stores.push_back(spawn_store(sys, sc));
    self->link_to(st.bulk_stores.back());
  }
  st.processor = cfg.processor ? cfg.processor : spawn_emissions_processor(sys);
  if (!cfg.processor)
    self->link_to(st.processor);
  st.health_store = spawn_store(sys, health_store_config_of(cfg));
  self->link_to(st.health_store);
  batcher_config bc;
  bc.counters = st.batcher_counts;
  st.batcher = spawn_submit_batcher(sys, st.api_stores, bc);
  self->link_to(st.batcher);
  aggregator_config ac;
  // With or without a webhook secret (an empty one is the empty key).
  {
    auto n = static_cast<std::size_t>(cfg.webhook_deliverers);
    st.deliverers.resize(n);
    st.deliverer_handle->handles.resize(n);
    for (std::size_t i = 0; i < n; ++i) {
      st.deliverer_aborts.push_back(std::make_shared<delivery_abort>());
      spawn_deliverer(self, i);
    }
  }
  ac.on_done = [box = st.deliverer_handle](const domain::batch& b) {
    if (b.callback)
      box->wake();
  };
  st.aggregator = spawn_aggregator(sys, st.stores[0], ac);
  self->link_to(st.aggregator);
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  st.renewer = spawn_renewer(
      sys, st.stores[0],
      renewer_config{duration_cast<caf::timespan>(cfg.lease_timeout), host,
                     static_cast<std::int32_t>(getpid()), cfg.version});
  self->link_to(st.renewer);
  poller_config pc;
  pc.workers = cfg.workers;
  pc.max_batches_per_poll = cfg.max_batches_per_poll;
  pc.bundle_size = cfg.bundle_size;
  pc.poll_interval = duration_cast<caf::timespan>(cfg.poll_interval);
  // The jitter spreads nodes' polls; it is capped at half the interval so
  // a short --poll-interval works without also setting --poll-jitter.
  pc.poll_jitter = duration_cast<caf::timespan>(
      std::min(cfg.poll_jitter, cfg.poll_interval / 2));
  pc.lease_timeout = duration_cast<caf::timespan>(cfg.lease_timeout);
  pc.worker.chunk_size = cfg.chunk_size;
  st.poller = spawn_poller(sys, pc, st.stores[0], st.stores, st.processor,
                           st.aggregator, st.renewer);
  self->link_to(st.poller);
  st.listener = spawn_listener(sys, cfg.database_url, st.poller);
  self->link_to(st.listener);
  if (cfg.retention > milliseconds(0)) {
    st.pruner = spawn_pruner(sys, pruner_config_of(cfg));
    self->link_to(st.pruner);
  }
  log::info("engine started", {{"node_id", cfg.node_id},
                               {"workers", cfg.workers},
                               {"store_connections", cfg.store_connections},
                               {"api_connections", cfg.api_connections},
                               {"bulk_connections", cfg.bulk_connections},
                               {"retention_ms", cfg.retention.count()}});

  self->set_exit_handler([self](caf::exit_msg& msg) {
    auto& st = self->state;
    for (auto* pool : {&st.stores, &st.api_stores, &st.bulk_stores})
      for (auto& s : *pool) {
        if (s.address() == msg.source) {
          note_restart(self);
          log::warn("store actor died, restarting",
                    {{"reason", to_string(msg.reason)}});
          s = spawn_store(self->system(), pool == &st.api_stores
                                              ? api_store_config_of(st.cfg)
                                              : store_config_of(st.cfg));
          self->link_to(s);
          return;
        }
      }
    if (msg.source == st.health_store.address()) {
      note_restart(self);
      st.health_store =
          spawn_store(self->system(), health_store_config_of(st.cfg));
      self->link_to(st.health_store);
      return;
    }
    if (msg.source == st.listener.address()) {
      note_restart(self);
      st.listener =
          spawn_listener(self->system(), st.cfg.database_url, st.poller);
      self->link_to(st.listener);
      return;
    }
    if (st.pruner && msg.source == st.pruner.address()) {
      // Retention holds no state that matters (a round is small committed
      // transactions): a new pruner with a new connection goes on.
      note_restart(self);
      log::warn("pruner died, restarting", {{"reason", to_string(msg.reason)}});
      st.pruner_base = st.pruner_stats;
      st.pruner = spawn_pruner(self->system(), pruner_config_of(st.cfg));
      self->link_to(st.pruner);
      return;
    }
    for (std::size_t i = 0; i < st.deliverers.size(); ++i) {
      if (st.deliverers[i] && msg.source == st.deliverers[i].address()) {
        note_restart(self);
        log::warn("callback deliverer died, restarting",
                  {{"deliverer", static_cast<std::int64_t>(i)},
                   {"reason", to_string(msg.reason)}});
        spawn_deliverer(self, i);
        return;
      }
    }
    if (msg.source == st.poller.address() ||
        msg.source == st.renewer.address() ||
        msg.source == st.aggregator.address() ||
        msg.source == st.processor.address() ||
        msg.source == st.batcher.address()) {
      // These hold the node's scheduling state; running on without them
      // would be wrong. Report unhealthy; the process supervisor (or the
      // embedder) restarts the engine, and leases are taken over.
      st.degraded = true;
      log::error("core engine actor died", {{"reason", to_string(msg.reason)}});
      return;
    }
    // Told to exit (by the embedder, or the signal handler of `serve`).
    // Linked children end only on a non-normal reason - they ignore a
    // normal exit_msg, as CAF's default exit handler does - and the renewer
    // and listener tick on their own: quitting with `normal` would leave
    // them running and ~actor_system waiting forever.
    // A callback in flight would hold the exit up for its timeouts: cut
    // every deliverer's short. They are not recorded; their leases run out
    // and they go again.
    abort_deliveries(st);
    self->quit(msg.reason ? msg.reason
                          : caf::make_error(caf::exit_reason::user_shutdown));
  });

  return {
      [self](submit_atom, persistence::submit_request& req)
          -> caf::result<persistence::submit_outcome> {
        if (self->state.stopping)
          return stopping_error();
        if (auto why = callback_refusal(self->state.cfg, req); !why.empty())
          return make_engine_error(engine_errc::validation, why);
        return self->delegate(self->state.batcher, submit_atom_v,
                              std::move(req));
      },
      [self](get_atom, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::batch> {
        return self->delegate(self->state.store(), get_atom_v, t, id);
      },
      [self](list_atom, const domain::tenant& t, const domain::batch_filter& f)
          -> caf::result<persistence::batch_page> {
        return self->delegate(self->state.store(), list_atom_v, t, f);
      },
      [self](
          items_atom, const domain::tenant& t, const std::string& id,
          const domain::item_filter& f) -> caf::result<persistence::item_page> {
        return self->delegate(self->state.store(), items_atom_v, t, id, f);
      },
      [self](counts_atom c,
             const domain::tenant& t) -> caf::result<domain::batch_counts> {
        return self->delegate(self->state.store(), c, t);
      },
      [self](emissions_atom e, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::batch_emissions> {
        return self->delegate(self->state.store(), e, t, id);
      },
      [self](progress_atom, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::batch_progress> {
        return self->delegate(self->state.aggregator, progress_atom_v, t, id);
      },
      [self](cancel_atom, const domain::tenant& t, const std::string& id)
          -> caf::result<persistence::cancel_outcome> {
        return cancel(self, t, id, {});
      },
      [self](cancel_atom, const domain::tenant& t, const std::string& id,
             const persistence::deadline& until)
          -> caf::result<persistence::cancel_outcome> {
        return cancel(self, t, id, until);
      },
      [self](retry_atom, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::batch> {
        return self->delegate(self->state.store(), retry_atom_v, t, id,
                              persistence::deadline{});
      },
      [self](retry_atom, const domain::tenant& t, const std::string& id,
             const persistence::deadline& until) -> caf::result<domain::batch> {
        return self->delegate(self->state.store(), retry_atom_v, t, id, until);
      },
      [self](remove_atom, const domain::tenant& t,
             const std::string& id) -> caf::result<bool> {
        return self->delegate(self->state.store(), remove_atom_v, t, id,
                              persistence::deadline{});
      },
      [self](remove_atom, const domain::tenant& t, const std::string& id,
             const persistence::deadline& until) -> caf::result<bool> {
        return self->delegate(self->state.store(), remove_atom_v, t, id, until);
      },
      [self](subscribe_atom, const domain::tenant& t, const std::string& id,
             progress_listener_actor listener) -> caf::result<bool> {
        return self->delegate(self->state.aggregator, subscribe_atom_v, t, id,
                              std::move(listener));
      },
      [self](unsub_atom, const std::string& id,
             progress_listener_actor listener) {
        self->send(self->state.aggregator, unsub_atom_v, id,
                   std::move(listener));
      },
      [self](activity_atom, put_atom a, const domain::tenant& t,
             std::vector<domain::activity>& rows) -> caf::result<std::int64_t> {
        return self->delegate(self->state.bulk_store(), activity_atom_v, a, t,
                              std::move(rows), persistence::deadline{});
      },
      [self](activity_atom, put_atom a, const domain::tenant& t,
             std::vector<domain::activity>& rows,
             const persistence::deadline& until) -> caf::result<std::int64_t> {
        return self->delegate(self->state.bulk_store(), activity_atom_v, a, t,
                              std::move(rows), until);
      },
      [self](activity_atom, get_atom g, const domain::tenant& t,
             const std::string& id) -> caf::result<domain::activity> {
        return self->delegate(self->state.store(), activity_atom_v, g, t, id);
      },
      [self](factors_atom, get_atom g, const domain::tenant& t,
             const std::string& type)
          -> caf::result<std::vector<domain::emission_factor>> {
        return self->delegate(self->state.store(), factors_atom_v, g, t, type);
      },
      [self](factors_atom, put_atom p, const domain::tenant& t,
             std::vector<domain::emission_factor>& rows)
          -> caf::result<std::int64_t> {
        return self->delegate(self->state.bulk_store(), factors_atom_v, p, t,
                              std::move(rows), persistence::deadline{});
      },
      [self](factors_atom, put_atom p, const domain::tenant& t,
             std::vector<domain::emission_factor>& rows,
             const persistence::deadline& until) -> caf::result<std::int64_t> {
        return self->delegate(self->state.bulk_store(), factors_atom_v, p, t,
                              std::move(rows), until);
      },
      [self](key_atom k,
             const std::string& id) -> caf::result<domain::api_key> {
        return self->delegate(self->state.store(), k, id);
      },
      [self](health_atom) -> caf::result<health_report> {
        auto rp = self->make_response_promise<health_report>();
        self->state.health_waiting.push_back(rp);
        if (self->state.health_waiting.size() == 1)
          start_health_round(self);
        return rp;
      },
      [self](stats_atom) -> caf::result<engine_stats> {
        auto rp = self->make_response_promise<engine_stats>();
        self->request(self->state.poller, seconds(5), stats_atom_v)
            .then(
                [self, rp](engine_stats s) mutable {
                  s.submits_committed = self->state.batcher_counts->submits;
                  s.submit_transactions =
                      self->state.batcher_counts->transactions;
                  if (!self->state.deliverers.empty()) {
                    const auto& c = *self->state.deliverer_counts;
                    s.callbacks_delivered = c.delivered;
                    s.callback_attempts_failed = c.failed_attempts;
                    s.callbacks_given_up = c.given_up;
                    s.callbacks_undelivered = c.undelivered;
                    s.callback_oldest_age_seconds =
                        static_cast<double>(c.oldest_undelivered_ms) / 1000.0;
                  }
                  self->request(self->state.renewer, seconds(5), stats_atom_v)
                      .then(
                          [self, rp, s](std::int64_t renewals,
                                        std::int64_t lost) mutable {
                            s.lease_renewals = renewals;
                            s.leases_lost = lost;
                            self->request(self->state.aggregator, seconds(5),
                                          stats_atom_v)
                                .then(
                                    [self, rp,
                                     s](const engine_stats& a) mutable {
                                      s.subscribers = a.subscribers;
                                      s.batches_completed = a.batches_completed;
                                      s.batches_failed = a.batches_failed;
                                      s.batches_cancelled = a.batches_cancelled;
                                      s.activities_succeeded =
                                          a.activities_succeeded;
                                      s.activities_failed = a.activities_failed;
                                      s.recent_activities = a.recent_activities;
                                      add_pruner_stats(self, rp, s);
                                    },
                                    [self, rp, s](caf::error&) mutable {
                                      add_pruner_stats(self, rp, s);
                                    });
                          },
                          [rp, s](caf::error&) mutable { rp.deliver(s); });
                },
                [rp](caf::error& err) mutable { rp.deliver(std::move(err)); });
        return rp;
      },
      [self](stop_atom) -> caf::result<bool> {
        auto& st = self->state;
        st.stopping = true;
        log::info("engine stopping: releasing leases");
        if (st.pruner)
          self->send(st.pruner, stop_atom_v);
        // No more callbacks from this node either: those in flight (one
        // per deliverer) are cut short, unrecorded, and go again from
        // whichever node claims them after their leases (the same ids).
        abort_deliveries(st);
        auto rp = self->make_response_promise<bool>();
        self->request(st.poller, st.cfg.shutdown_timeout, drain_atom_v)
            .then([rp](bool drained) mutable { rp.deliver(drained); },
                  [rp](caf::error&) mutable { rp.deliver(false); });
        return rp;
      },
  };
}

} // namespace

std::string engine_config::validate() const {
  if (database_url.empty())
    return "database_url is required";
  if (workers < 1 || workers > 256)
    return "workers must be in 1..256";
  if (store_connections < 1 || store_connections > 64)
    return "store_connections must be in 1..64";
  if (api_connections < 1 || api_connections > 64)
    return "api_connections must be in 1..64";
  if (bulk_connections < 1 || bulk_connections > 64)
    return "bulk_connections must be in 1..64";
  if (chunk_size < 1 || chunk_size > 10000)
    return "chunk_size must be in 1..10000";
  if (poll_interval < milliseconds(10) || poll_interval > hours(1))
    return "poll_interval must be in 10ms..1h";
  if (poll_jitter < milliseconds(0) || poll_jitter > hours(1))
    return "poll_jitter must be in 0..1h";
  if (max_batches_per_poll < 1 || max_batches_per_poll > 1000)
    return "max_batches_per_poll must be in 1..1000";
  if (bundle_size < 1 || bundle_size > 1000)
    return "bundle_size must be in 1..1000";
  if (lease_timeout < milliseconds(300) || lease_timeout > hours(1))
    return "lease_timeout must be in 300ms..1h";
  if (default_max_retries < 0 || default_max_retries > 10)
    return "max_retries must be in 0..10";
  if (max_pending_batches < 0 || max_pending_batches > 1000000000)
    return "max_pending_batches must be in 0..1000000000";
  if (retention != milliseconds(0) &&
      (retention < seconds(1) || retention > hours(24 * 36500)))
    return "retention must be 0 (keep forever) or in 1s..36500d";
  if (retention_interval < milliseconds(10) || retention_interval > hours(1))
    return "retention_interval must be in 10ms..1h";
  auto in = [](milliseconds v, milliseconds lo, milliseconds hi) {
    return v >= lo && v <= hi;
  };
  if (webhook_deliverers < 1 || webhook_deliverers > 32)
    return "webhook_deliverers must be in 1..32";
  if (!in(webhook_connect_timeout, milliseconds(10), seconds(60)))
    return "webhook_connect_timeout must be in 10ms..60s";
  if (!in(webhook_read_timeout, milliseconds(10), seconds(60)))
    return "webhook_read_timeout must be in 10ms..60s";
  if (!in(webhook_poll_interval, milliseconds(10), hours(1)))
    return "webhook_poll_interval must be in 10ms..1h";
  if (!in(webhook_backoff_cap, milliseconds(1), hours(24)))
    return "webhook_backoff_cap must be in 1ms..24h";
  if (!in(webhook_backoff_base, milliseconds(1), webhook_backoff_cap))
    return "webhook_backoff_base must be in 1ms..webhook_backoff_cap";
  if (!in(webhook_give_up_after, seconds(1), hours(24 * 7)))
    return "webhook_give_up_after must be in 1s..7d";
  return {};
}

std::string default_node_id() {
  char host[256] = {0};
  gethostname(host, sizeof host - 1);
  return std::string(host) + "-" + std::to_string(getpid());
}

engine_actor spawn_engine(caf::actor_system& sys, engine_config cfg) {
  if (cfg.node_id.empty())
    cfg.node_id = default_node_id();
  if (auto problem = cfg.validate(); !problem.empty())
    throw std::invalid_argument("invalid engine config: " + problem);
  return sys.spawn(engine, std::move(cfg));
}

} // namespace ogf
