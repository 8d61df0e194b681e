#include "support/engine_helpers.hpp"

#include <cstdio>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "domain/calculator.hpp"
#include "persistence/batch_store.hpp"

CAF_ADD_ATOM(ogf_test, ogf::testing, spy_reply_atom, "spyreply")

namespace ogf::testing {

using namespace std::chrono_literals;

engine_config test_engine_config(const test_database& db,
                                 const std::string& node_id) {
  engine_config cfg;
  cfg.database_url = db.url();
  cfg.node_id = node_id;
  cfg.poll_interval = 30s; // LISTEN/NOTIFY and idle workers do the waking
  cfg.poll_jitter = 0ms;
  cfg.lease_timeout = 3s;
  cfg.chunk_size = 5;
  cfg.workers = 3;
  cfg.store_connections = 2;
  return cfg;
}

std::vector<domain::activity> make_activities(const std::string& prefix,
                                              int n) {
  std::vector<domain::activity> out;
  for (int i = 0; i < n; ++i) {
    domain::activity a;
    char suffix[16];
    std::snprintf(suffix, sizeof suffix, "_%04d", i);
    a.id = prefix + suffix;
    a.activity_type = "electricity";
    a.quantity = std::to_string(i + 1);
    a.unit = "kWh";
    a.region = "US";
    a.period_start = "2025-01-01";
    a.period_end = "2025-01-31";
    out.push_back(a);
  }
  return out;
}

std::vector<std::string> ids_of(const std::vector<domain::activity>& acts) {
  std::vector<std::string> out;
  for (const auto& a : acts)
    out.push_back(a.id);
  return out;
}

persistence::submit_request make_submit(const std::vector<std::string>& ids) {
  persistence::submit_request req;
  req.owner = acme;
  req.activity_ids = ids;
  req.request_hash = "h";
  return req;
}

std::string expected_emissions(int n) {
  // sum(1..n) * 0.375294, exact: integer micro-kg.
  auto micro = static_cast<std::int64_t>(n) * (n + 1) / 2 * 375294;
  char buf[64];
  std::snprintf(buf, sizeof buf, "%lld.%06lld",
                static_cast<long long>(micro / 1000000),
                static_cast<long long>(micro % 1000000));
  return buf;
}

std::int64_t scalar(const test_database& db, const std::string& sql) {
  pqxx::connection c{db.url()};
  pqxx::read_transaction tx{c};
  return tx.exec1(sql)[0].as<std::int64_t>();
}

std::string text(const test_database& db, const std::string& sql) {
  pqxx::connection c{db.url()};
  pqxx::read_transaction tx{c};
  return tx.exec1(sql)[0].as<std::string>();
}

void execute(const test_database& db, const std::string& sql) {
  pqxx::connection c{db.url()};
  pqxx::work tx{c};
  tx.exec(sql);
  tx.commit();
}

std::string sql_literal(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += '\'';
    out += c;
  }
  return out + "'";
}

std::map<std::string, int> spy_log::seen_copy() {
  std::lock_guard<std::mutex> guard{mutex};
  return seen;
}

std::size_t spy_log::max_in_flight() {
  std::lock_guard<std::mutex> guard{mutex};
  return max_batches_in_flight;
}

std::int64_t spy_log::compute_count() {
  std::lock_guard<std::mutex> guard{mutex};
  return computes;
}

std::size_t spy_log::batches_in_flight() {
  std::lock_guard<std::mutex> guard{mutex};
  return in_flight.size();
}

std::size_t spy_log::most_batches_per_compute() {
  std::lock_guard<std::mutex> guard{mutex};
  return most_batches_in_one_compute;
}

bool listener_log::has_done() {
  std::lock_guard<std::mutex> guard{mutex};
  return done.has_value();
}

