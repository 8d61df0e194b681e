#include "actors/callback_deliverer.hpp"

#include <algorithm>
#include <array>
#include <condition_variable>
#include <cstdio>
#include <optional>
#include <random>
#include <thread>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sys/socket.h>
#include <unistd.h>

#include <caf/all.hpp>
#include <httplib.h>

#include "common/log.hpp"
#include "domain/callback_url.hpp"
#include "domain/exact_json.hpp"
#include "domain/json_mapping.hpp"
#include "persistence/batch_store.hpp"

namespace ogf {

namespace {

using namespace std::chrono;
using persistence::callback_delivery;
using persistence::callback_outcome;

/// Most deliveries in one go before the actor looks at its mailbox again
/// (an exit message, a wake-up).
constexpr int deliveries_per_round = 20;

/// The address to connect to, or why there is none allowed.
struct resolved_target {
  std::string ip; ///< numeric, for httplib's host -> address map
  std::string error;
};

/// Resolves `host` (getaddrinfo) and checks every address it resolves to:
/// unless `allow_private`, one non-public address refuses the target (a
/// name resolving to both a public and a private address is how DNS
/// rebinding attacks look). The caller connects to the address returned,
/// so nothing is resolved again between this check and the connect.
resolved_target resolve_checked(const std::string& host, int port,
                                bool allow_private) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &found);
      rc != 0)
    return {{}, "cannot resolve " + host + ": " + gai_strerror(rc)};
  resolved_target out;
  for (auto* p = found; p; p = p->ai_next) {
    char text[INET6_ADDRSTRLEN] = {0};
    domain::address_kind kind = domain::address_kind::reserved;
    if (p->ai_family == AF_INET) {
      const auto* sa = reinterpret_cast<const sockaddr_in*>(p->ai_addr);
      std::array<std::uint8_t, 4> a{};
      std::copy_n(reinterpret_cast<const std::uint8_t*>(&sa->sin_addr), 4,
                  a.begin());
      kind = domain::classify_ipv4(a);
      inet_ntop(AF_INET, &sa->sin_addr, text, sizeof text);
    } else if (p->ai_family == AF_INET6) {
      const auto* sa = reinterpret_cast<const sockaddr_in6*>(p->ai_addr);
      std::array<std::uint8_t, 16> a{};
      std::copy_n(sa->sin6_addr.s6_addr, 16, a.begin());
      kind = domain::classify_ipv6(a);
      inet_ntop(AF_INET6, &sa->sin6_addr, text, sizeof text);
    } else {
      continue;
    }
    if (!allow_private && kind != domain::address_kind::public_address) {
      out.ip.clear();
      out.error = "refused: " + host + " resolves to " + text + ", a " +
                  domain::to_string(kind) +
                  " address (non-public targets need "
                  "--webhook-allow-private)";
      break;
    }
    if (out.ip.empty())
      out.ip = text;
  }
  freeaddrinfo(found);
  if (out.ip.empty() && out.error.empty())
    out.error = "cannot resolve " + host + ": no address";
  return out;
}

/// "25 s", "1.1 s": a duration for an error text.
std::string seconds_text(milliseconds ms) {
  auto text = std::to_string(ms.count() / 1000);
  if (auto rest = ms.count() % 1000; rest != 0) {
    char fraction[8];
    std::snprintf(fraction, sizeof fraction, ".%03lld",
                  static_cast<long long>(rest));
    text += fraction;
    while (text.back() == '0')
      text.pop_back();
  }
  return text + " s";
}

std::string exceeded_error(const deliverer_config& cfg) {
  return "attempt exceeded " + seconds_text(attempt_limit(cfg));
}

