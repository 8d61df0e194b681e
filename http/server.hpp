// The REST front end (CONTRACT §2) on cpp-httplib: parse -> validate
// (domain/) -> one typed request into the engine with a timeout -> map the
// result or error to JSON through one error table. No business rules here.
#pragma once

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"
#include "http/auth.hpp"

namespace ogf::http {

/// Options of the HTTP server, with defaults and ranges.
struct http_config {
  /// Address to bind. Default 127.0.0.1.
  std::string host = "127.0.0.1";
  /// Port; 0 binds an ephemeral port (tests). Default 8080.
  int port = 8080;
  /// Pool threads that run requests. Idle and slow connections do not hold
  /// one (they wait on one epoll thread until a whole request head has
  /// arrived); an event stream holds one for its life. Default 32, range
  /// 2..1024.
  int threads = 32;
  /// Open client connections, idle or busy; more are answered 503 and
  /// closed. The soft RLIMIT_NOFILE is raised to fit (up to the hard limit)
  /// or this is lowered. Default 1024, range 16..65536.
  int max_connections = 1024;
  /// Complete requests waiting for a pool thread; more are answered 503
  /// (load shedding). Default 64.
  int max_queued_requests = 64;
  /// Largest request line plus headers; 431 beyond. Default 32 KiB.
  std::size_t max_header_bytes = 32 * 1024;
  /// From its first byte, a request's line and headers must arrive within
  /// this; 408 after. Default 10 s.
  std::chrono::milliseconds header_timeout{10000};
  /// A body over 64 KiB is read by a pool thread, for at most this long.
  /// Default 30 s.
  std::chrono::milliseconds body_timeout{30000};
  /// Most event streams open at once; each holds a pool thread for its
  /// life, so more are answered 503. 0 means half of `threads`. Default 0.
  int max_event_streams = 0;
  /// Most event streams one tenant (org and workspace) may hold at once, so
  /// that no tenant takes every stream; more are answered 503. 0 means half
  /// of the effective `max_event_streams`, at least 1. Default 0.
  int max_event_streams_per_tenant = 0;
  /// Address of a second listener that serves only GET /api/v1/health and
  /// GET /metrics, on 2 threads of its own, so that probes and scrapes are
  /// answered however busy the API is. Empty: no admin listener. Default
  /// empty.
  std::string admin_host;
  /// Port of the admin listener; 0 binds an ephemeral port. Default 0.
  int admin_port = 0;
  /// PEM file with the certificate chain of the API listener (its
  /// certificate first, then intermediates). With tls_key_file, the API
  /// listener serves HTTPS only (TLS 1.2 or newer); both empty: plain HTTP.
  /// The admin listener always stays plain HTTP (local probes). Read once,
  /// by bind(). Default empty.
  std::string tls_cert_file;
  /// PEM file with the unencrypted private key of tls_cert_file's
  /// certificate. Default empty.
  std::string tls_key_file;
  /// Largest accepted body, also after decompression. Default 4 MiB.
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  /// Most activity ids in one batch. Default 10,000.
  int max_batch_activities = 10000;
  /// max_retries of batches that do not say. Default 3.
  int default_max_retries = 3;
  /// Accept callback_urls whose host is a loopback, private, link-local or
  /// other non-public IP address (--webhook-allow-private). Default false.
  bool webhook_allow_private = false;
  /// How long a handler waits for the engine before 503. Default 10 s.
  /// A write (submit, upload, cancel, retry, delete) not committed within
  /// it is dropped or rolled back by the engine, so a 503 for a write
  /// means that nothing was written.
  std::chrono::milliseconds request_timeout{10000};
  /// How much longer than request_timeout a handler waits for a write that
  /// reached its commit just in time (the commit's own round trip). Default
  /// 5 s.
  std::chrono::milliseconds commit_grace{5000};
  /// A connection without a byte of a next request for this long is
  /// closed (also a new one that sends nothing). Default 2 s. A graceful
  /// stop closes idle connections at once.
  std::chrono::seconds keep_alive_timeout{2};
  /// Longest wait for one socket read or write while running a request.
  /// Default 5 s.
  std::chrono::seconds io_timeout{5};
  /// How often an idle event stream polls the batch and writes a comment
  /// (to notice clients that went away, and batches finished on another
  /// node). Default 1 s, range 10 ms..60 s.
  std::chrono::milliseconds event_poll_interval{1000};
  /// Least time between two progress events of one stream. Default 250 ms
  /// (CONTRACT: at most 4 a second).
  std::chrono::milliseconds event_min_gap{250};
  /// How a request's tenant is decided (docs/security.md). Default
  /// headers; `serve` picks keys unless it listens on a loopback address.
  auth_mode auth = auth_mode::headers;
  /// How long an API key looked up in the database is trusted without a
  /// new lookup (also "no such key"): a revocation takes effect on every
  /// node within this plus one lookup. Default 2 s, range 0..4 s (CONTRACT
  /// §4 promises 5 s).
  std::chrono::milliseconds key_cache_ttl{2000};
  /// Requests a second per tenant (org, workspace), bursts up to twice
  /// that; more are answered 429 rate_limited with Retry-After. Health and
  /// metrics do not count. 0 = no limit. Default 0.
  double tenant_rate_limit = 0;
  /// A folder whose files the dashboard serves instead of its compiled-in
  /// ones, read at every request (developing the dashboard without
  /// rebuilding). Default empty: the compiled-in files.
  std::string ui_dir;
  /// Reported by health.
  std::string node_id;
  std::string version = "0.1.0";
};

/// A TLS certificate or key file that cannot be used: unreadable, not PEM,
/// an encrypted key, a key of another certificate, or only one of the two
/// given. The message is one line and names the file.
struct tls_config_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Loads `cert_file` and `key_file` as http_server::bind() does and throws
/// tls_config_error when they cannot serve; lets a program refuse bad files
/// before it starts anything else.
void check_tls_files(const std::string& cert_file, const std::string& key_file);

/// One HTTP server bound to one engine. Serves the routes of
/// http/routes.hpp; see docs/api.md.
class http_server {
public:
  http_server(caf::actor_system& sys, engine_actor engine, http_config cfg);
  ~http_server();

  http_server(const http_server&) = delete;
  http_server& operator=(const http_server&) = delete;

  /// Loads the TLS files (when configured) and binds the listening socket
  /// (and the admin listener's, when configured); returns the API port
  /// (useful with port 0). Throws tls_config_error for unusable TLS files
  /// (before binding anything), std::runtime_error when an address is in
  /// use or invalid.
  int bind();

  /// Whether the API listener serves HTTPS (after bind()).
  bool tls() const;

  /// Serves until stop(); blocks the calling thread (the admin listener
  /// runs on a thread of its own).
  void serve();

  /// Stops accepting, ends event streams, and lets in-flight requests
  /// finish for up to `grace`; connections still busy then are cut off
  /// (their socket reads and writes fail at once), so that a client that
  /// sends slowly cannot hold the stop up. Returns once the admin listener
  /// has stopped; serve() returns once the API listener has. Default grace
  /// 30 s (serve's default --shutdown-timeout).
  void stop(std::chrono::milliseconds grace = std::chrono::seconds(30));

  /// From now on health answers 503 and new submits 503 (graceful stop).
  void set_stopping();

  /// The bound port (after bind()), else 0.
  int port() const;

  /// The bound admin port (after bind(), when configured), else 0.
  int admin_port() const;

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ogf::http
