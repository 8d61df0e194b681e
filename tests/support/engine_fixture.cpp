#include "support/engine_fixture.hpp"

namespace ogf::testing {

bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout,
                std::chrono::milliseconds step) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (pred())
      return true;
    std::this_thread::sleep_for(step);
  }
  return pred();
}

engine_fixture::engine_fixture(engine_config cfg, int scheduler_threads)
  : cfg_(std::make_unique<caf::actor_system_config>()) {
  cfg_->set("scheduler.max-threads", scheduler_threads);
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  engine_ = spawn_engine(*sys_, std::move(cfg));
}

engine_fixture::engine_fixture(engine_config cfg,
                               const processor_factory& make_processor,
                               int scheduler_threads)
  : cfg_(std::make_unique<caf::actor_system_config>()) {
  cfg_->set("scheduler.max-threads", scheduler_threads);
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  cfg.processor = make_processor(*sys_);
  adopt(cfg.processor);
  engine_ = spawn_engine(*sys_, std::move(cfg));
}

engine_fixture::~engine_fixture() {
  if (!stopped_)
    kill();
}

void engine_fixture::stop() {
  if (stopped_)
    return;
  try {
    ask<bool>(stop_atom_v);
  } catch (...) {
  }
  kill();
}

void engine_fixture::kill() {
  if (stopped_)
    return;
  stopped_ = true;
  caf::anon_send_exit(engine_, caf::exit_reason::kill);
  engine_ = nullptr;
  for (auto& actor : adopted_)
    caf::anon_send_exit(actor, caf::exit_reason::kill);
  adopted_.clear();
  sys_->await_all_actors_done();
}

} // namespace ogf::testing