/// Cuts an attempt's socket at its deadline unless the attempt is over
/// first: cpp-httplib's timeouts bound each read and write, so a receiver
/// sending a byte now and then would otherwise hold the attempt - and this
/// node's only deliverer - past its lease, while another node sends the
/// delivery again.
class attempt_watchdog {
public:
  attempt_watchdog(attempt_socket& socket, steady_clock::time_point deadline)
      : socket_(socket), deadline_(deadline), thread_([this] { watch(); }) {}
  ~attempt_watchdog() { finish(); }
  attempt_watchdog(const attempt_watchdog&) = delete;
  attempt_watchdog& operator=(const attempt_watchdog&) = delete;

  /// Ends the watch; true when the deadline cut the attempt.
  bool finish() {
    {
      std::lock_guard<std::mutex> guard{mutex_};
      done_ = true;
    }
    wake_.notify_one();
    if (thread_.joinable())
      thread_.join();
    return fired_;
  }

private:
  void watch() {
    std::unique_lock<std::mutex> lock{mutex_};
    if (!wake_.wait_until(lock, deadline_, [this] { return done_; })) {
      fired_ = true;
      socket_.cut();
    }
  }

  attempt_socket& socket_;
  steady_clock::time_point deadline_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool done_ = false;
  bool fired_ = false;
  std::thread thread_; // last: it starts once the rest is set up
};

/// How one HTTP attempt went.
struct attempt {
  bool delivered = false;
  bool aborted = false; ///< cut short by a graceful stop: not recorded
  std::string error;
};

/// One attempt, cut at `deadline` (a failed attempt then).
attempt post(const deliverer_config& cfg, const callback_delivery& d,
             const std::string& body, steady_clock::time_point deadline) {
  std::string why;
  auto target = domain::parse_callback_url(d.url, why);
  if (!target)
    return {false, false, "invalid callback_url: " + why};
  auto address = resolve_checked(target->host, target->port, cfg.allow_private);
  if (!address.error.empty())
    return {false, false, address.error};
  if (steady_clock::now() >= deadline) // a slow resolver took it all
    return {false, false, exceeded_error(cfg)};

  attempt_socket socket;
  std::unique_ptr<httplib::ClientImpl> client;
  if (target->https)
    client = std::make_unique<httplib::SSLClient>(target->host, target->port);
  else
    client = std::make_unique<httplib::ClientImpl>(target->host, target->port);
  // Connect to the address just checked, not to a second resolution of the
  // name; Host, SNI and certificate checks still use the name.
  client->set_hostname_addr_map({{target->host, address.ip}});
  client->set_connection_timeout(
      duration_cast<microseconds>(cfg.connect_timeout));
  client->set_read_timeout(duration_cast<microseconds>(cfg.read_timeout));
  client->set_write_timeout(duration_cast<microseconds>(cfg.read_timeout));
  client->set_follow_location(false); // a 3xx is a failed attempt
  client->set_keep_alive(false);
  client->set_socket_options([&socket](socket_t fd) { socket.adopt(fd); });
  if (target->https)
    client->enable_server_certificate_verification(true);

  httplib::Request req;
  req.method = "POST";
  req.path = target->target;
  req.headers = {
      {"Host", target->authority},
      {"User-Agent", "offgridflow-batch/" + cfg.version},
      {"X-OGF-Event", d.event},
      {"X-OGF-Delivery", d.id},
      {"X-OGF-Signature", webhook_signature(cfg.secret, body)},
  };
  req.body = body;
  req.set_header("Content-Type", "application/json; charset=utf-8");
  int status = -1;
  std::size_t read = 0;
  req.response_handler = [&](const httplib::Response& r) {
    status = r.status;
    return true;
  };
  // The answer's body is not needed: read a little of it, then hang up.
  req.content_receiver = [&](const char*, std::size_t n, std::uint64_t,
                             std::uint64_t) {
    read += n;
    return read < max_callback_response_bytes;
  };
  httplib::Response res;
  httplib::Error error = httplib::Error::Success;
  cfg.abort->set_current(&socket);
  if (cfg.abort->aborted()) {
    cfg.abort->set_current(nullptr);
    return {false, true, {}};
  }
  bool ok = false;
  bool exceeded = false;
  {
    attempt_watchdog watchdog{socket, deadline};
    ok = client->send(req, res, error);
    exceeded = watchdog.finish();
  }
  cfg.abort->set_current(nullptr);
  if (cfg.abort->aborted())
    return {false, true, {}};
  if (status < 0 && ok)
    status = res.status;
  // A 2xx status delivers it even when the deadline then cut the reading
  // of the answer's body (which is not needed).
  if (status >= 200 && status < 300)
    return {true, false, {}};
  if (status > 0)
    return {false, false, "HTTP " + std::to_string(status)};
  if (exceeded)
    return {false, false, exceeded_error(cfg)};
  return {false, false, "request failed: " + httplib::to_string(error)};
}

