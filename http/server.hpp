// The REST front end (CONTRACT §2) on cpp-httplib: parse -> validate
// (domain/) -> one typed request into the engine with a timeout -> map the
// result or error to JSON through one error table. No business rules here.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf::http {

/// Options of the HTTP server, with defaults and ranges.
struct http_config {
  /// Address to bind. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  /// Port; 0 binds an ephemeral port (tests). Default 8080.
  int port = 8080;
  /// Pool threads. Each keep-alive connection holds one for its life, so
  /// this bounds concurrent clients. Default 32, range 2..1024.
  int threads = 32;
  /// Largest accepted body, also after decompression. Default 4 MiB.
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  /// Most activity ids in one batch. Default 10,000.
  int max_batch_activities = 10000;
  /// max_retries of batches that do not say. Default 3.
  int default_max_retries = 3;
  /// How long a handler waits for the engine before 503. Default 10 s.
  std::chrono::milliseconds request_timeout{10000};
  /// Idle keep-alive connections are closed after this. Default 2 s (it
  /// also bounds how long a graceful stop waits for idle clients).
  std::chrono::seconds keep_alive_timeout{2};
  /// Read and write timeouts per socket operation. Default 5 s.
  std::chrono::seconds io_timeout{5};
  /// How often an idle event stream polls the batch and writes a comment
  /// (to notice clients that went away, and batches finished on another
  /// node). Default 1 s, range 10 ms..60 s.
  std::chrono::milliseconds event_poll_interval{1000};
  /// Least time between two progress events of one stream. Default 250 ms
  /// (CONTRACT: at most 4 a second).
  std::chrono::milliseconds event_min_gap{250};
  /// Reported by health.
  std::string node_id;
  std::string version = "0.1.0";
};

/// One HTTP server bound to one engine. Serves the routes of
/// http/routes.hpp; see docs/api.md.
class http_server {
public:
  http_server(caf::actor_system& sys, engine_actor engine, http_config cfg);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Binds the listening socket; returns the port (useful with port 0).
  /// Throws std::runtime_error when the address is in use or invalid.
  int bind();

  /// Serves until stop(); blocks the calling thread.
  void serve();

  /// Stops accepting and returns once in-flight requests are done.
  void stop();

  /// From now on health answers 503 and new submits 503 (graceful stop).
  void set_stopping();

  /// The bound port (after bind()), else 0.
  int port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ogf::http
