// Runs an engine (its own CAF actor system) against a test database, with
// blocking helpers for tests: request with timeout, wait for a condition.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include <caf/all.hpp>

#include "actors/engine.hpp"

namespace ogf::testing {

/// Waits until `pred` holds or `timeout` passes; true when it held.
bool wait_until(const std::function<bool()>& pred,
                std::chrono::milliseconds timeout = std::chrono::seconds(30),
                std::chrono::milliseconds step = std::chrono::milliseconds(20));

/// Spawns the processor an engine should use, inside the engine's own
/// actor system (it does not exist before the fixture creates it).
using processor_factory = std::function<processor_actor(caf::actor_system&)>;

/// An actor system plus one engine.
class engine_fixture {
public:
  explicit engine_fixture(engine_config cfg, int scheduler_threads = 2);
  /// Same, with `make_processor(system())` as the engine's processor; the
  /// fixture ends it together with the engine.
  engine_fixture(engine_config cfg, const processor_factory& make_processor,
                 int scheduler_threads = 2);
  ~engine_fixture();

  /// Ends `actor` together with the engine, so that the actor system can
  /// shut down (actors a test spawns, e.g. progress listeners).
  template <class Handle>
  void adopt(const Handle& actor) {
    adopted_.push_back(caf::actor_cast<caf::actor>(actor));
  }

  engine_actor& engine() { return engine_; }
  caf::actor_system& system() { return *sys_; }

  /// Sends a request and waits for the answer; throws on error with the
  /// engine error code in the message.
  template <class R, class... Ts>
  R ask(Ts&&... xs) {
    caf::scoped_actor self{*sys_};
    std::optional<R> result;
    caf::error failure;
    self->request(engine_, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](R& r) { result = std::move(r); },
               [&](caf::error& e) { failure = std::move(e); });
    if (!result)
      throw std::runtime_error(std::string("engine error: ")
                               + to_string(engine_code(failure)));
    return std::move(*result);
  }

  /// The engine error code a request answered with R ends with (none on
  /// success). Typed handles need R: CAF checks the reply handler's type.
  template <class R, class... Ts>
  engine_errc ask_error(Ts&&... xs) {
    caf::scoped_actor self{*sys_};
    caf::error failure;
    self->request(engine_, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](R&) {}, [&](caf::error& e) { failure = e; });
    return engine_code(failure);
  }

  /// Graceful stop, then exit.
  void stop();
  /// Exit without releasing leases (as if the process died).
  void kill();

private:
  std::unique_ptr<caf::actor_system_config> cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  engine_actor engine_;
  std::vector<caf::actor> adopted_;
  bool stopped_ = false;
};

} // namespace ogf::testing