struct deliverer_state {
  deliverer_config cfg;
  std::unique_ptr<persistence::batch_store> store;
  std::mt19937_64 rng{std::random_device{}()};
  static inline const char* name = "ogf.callback_deliverer";

  /// The store, connecting first when needed; nullptr while the database
  /// cannot be reached (the next tick tries again).
  persistence::batch_store* connected() {
    if (store && !store->usable())
      store.reset();
    if (!store) {
      persistence::store_config sc;
      sc.database_url = cfg.database_url;
      sc.node_id = cfg.node_id;
      sc.application_name = "offgridflow-batch-callbacks";
      try {
        store = std::make_unique<persistence::batch_store>(sc);
      } catch (const std::exception& e) {
        log::warn("callback deliverer cannot connect",
                  {{"error", std::string(e.what())}});
        return nullptr;
      }
    }
    return store.get();
  }

  /// Delivers what is due, at most deliveries_per_round; true when that
  /// many went (more may be due).
  bool deliver_due() {
    int sent = 0;
    for (; sent < deliveries_per_round; ++sent) {
      if (cfg.abort->aborted())
        return false;
      auto* s = connected();
      if (!s)
        return false;
      std::optional<callback_delivery> d;
      // From before the claim: the attempt ends before the lease does.
      auto deadline = steady_clock::now() + attempt_limit(cfg);
      try {
        d = s->claim_callback(delivery_lease(cfg));
      } catch (const std::exception& e) {
        log::warn("callback claim failed", {{"error", std::string(e.what())}});
        store.reset();
        return false;
      }
      if (!d)
        return false;
      deliver(*d, deadline);
    }
    return true;
  }

  void deliver(const callback_delivery& d, steady_clock::time_point deadline) {
    auto body = domain::dump_exact(domain::to_json(d.batch));
    auto result = post(cfg, d, body, deadline);
    if (result.aborted)
      return; // the lease runs out; the same delivery goes again later
    auto& c = *cfg.counters;
    milliseconds retry_in{0};
    std::optional<std::string> error;
    if (result.delivered) {
      ++c.delivered;
    } else {
      ++c.failed_attempts;
      std::uniform_real_distribution<double> jitter(0.0, 1.0);
      retry_in = domain::callback_backoff(d.attempts + 1, cfg.backoff_base,
                                          cfg.backoff_cap, jitter(rng));
      error = result.error;
    }
    try {
      auto* s = connected();
      if (!s)
        return; // not recorded: the lease runs out and it goes again
      auto status = s->record_callback_attempt(
          d,
          result.delivered ? callback_outcome::delivered
                           : callback_outcome::retry,
          error, retry_in, cfg.give_up_after);
      if (status && *status == "failed") {
        ++c.given_up;
        log::warn("callback given up", {{"delivery_id", d.id},
                                        {"batch_id", d.batch.id},
                                        {"attempts", d.attempts + 1},
                                        {"error", result.error}});
      } else if (!result.delivered) {
        log::info("callback attempt failed", {{"delivery_id", d.id},
                                              {"batch_id", d.batch.id},
                                              {"attempt", d.attempts + 1},
                                              {"error", result.error}});
      }
    } catch (const std::exception& e) {
      log::warn("recording a callback attempt failed",
                {{"delivery_id", d.id}, {"error", std::string(e.what())}});
      store.reset();
    }
  }

