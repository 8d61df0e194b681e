// The callback deliverer: sends completion callbacks (CONTRACT §7) from the
// outbox that migration 009's trigger fills when a batch with a
// callback_url ends. A detached actor with its own database connection
// (one batch_store): it claims one due delivery at a time with a lease,
// POSTs the batch object, records the attempt under the lease's token, and
// retries failures with full-jitter exponential backoff until 24 h after
// the end. The HTTP call blocks only this actor's own thread, never CAF's
// scheduler (workers, poller). Every node runs a pool of them
// (engine_config::webhook_deliverers); all share the outbox through FOR
// UPDATE SKIP LOCKED, and a delivery whose node died is taken over when
// its lease runs out - with the same delivery id.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include <caf/actor_system.hpp>

#include "actors/interfaces.hpp"

namespace ogf {

/// Counters of a node's deliverers (shared by the pool), read by metrics
/// (engine_stats) without asking the actor, which may be inside an HTTP call.
struct deliverer_counters {
  std::atomic<std::int64_t> delivered{0};       ///< 2xx answers
  std::atomic<std::int64_t> failed_attempts{0}; ///< attempts that failed
  std::atomic<std::int64_t> given_up{0};        ///< deliveries failed for good
  /// Undelivered callbacks in the whole database, as of the last poll.
  std::atomic<std::int64_t> undelivered{0};
  /// Age of the oldest undelivered one's end, ms, as of the last poll.
  std::atomic<std::int64_t> oldest_undelivered_ms{0};
};

/// The socket of one HTTP attempt, held through a duplicate descriptor of
/// its own: cut() shuts the socket down, which ends whatever the client
/// does with it - connect, TLS handshake, write or read - at once, from
/// any thread. Not cpp-httplib 0.11.4's Client::stop(): that takes the
/// client's socket mutex, which the client holds through the connect and
/// the TLS handshake, so it would wait as long as a receiver trickles its
/// handshake. And not the client's own descriptor: the client may close it
/// while cut() runs, and the process reuse its number for another
/// connection; this one stays open until the attempt is over.
class attempt_socket {
public:
  attempt_socket() = default;
  attempt_socket(const attempt_socket&) = delete;
  attempt_socket& operator=(const attempt_socket&) = delete;
  ~attempt_socket();
  /// The client's new socket (its socket_options hook, before connect).
  /// Already cut: shut down at once.
  void adopt(int fd);
  /// Shuts the socket down now, and any adopted later.
  void cut();

private:
  std::mutex mutex_;
  int fd_ = -1;
  bool cut_ = false;
};

/// Lets another thread cut the deliverer's HTTP call in flight short (a
/// graceful stop): the attempt is not recorded, its lease runs out, and
/// the delivery is sent again, with the same id, by whichever node claims
/// it next.
class delivery_abort {
public:
  /// Stops the call in flight, if any, and every later one.
  void abort_all();
  bool aborted() const { return aborted_.load(); }
  /// Registers (or, with nullptr, unregisters) the call in flight.
  void set_current(attempt_socket* socket);

private:
  std::mutex mutex_;
  attempt_socket* current_ = nullptr;
  std::atomic<bool> aborted_{false};
};

/// Options of the deliverer; engine_config carries them (webhook_*).
struct deliverer_config {
  std::string database_url;
  std::string node_id;
  /// Key of the X-OGF-Signature HMAC; empty is the empty key.
  std::string secret;
  /// Deliver to loopback, private, link-local and other non-public
  /// addresses too. Default false.
  bool allow_private = false;
  /// Connect timeout of one attempt. Default 5 s.
  std::chrono::milliseconds connect_timeout{5000};
  /// Read (and write) timeout of one attempt. Default 10 s. They bound
  /// each read and write, not the attempt: a receiver trickling bytes
  /// meets neither. A watchdog cuts every attempt connect_timeout +
  /// 2 x read_timeout after its claim (attempt_limit), within its lease.
  std::chrono::milliseconds read_timeout{10000};
  /// How often the outbox is polled for deliveries due (other nodes'
  /// ends, retries). Default 2 s; sooner when a retry is due sooner.
  std::chrono::milliseconds poll_interval{2000};
  /// Full-jitter backoff: the n-th failed attempt waits a random time up
  /// to min(backoff_cap, backoff_base * 2^(n-1)). Defaults 1 s and 1 h.
  std::chrono::milliseconds backoff_base{1000};
  std::chrono::milliseconds backoff_cap{3600000};
  /// After this long since the batch's end, a failed attempt is the last:
  /// the delivery fails for good. Default 24 h.
  std::chrono::milliseconds give_up_after{std::chrono::hours(24)};
  /// User-Agent of the requests.
  std::string version = "0.1.0";
  std::shared_ptr<deliverer_counters> counters =
      std::make_shared<deliverer_counters>();
  std::shared_ptr<delivery_abort> abort = std::make_shared<delivery_abort>();
};

/// Most bytes of a receiver's answer that are read; the rest is ignored.
inline constexpr std::size_t max_callback_response_bytes = 4096;

/// Longest one attempt may take from its claim (resolving, connecting,
/// sending and reading the answer's status): connect_timeout + 2 x
/// read_timeout. A watchdog cuts the attempt there; it is a failed attempt
/// ("attempt exceeded N s").
std::chrono::milliseconds attempt_limit(const deliverer_config& cfg);

/// How long a claim holds a delivery: attempt_limit plus a margin of
/// min(read_timeout, 5 s) for recording the attempt. No other node sends
/// it meanwhile.
std::chrono::milliseconds delivery_lease(const deliverer_config& cfg);

/// "sha256=<lower-case hex HMAC-SHA256 of body keyed with secret>", the
/// X-OGF-Signature header.
std::string webhook_signature(const std::string& secret,
                              const std::string& body);

/// Spawns a detached deliverer; it polls on its own until it exits (linked
/// to the engine). Send it `wake` when a batch with a callback ended here.
deliverer_actor spawn_callback_deliverer(caf::actor_system& sys,
                                         deliverer_config cfg);

} // namespace ogf
