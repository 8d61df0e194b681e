// Connection handling in front of cpp-httplib (internal to http/).
//
// cpp-httplib 0.11 gives every connection a pool thread for its whole life:
// an idle keep-alive client, a client that sends its headers one byte a
// second, or one that connects and says nothing each hold a thread, and a
// few hundred of them starve everyone else (shared/notes/stack.md §4).
// gated_server keeps that model for the one part where it is needed (running
// a request) and moves everything else onto a single epoll thread:
//
//   accept ──► parked (epoll: idle, or reading a request head) ──► queue ──►
//   worker
//                 ▲   │ head + small body complete          (bounded)      │
//                 │   └─ timeout / too big / full: canned answer, close    │
//                 └──────────── keep-alive: back to parked ◄───────────────┘
//
// * Parked connections cost a file descriptor and their buffered bytes, no
//   thread. A request goes to a worker only when its head (and its body,
//   when small) has arrived, so slow senders never hold a worker while
//   their head trickles in; bodies over max_buffered_body are read by the
//   worker, within body_timeout.
// * Bounded everywhere: open connections (max_connections), head size
//   (max_head_bytes), time to send a head (head_timeout), idle time between
//   requests (idle_timeout), requests waiting for a worker (max_queued).
//   Beyond a bound the client gets a short canned answer (503, 408, 431)
//   and the connection is closed; nothing waits unboundedly.
// * Closes are lingering: after a last answer the write side is shut and
//   what the client still sends is drained for up to 1 s on the epoll
//   thread, so that a client still sending a refused body reads the answer
//   instead of a reset.
// * The listen backlog is raised from cpp-httplib's 5 to SOMAXCONN.
//
// cpp-httplib's request-line parser knows ten methods and answers any other
// with 400 before a hook runs. A request with another well-formed method
// (PROPFIND, BREW) reaches it under a stand-in method instead, and the
// real one is put back before routing: the pre-routing handler sees it and
// can answer it like any method it does not serve (405 with Allow, 404).
//
// With TLS (set_tls), every byte goes through a transport (http/
// transport.hpp) instead of the socket: the handshake runs in non-blocking
// steps on the epoll thread, counted against max_connections and bounded
// by head_timeout like a slow head (a client that never finishes it is
// closed without an answer: there is no channel for one), then the
// connection is parked and served exactly as above, canned answers and
// lingering closes (close_notify first) included. A connection over
// max_connections gets its 503 after a handshake too, for up to 32 such
// connections at a time (2 s each to finish it); more are closed at once.
// Plain HTTP uses the same path with a transport that is the socket itself.
//
// It works by overriding Server::process_and_close_socket (virtual in
// cpp-httplib 0.11; the listen loop hands it every accepted socket) and by
// running cpp-httplib's own request processing (Server::process_request,
// protected) on a Stream of our own.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>

#include <httplib.h>