namespace {

using results = std::vector<domain::item_result>;

/// The spy's own interface: the processor's, plus its delayed replies.
using spy_actor =
    processor_actor::extend<caf::reacts_to<spy_reply_atom, std::uint64_t>>;

struct pending_reply {
  caf::typed_response_promise<results> promise;
  results value;
  std::string batch_key;
};

struct spy_state {
  std::shared_ptr<spy_log> log;
  std::uint64_t next_id = 0;
  std::map<std::uint64_t, pending_reply> pending;
  static inline const char* name = "ogf.test.spy_processor";
};

std::string batch_key_of(const std::string& activity_id) {
  return activity_id.substr(0, activity_id.find('_'));
}

void leave(spy_log& log, const std::string& key) {
  std::lock_guard<std::mutex> guard{log.mutex};
  if (auto it = log.in_flight.find(key); it != log.in_flight.end())
    if (--it->second == 0)
      log.in_flight.erase(it);
}

spy_actor::behavior_type spy(spy_actor::stateful_pointer<spy_state> self,
                             std::shared_ptr<spy_log> log) {
  self->state.log = std::move(log);
  return {
      [self](compute_atom, const std::vector<domain::resolved_activity>& chunk)
          -> caf::result<results> {
        auto& log = *self->state.log;
        auto key = chunk.empty() ? std::string{}
                                 : batch_key_of(chunk.front().activity_id);
        std::int64_t n = 0;
        bool holds_killed_batch = false;
        bool bundle = false;
        {
          std::lock_guard<std::mutex> guard{log.mutex};
          n = ++log.computes;
          log.last_compute_start = std::chrono::steady_clock::now();
          std::set<std::string> keys;
          for (const auto& a : chunk) {
            ++log.seen[a.activity_id];
            keys.insert(batch_key_of(a.activity_id));
          }
          holds_killed_batch = !log.kill_senders_of_batch.empty() &&
                               keys.count(log.kill_senders_of_batch) > 0;
          bundle = keys.size() > 1;
          log.most_batches_in_one_compute =
              std::max(log.most_batches_in_one_compute, keys.size());
          if (++log.in_flight[key] > 1)
            log.same_batch_twice = true;
          log.max_batches_in_flight =
              std::max(log.max_batches_in_flight, log.in_flight.size());
        }
        // Any compute holding the batch, wherever it sits in a bundle.
        if (n == log.kill_sender_on_compute.load() || holds_killed_batch) {
          log.killed_a_worker = true;
          ++log.workers_killed;
          if (bundle)
            ++log.bundle_workers_killed;
          leave(log, key);
          self->send_exit(self->current_sender(),
                          caf::make_error(caf::sec::runtime_error,
                                          "the test kills this worker"));
          return caf::make_error(caf::sec::runtime_error, "worker killed");
        }
        auto value = domain::calculate_chunk(chunk);
        auto from = log.slow_from_compute.load();
        auto delay = std::chrono::milliseconds(from > 0 && n >= from
                                                   ? log.slow_delay_ms.load()
                                                   : log.delay_ms.load());
        if (delay.count() <= 0) {
          leave(log, key);
          return value;
        }
        auto promise = self->make_response_promise<results>();
        auto id = self->state.next_id++;
        self->state.pending.emplace(
            id, pending_reply{promise, std::move(value), key});
        self->delayed_send(self, delay, spy_reply_atom_v, id);
        return promise;
      },
      [self](spy_reply_atom, std::uint64_t id) {
        auto it = self->state.pending.find(id);
        if (it == self->state.pending.end())
          return;
        leave(*self->state.log, it->second.batch_key);
        it->second.promise.deliver(std::move(it->second.value));
        self->state.pending.erase(it);
      },
  };
}

struct listener_state {
  std::shared_ptr<listener_log> log;
  static inline const char* name = "ogf.test.listener";
};

progress_listener_actor::behavior_type recording_listener(
    progress_listener_actor::stateful_pointer<listener_state> self,
    std::shared_ptr<listener_log> log) {
  self->state.log = std::move(log);
  return {
      [self](progress_atom, const domain::batch_progress& p) {
        auto& log = *self->state.log;
        std::lock_guard<std::mutex> guard{log.mutex};
        if (log.done)
          log.progress_after_done = true;
        log.progress.push_back({std::chrono::steady_clock::now(), p});
      },
      [self](done_atom, const domain::batch& b) {
        auto& log = *self->state.log;
        std::lock_guard<std::mutex> guard{log.mutex};
        log.done = b;
        log.done_at = std::chrono::steady_clock::now();
      },
  };
}

} // namespace