  /// Refreshes the outbox gauges; returns when to poll next.
  milliseconds refresh_stats() {
    auto next = cfg.poll_interval;
    auto* s = connected();
    if (!s)
      return next;
    try {
      auto stats = s->callback_stats();
      cfg.counters->undelivered = stats.undelivered;
      cfg.counters->oldest_undelivered_ms =
          static_cast<std::int64_t>(stats.oldest_age_seconds * 1000.0);
      if (stats.next_due_in)
        next = std::clamp(*stats.next_due_in + milliseconds(5),
                          milliseconds(10), cfg.poll_interval);
    } catch (const std::exception& e) {
      log::warn("callback outbox stats failed",
                {{"error", std::string(e.what())}});
      store.reset();
    }
    return next;
  }
};

deliverer_actor::behavior_type
deliverer(deliverer_actor::stateful_pointer<deliverer_state> self,
          deliverer_config cfg) {
  self->state.cfg = std::move(cfg);
  self->send(self, tick_atom_v);
  return {
      // A batch with a callback ended on this node (or more is due).
      [self](wake_atom) {
        if (self->state.deliver_due())
          self->send(self, wake_atom_v);
      },
      // The poll timer: the only timer, rescheduled here alone.
      [self](tick_atom) {
        auto& st = self->state;
        bool more = st.deliver_due();
        auto next = st.refresh_stats();
        if (more)
          self->send(self, wake_atom_v);
        self->delayed_send(self, next, tick_atom_v);
      },
  };
}

} // namespace

attempt_socket::~attempt_socket() {
  if (fd_ >= 0)
    ::close(fd_);
}

void attempt_socket::adopt(int fd) {
  std::lock_guard<std::mutex> guard{mutex_};
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = ::fcntl(fd, F_DUPFD_CLOEXEC, 0);
  // No duplicate (out of descriptors): an attempt nothing could cut short
  // is not made; shutting the client's socket down here, on its own
  // thread before the connect, fails it now (retried with backoff).
  if (fd_ < 0 || cut_)
    ::shutdown(fd_ >= 0 ? fd_ : fd, SHUT_RDWR);
}

void attempt_socket::cut() {
  std::lock_guard<std::mutex> guard{mutex_};
  cut_ = true;
  if (fd_ >= 0)
    ::shutdown(fd_, SHUT_RDWR);
}

void delivery_abort::abort_all() {
  std::lock_guard<std::mutex> guard{mutex_};
  aborted_ = true;
  if (current_)
    current_->cut();
}

void delivery_abort::set_current(attempt_socket* socket) {
  std::lock_guard<std::mutex> guard{mutex_};
  current_ = socket;
}

milliseconds attempt_limit(const deliverer_config& cfg) {
  return cfg.connect_timeout + 2 * cfg.read_timeout;
}

milliseconds delivery_lease(const deliverer_config& cfg) {
  return attempt_limit(cfg) + std::min(cfg.read_timeout, milliseconds(5000));
}

std::string webhook_signature(const std::string& secret,
                              const std::string& body) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_len = 0;
  // The empty key is a valid key: give HMAC a real pointer for it all the
  // same (a null key means "reuse the previous key" in parts of OpenSSL).
  static const unsigned char empty_key = 0;
  const void* key =
      secret.empty() ? static_cast<const void*>(&empty_key) : secret.data();
  HMAC(EVP_sha256(), key, static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(body.data()), body.size(), mac,
       &mac_len);
  static constexpr char hex[] = "0123456789abcdef";
  std::string out = "sha256=";
  out.reserve(7 + 2 * mac_len);
  for (unsigned int i = 0; i < mac_len; ++i) {
    out += hex[mac[i] >> 4];
    out += hex[mac[i] & 0xf];
  }
  return out;
}

deliverer_actor spawn_callback_deliverer(caf::actor_system& sys,
                                         deliverer_config cfg) {
  return sys.spawn<caf::detached>(deliverer, std::move(cfg));
}

} // namespace ogf