namespace ogf::http {

/// Limits of a gated_server; defaults are those of the public API port.
struct gate_config {
  /// Threads that run requests. Default 32.
  std::size_t workers = 32;
  /// Open connections, parked or busy; more are answered 503 and closed.
  /// The process's soft RLIMIT_NOFILE is raised (up to the hard limit) to
  /// make room for them plus a reserve of 128; when it cannot be, the
  /// limit is lowered to fit. Default 1024.
  std::size_t max_connections = 1024;
  /// Complete requests waiting for a worker; more are answered 503.
  /// Default 64.
  std::size_t max_queued = 64;
  /// Largest request head (request line and headers); beyond: 431.
  /// Default 32 KiB.
  std::size_t max_head_bytes = 32 * 1024;
  /// Bodies up to this size are read before a worker is involved; larger
  /// ones are read by the worker. Default 64 KiB.
  std::size_t max_buffered_body = 64 * 1024;
  /// A connection without a byte of a next request for this long is closed
  /// (also a new connection that says nothing). Default 2 s.
  std::chrono::milliseconds idle_timeout{2000};
  /// From its first byte, a request's head (and its buffered body) must
  /// arrive within this; beyond: 408. Default 10 s.
  std::chrono::milliseconds head_timeout{10000};
  /// A worker reads a large body for at most this long. Default 30 s.
  std::chrono::milliseconds body_timeout{30000};
  /// Longest wait for one socket read or write by a worker. Default 5 s.
  std::chrono::milliseconds io_timeout{5000};
  /// Requests served on one connection before it is closed. Default 100,000.
  std::size_t keep_alive_max = 100000;
};

/// Why a connection was refused or cut (the `reason` metric label).
enum class refusal {
  over_capacity, ///< max_connections open: 503
  queue_full,    ///< max_queued requests waiting: 503
  head_timeout,  ///< head not complete within head_timeout: 408
  head_too_large ///< head over max_head_bytes: 431
};

/// The label of a refusal: "over_capacity", "queue_full", "head_timeout",
/// "head_too_large".
const char* to_string(refusal r);

/// A fresh request id: 32 hex digits. Answers the gate makes up itself
/// (refusals) carry one in X-Request-ID, like every other answer.
std::string new_request_id();

/// Connection counts of a gated_server, for metrics and tests.
struct gate_stats {
  std::size_t open = 0;            ///< connections held, parked or busy
  std::size_t parked = 0;          ///< waiting on the epoll thread
  std::size_t queued = 0;          ///< complete requests waiting for a worker
  std::size_t busy = 0;            ///< workers running a request
  std::size_t max_connections = 0; ///< the effective limit
};

/// A cpp-httplib server whose connections are parked on one epoll thread
/// between requests (see the file comment). Configure it like any
/// httplib::Server, except new_task_queue, which it owns.
class gated_server : public httplib::Server {
public:
  explicit gated_server(gate_config cfg);
  ~gated_server() override;

  gated_server(const gated_server&) = delete;
  gated_server& operator=(const gated_server&) = delete;

  /// Called for every refusal, on the listen or the epoll thread (keep it
  /// short). Set before listening.
  std::function<void(refusal)> on_refusal;

  /// Current counts; safe from any thread.
  gate_stats stats() const;

  /// Serves HTTPS with `ctx` (see make_tls_context in http/transport.hpp)
  /// instead of plain HTTP; null (the default) for plain HTTP. Set before
  /// listening.
  void set_tls(std::shared_ptr<SSL_CTX> ctx);

  /// Whether set_tls() gave a context.
  bool tls() const { return tls_ != nullptr; }

  /// Raises the listen backlog of the bound socket from cpp-httplib's 5 to
  /// SOMAXCONN. Call right after bind_to_port: connections that arrive
  /// before listening starts wait in that backlog. (Listening does it too.)
  void raise_backlog();

  /// Stops like httplib::Server::stop() (which waits for every request to
  /// end, however slowly its client sends), but by `deadline`: requests
  /// still running then have their sockets shut down, so that their reads
  /// and writes fail at once, and requests still waiting for a worker are
  /// answered 503. A handler that does not touch its socket still ends on
  /// its own (its engine request has a timeout). Returns at once;
  /// listen_after_bind() returns when the stop is complete.
  void stop_by(std::chrono::steady_clock::time_point deadline);

private:
  struct machinery;
  struct accept_queue;

  bool process_and_close_socket(socket_t sock) override;

  gate_config cfg_;
  std::shared_ptr<SSL_CTX> tls_; ///< null: plain HTTP
  /// Set by stop_by(); a plain stop() waits without a bound.
  std::atomic<std::chrono::steady_clock::time_point> stop_deadline_{
      std::chrono::steady_clock::time_point::max()};
  /// The running part, while listening (std::atomic_load/store: stats()
  /// may be called from other threads while the server stops).
  std::shared_ptr<machinery> running_;
};

} // namespace ogf::http
