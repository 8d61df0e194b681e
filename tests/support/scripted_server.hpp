// An httplib server on an ephemeral loopback port that answers as a test
// says: for clients that must meet answers the real server never gives
// (503s on demand, foreign error pages, malformed bodies).
#pragma once

#include <chrono>
#include <thread>

#include <httplib.h>

namespace ogf::testing {

/// Runs `setup`'s routes on 127.0.0.1 until it goes away.
struct scripted_server {
  httplib::Server svr;
  int port = 0;
  std::thread thread;

  template <class Setup>
  explicit scripted_server(Setup setup) {
    setup(svr);
    port = svr.bind_to_any_port("127.0.0.1");
    thread = std::thread([this] { svr.listen_after_bind(); });
    while (!svr.is_running())
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ~scripted_server() {
    svr.stop();
    thread.join();
  }
  scripted_server(const scripted_server&) = delete;
  scripted_server& operator=(const scripted_server&) = delete;
};

} // namespace ogf::testing
