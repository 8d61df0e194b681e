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

/// An actor system plus one engine.
class engine_fixture {
public:
  explicit engine_fixture(engine_config cfg, int scheduler_threads = 2);
  ~engine_fixture();

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

  /// The engine error code a request ends with (none on success).
  template <class... Ts>
  engine_errc ask_error(Ts&&... xs) {
    caf::scoped_actor self{*sys_};
    caf::error failure;
    self->request(engine_, std::chrono::seconds(30), std::forward<Ts>(xs)...)
      .receive([&](caf::message&) {}, [&](caf::error& e) { failure = e; });
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
  bool stopped_ = false;
};

} // namespace ogf::testing
