// Embeds the batch engine in a CAF application: its own actor system, a
// custom processor, a batch submitted by message and awaited through a
// progress subscription. No HTTP anywhere.
//
//   embed_example '<libpq connection string of a migrated database>'
#include <atomic>
#include <cstdio>
#include <iostream>

#include <caf/all.hpp>

#include "actors/engine.hpp"

using namespace ogf;
using namespace std::chrono_literals;

namespace {

std::atomic<int> chunks_seen{0};

/// A custom processor: the built-in calculation, plus counting chunks (an
/// application could call its own models here instead).
processor_actor::behavior_type counting_processor() {
  return {
    [](compute_atom, const std::vector<domain::resolved_activity>& chunk) {
      ++chunks_seen;
      return domain::calculate_chunk(chunk);
    },
  };
}

/// Forwards the final batch to `report` when the batch is done.
progress_listener_actor::behavior_type listener(caf::actor report) {
  return {
    [](progress_atom, const domain::batch_progress& p) {
      std::cout << "progress " << p.processed << "/" << p.total << "\n";
    },
    [report](done_atom, const domain::batch& b) {
      caf::anon_send(report, done_atom_v, b);
    },
  };
}

} // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::cerr << "usage: embed_example DATABASE_URL\n";
    return 2;
  }
  caf::actor_system_config cfg;
  caf::actor_system sys{cfg};

  engine_config ec;
  ec.database_url = argv[1];
  ec.workers = 2;
  ec.chunk_size = 2;
  ec.processor = sys.spawn(counting_processor);
  auto engine = spawn_engine(sys, ec);

  caf::scoped_actor self{sys};
  const domain::tenant me{"example-org", "main"};
  std::vector<domain::activity> acts(3);
  for (int i = 0; i < 3; ++i) {
    acts[i].id = "act-" + std::to_string(i);
    acts[i].activity_type = "electricity";
    acts[i].quantity = "1000";
    acts[i].unit = "kWh";
    acts[i].region = "US";
    acts[i].period_start = "2025-01-01";
    acts[i].period_end = "2025-12-31";
  }
  int rc = 1;
  self->request(engine, 10s, activity_atom_v, put_atom_v, me, acts)
    .receive([](std::int64_t n) { std::cout << "upserted " << n << "\n"; },
             [&](caf::error& e) { std::cerr << sys.render(e) << "\n"; });

  persistence::submit_request req;
  req.owner = me;
  req.activity_ids = {"act-0", "act-1", "act-2"};
  req.request_hash = "example";
  std::string batch_id;
  self->request(engine, 10s, submit_atom_v, req)
    .receive([&](const persistence::submit_outcome& out) {
               batch_id = out.batch.id;
             },
             [&](caf::error& e) { std::cerr << sys.render(e) << "\n"; });
  if (!batch_id.empty()) {
    auto l = sys.spawn(listener, caf::actor{self});
    self->request(engine, 10s, subscribe_atom_v, me, batch_id, l)
      .receive([](bool) {}, [&](caf::error& e) { std::cerr << sys.render(e) << "\n"; });
    self->receive(
      [&](done_atom, const domain::batch& b) {
        std::cout << "batch " << b.id << " " << domain::to_string(b.status)
                  << " emissions " << b.total_emissions_kg_co2e << " kg, "
                  << chunks_seen.load() << " chunks through our processor\n";
        rc = b.status == domain::batch_status::completed && chunks_seen >= 2
               ? 0
               : 1;
      },
      caf::after(60s) >> [] { std::cerr << "timed out\n"; });
    caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
  }
  self->request(engine, 40s, stop_atom_v).receive([](bool) {}, [](caf::error&) {});
  caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(ec.processor, caf::exit_reason::user_shutdown);
  return rc;
}