processor_actor spawn_spy_processor(caf::actor_system& sys,
                                    std::shared_ptr<spy_log> log) {
  return sys.spawn(spy, std::move(log));
}

progress_listener_actor
spawn_recording_listener(caf::actor_system& sys,
                         std::shared_ptr<listener_log> log) {
  return sys.spawn(recording_listener, std::move(log));
}

processor_factory spy_factory(std::shared_ptr<spy_log> log) {
  return
      [log](caf::actor_system& sys) { return spawn_spy_processor(sys, log); };
}

std::vector<std::string> submit_batches(engine_fixture& f, int batches,
                                        int items) {
  std::vector<domain::activity> all;
  std::vector<std::vector<std::string>> per_batch;
  for (int k = 0; k < batches; ++k) {
    auto acts = make_activities("b" + std::to_string(k), items);
    per_batch.push_back(ids_of(acts));
    all.insert(all.end(), acts.begin(), acts.end());
  }
  REQUIRE(f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, all) ==
          static_cast<std::int64_t>(all.size()));
  std::vector<std::string> out;
  for (const auto& ids : per_batch)
    out.push_back(
        f.ask<persistence::submit_outcome>(submit_atom_v, make_submit(ids))
            .batch.id);
  return out;
}

std::vector<std::string> queue_before_start(const test_database& db,
                                            const std::vector<int>& sizes) {
  persistence::batch_store store{{db.url(), "seeder"}};
  std::vector<domain::activity> all;
  std::vector<persistence::submit_request> reqs;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    auto acts = make_activities("b" + std::to_string(k), sizes[k]);
    reqs.push_back(make_submit(ids_of(acts)));
    all.insert(all.end(), acts.begin(), acts.end());
  }
  REQUIRE(store.upsert_activities(acme, all) ==
          static_cast<std::int64_t>(all.size()));
  std::vector<std::string> out;
  // Group commits of 100, as the engine's submit batcher would make them.
  for (std::size_t from = 0; from < reqs.size(); from += 100) {
    std::vector<persistence::submit_request> group(
        reqs.begin() + static_cast<std::ptrdiff_t>(from),
        reqs.begin() +
            static_cast<std::ptrdiff_t>(std::min(reqs.size(), from + 100)));
    for (auto& r : store.submit_many(group)) {
      REQUIRE(r.outcome);
      out.push_back(r.outcome->batch.id);
    }
  }
  return out;
}

std::int64_t count_status(const test_database& db, const std::string& status) {
  return scalar(db, "SELECT count(*) FROM batch_jobs WHERE status = " +
                        sql_literal(status));
}

std::int64_t batches_off_their_items(const test_database& db) {
  return scalar(
      db, "SELECT count(*) FROM batch_jobs b WHERE "
          "processed_activities <> (SELECT count(*) FROM batch_items i "
          "WHERE i.batch_id = b.id AND i.status <> 'pending') "
          "OR succeeded_activities <> (SELECT count(*) FROM batch_items i "
          "WHERE i.batch_id = b.id AND i.status = 'succeeded') "
          "OR failed_activities <> (SELECT count(*) FROM batch_items i "
          "WHERE i.batch_id = b.id AND i.status = 'failed') "
          "OR total_emissions_kg_co2e <> (SELECT "
          "coalesce(sum(emissions_kg_co2e), 0) FROM batch_items i "
          "WHERE i.batch_id = b.id)");
}

} // namespace ogf::testing
