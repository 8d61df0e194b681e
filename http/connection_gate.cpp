#include "http/connection_gate.hpp"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <condition_variable>
#include <cstdio>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain/json_mapping.hpp"
#include "http/transport.hpp"

namespace ogf::http {

namespace {

using clock_type = std::chrono::steady_clock;
using std::chrono::milliseconds;

/// File descriptors kept for everything but client connections (database,
/// logs, the engine's own sockets).
constexpr std::size_t fd_reserve = 128;
/// How long a refused connection is drained after its answer, so that
/// closing it does not reset the answer away (a close with unread input
/// sends RST).
constexpr milliseconds linger_time{1000};
/// Bytes read from a parked connection at a time.
constexpr std::size_t read_chunk = 16 * 1024;
/// How often the epoll thread looks for expired deadlines.
constexpr milliseconds sweep_interval{50};
/// Most reads from one connection per wake-up, so that a fast sender cannot
/// keep the epoll thread to itself (epoll is level-triggered: the rest is
/// read on the next round).
constexpr int reads_per_wakeup = 8;
/// With TLS, connections beyond max_connections cannot simply be answered
/// 503: the answer needs a handshake first. Up to this many of them at a
/// time get one (and their 503); more are closed at once.
constexpr std::size_t tls_refusal_reserve = 32;
/// How long such a refused TLS connection may take for its handshake.
constexpr milliseconds tls_refusal_handshake_time{2000};

/// One client connection and the bytes it sent that no request consumed
/// yet. Owned by exactly one thread at a time: the epoll thread while
/// parked, a worker while queued or busy.
struct connection {
  int fd = -1;
  std::unique_ptr<transport> io; ///< the socket itself, or TLS over it
  std::string in;                ///< received, not yet consumed
  std::size_t scanned = 0;     ///< `in` searched for the head's end up to here
  std::size_t head_end = 0;    ///< where the head ends in `in`, once found
  std::size_t served = 0;      ///< requests answered on this connection
  bool reading = false;        ///< a request's first byte has arrived
  bool lingering = false;      ///< refused: draining input until closed
  bool handshaking = false;    ///< TLS handshake not complete yet
  bool over_capacity = false;  ///< TLS over max_connections: 503 after the
                               ///< handshake (counted apart from `open`)
  bool watching_write = false; ///< epoll waits for writability (handshake)
  clock_type::time_point deadline; ///< idle, head or linger deadline
};

using connection_ptr = std::unique_ptr<connection>;

enum class readiness { need_more, ready, head_too_large };

/// Position just after the blank line that ends a request head, or npos.
/// Starts at `from` (minus the 3 bytes a split "\r\n\r\n" may reach back).
std::size_t find_head_end(std::string_view in, std::size_t from) {
  for (std::size_t i = from > 3 ? from - 3 : 0; i < in.size(); ++i) {
    if (in[i] != '\n')
      continue;
    if (i + 1 < in.size() && in[i + 1] == '\n')
      return i + 2;
    if (i + 2 < in.size() && in[i + 1] == '\r' && in[i + 2] == '\n')
      return i + 3;
  }
  return std::string_view::npos;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() &&
         std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

/// The body length a head announces when the body may be buffered here: a
/// single, plain Content-Length (0 when there is none), no Transfer- or
/// Content-Encoding and no Expect. Anything else (chunked, compressed,
/// repeated or malformed lengths) goes to a worker at once, where the
/// pre-routing checks answer it without reading the body.
std::optional<std::size_t> plain_content_length(std::string_view head) {
  std::optional<std::size_t> length;
  int seen = 0;
  while (!head.empty()) {
    auto eol = head.find('\n');
    auto line = head.substr(0, eol);
    head.remove_prefix(eol == std::string_view::npos ? head.size() : eol + 1);
    auto colon = line.find(':');
    if (colon == std::string_view::npos)
      continue;
    auto name = line.substr(0, colon);
    // A client that sends Expect: 100-continue waits for the interim
    // answer before its body; cpp-httplib gives it. Encoded bodies are
    // refused without being read.
    if (iequals(name, "transfer-encoding") || iequals(name, "expect") ||
        iequals(name, "content-encoding"))
      return std::nullopt;
    if (!iequals(name, "content-length"))
      continue;
    auto value = line.substr(colon + 1);
    while (!value.empty() && (value.front() == ' ' || value.front() == '\t'))
      value.remove_prefix(1);
    while (!value.empty() && (value.back() == ' ' || value.back() == '\t' ||
                              value.back() == '\r'))
      value.remove_suffix(1);
    if (++seen > 1 || value.empty() || value.size() > 18 ||
        value.find_first_not_of("0123456789") != std::string_view::npos)
      return std::nullopt;
    length = std::stoull(std::string(value));
  }
  return length ? length : std::optional<std::size_t>{0};
}

/// Whether `c` holds a request a worker can run without waiting for more
/// bytes of its head or of a small body.
readiness check_request(connection& c, const gate_config& cfg) {
  if (c.head_end == 0) {
    auto end = find_head_end(c.in, c.scanned);
    c.scanned = c.in.size();
    if (end == std::string_view::npos)
      return c.in.size() > cfg.max_head_bytes ? readiness::head_too_large
                                              : readiness::need_more;
    c.head_end = end;
  }
  auto end = c.head_end;
  if (end > cfg.max_head_bytes)
    return readiness::head_too_large;
  auto body = plain_content_length(std::string_view{c.in}.substr(0, end));
  if (body && *body <= cfg.max_buffered_body && c.in.size() < end + *body)
    return readiness::need_more;
  return readiness::ready;
}

/// A complete answer with the contract's error body, for refusals made
/// before cpp-httplib sees the request.
std::string canned_answer(int status, const char* reason, const char* code,
                          const char* message) {
  auto body = domain::error_body(code, message, nullptr).dump();
  std::string out =
      "HTTP/1.1 " + std::to_string(status) + " " + reason +
      "\r\nContent-Type: application/json; charset=utf-8"
      "\r\nContent-Length: " +
      std::to_string(body.size()) +
      "\r\nConnection: close\r\nX-Request-ID: " + new_request_id() + "\r\n";
  if (status == 503)
    out += "Retry-After: 1\r\n";
  return out + "\r\n" + body;
}

std::string answer_for(refusal r) {
  switch (r) {
  case refusal::over_capacity:
    return canned_answer(
        503, "Service Unavailable", "unavailable",
        "the server has too many open connections; retry later");
  case refusal::queue_full:
    return canned_answer(503, "Service Unavailable", "unavailable",
                         "the server is busy; retry later");
  case refusal::head_timeout:
    return canned_answer(408, "Request Timeout", "request_timeout",
                         "the request head did not arrive in time");
  case refusal::head_too_large:
    break;
  }
  return canned_answer(431, "Request Header Fields Too Large",
                       "request_header_fields_too_large",
                       "the request line and headers are too large");
}

/// Whether `c` is a tchar of RFC 9110 (methods are tokens of them).
bool is_token_char(unsigned char c) {
  return std::isalnum(c) ||
         (c != 0 && std::strchr("!#$%&'*+-.^_`|~", c) != nullptr);
}

/// When the request at the start of `c.in` has a well-formed method that
/// cpp-httplib's parser refuses, replaces it there with a stand-in that
/// parser accepts (PRI: nothing routes it) and returns the real one, to be
/// put back before routing; otherwise returns an empty string. The head
/// is complete in `c.in` (a request is queued only then).
std::string swap_foreign_method(connection& c) {
  static const std::string_view parsed[] = {
      "GET",     "HEAD",    "POST",  "PUT",   "DELETE",
      "CONNECT", "OPTIONS", "TRACE", "PATCH", "PRI"};
  static const std::string stand_in = "PRI";
  auto end = c.in.find(' ');
  if (end == std::string::npos || end == 0 || end >= c.head_end)
    return {};
  std::string_view method{c.in.data(), end};
  for (unsigned char ch : method)
    if (!is_token_char(ch))
      return {}; // malformed: cpp-httplib answers 400
  for (auto known : parsed)
    if (method == known)
      return {};
  std::string real{method};
  c.in.replace(0, end, stand_in);
  c.head_end = c.head_end - real.size() + stand_in.size();
  return real;
}

/// Writes what fits into the socket buffer without waiting; the answers
/// above are far smaller than any socket buffer.
void send_now(connection& c, const std::string& bytes) {
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto r = c.io->send(bytes.data() + sent, bytes.size() - sent);
    if (r.status != io_status::done || r.bytes == 0)
      return;
    sent += r.bytes;
  }
}

bool wait_for(int fd, short events, milliseconds timeout) {
  pollfd p{fd, events, 0};
  for (;;) {
    auto n =
        ::poll(&p, 1, static_cast<int>(std::max<long>(0, timeout.count())));
    if (n < 0 && errno == EINTR)
      continue;
    return n > 0;
  }
}

void address_of(int fd, bool peer, std::string& ip, int& port) {
  sockaddr_storage addr{};
  socklen_t len = sizeof addr;
  auto* sa = reinterpret_cast<sockaddr*>(&addr);
  if ((peer ? getpeername(fd, sa, &len) : getsockname(fd, sa, &len)) != 0)
    return;
  char text[INET6_ADDRSTRLEN] = {};
  if (addr.ss_family == AF_INET) {
    auto* v4 = reinterpret_cast<sockaddr_in*>(&addr);
    inet_ntop(AF_INET, &v4->sin_addr, text, sizeof text);
    port = ntohs(v4->sin_port);
  } else if (addr.ss_family == AF_INET6) {
    auto* v6 = reinterpret_cast<sockaddr_in6*>(&addr);
    inet_ntop(AF_INET6, &v6->sin6_addr, text, sizeof text);
    port = ntohs(v6->sin6_port);
  }
  ip = text;
}

/// The Stream cpp-httplib reads one request from and writes its answer
/// to: first the bytes the epoll thread buffered, then the socket. Reads
/// stop at `read_deadline`; each socket wait at `io_timeout`.
class connection_stream final : public httplib::Stream {
public:
  connection_stream(connection& c, clock_type::time_point read_deadline,
                    milliseconds io_timeout)
      : c_(c), read_deadline_(read_deadline), io_timeout_(io_timeout) {}

  ~connection_stream() override { c_.in.erase(0, consumed_); }

  /// Bytes of the connection read so far through this stream.
  std::size_t consumed() const { return consumed_ + from_socket_; }

  bool is_readable() const override {
    // Bytes TLS decrypted already are not seen by poll.
    return consumed_ < c_.in.size() || c_.io->pending() > 0 ||
           wait_for(c_.fd, POLLIN, io_timeout_);
  }

  bool is_writable() const override {
    return wait_for(c_.fd, POLLOUT, io_timeout_);
  }

  ssize_t read(char* ptr, std::size_t size) override {
    if (consumed_ < c_.in.size()) {
      auto n = std::min(size, c_.in.size() - consumed_);
      std::memcpy(ptr, c_.in.data() + consumed_, n);
      consumed_ += n;
      return static_cast<ssize_t>(n);
    }
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(read_deadline_ -
                                                           clock_type::now());
      if (left.count() <= 0)
        return -1;
      auto r = c_.io->receive(ptr, size);
      switch (r.status) {
      case io_status::done:
        from_socket_ += r.bytes;
        return static_cast<ssize_t>(r.bytes);
      case io_status::closed:
        return 0;
      case io_status::failed:
        return -1;
      case io_status::want_read:
      case io_status::want_write:
        break;
      }
      if (!wait_for(c_.fd, r.status == io_status::want_read ? POLLIN : POLLOUT,
                    std::min(left, io_timeout_)))
        return -1;
    }
  }

  ssize_t write(const char* ptr, std::size_t size) override {
    for (;;) {
      auto r = c_.io->send(ptr, size);
      switch (r.status) {
      case io_status::done:
        return static_cast<ssize_t>(r.bytes);
      case io_status::closed:
      case io_status::failed:
        return -1;
      case io_status::want_read:
      case io_status::want_write:
        break;
      }
      if (!wait_for(c_.fd, r.status == io_status::want_read ? POLLIN : POLLOUT,
                    io_timeout_))
        return -1;
    }
  }

  void get_remote_ip_and_port(std::string& ip, int& port) const override {
    address_of(c_.fd, true, ip, port);
  }

  void get_local_ip_and_port(std::string& ip, int& port) const override {
    address_of(c_.fd, false, ip, port);
  }

  socket_t socket() const override { return c_.fd; }

private:
  connection& c_;
  std::size_t consumed_ = 0;    ///< of the buffered bytes in c_.in
  std::size_t from_socket_ = 0; ///< read from the socket directly
  clock_type::time_point read_deadline_;
  milliseconds io_timeout_;
};

/// max_connections, lowered to what RLIMIT_NOFILE allows after raising
/// the soft limit as far as needed (and the hard limit allows).
std::size_t usable_connections(std::size_t wanted) {
  rlimit lim{};
  if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
    return wanted;
  auto needed = static_cast<rlim_t>(wanted + fd_reserve);
  if (lim.rlim_cur != RLIM_INFINITY && lim.rlim_cur < needed) {
    rlimit raised = lim;
    raised.rlim_cur =
        lim.rlim_max == RLIM_INFINITY ? needed : std::min(lim.rlim_max, needed);
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
      lim = raised;
  }
  if (lim.rlim_cur == RLIM_INFINITY)
    return wanted;
  auto room = lim.rlim_cur > fd_reserve + 16 ? lim.rlim_cur - fd_reserve : 16;
  return std::min<std::size_t>(wanted, room);
}

} // namespace

std::string new_request_id() {
  thread_local std::mt19937_64 gen{std::random_device{}()};
  char buf[33];
  std::snprintf(buf, sizeof buf, "%016llx%016llx",
                static_cast<unsigned long long>(gen()),
                static_cast<unsigned long long>(gen()));
  return buf;
}

const char* to_string(refusal r) {
  switch (r) {
  case refusal::over_capacity:
    return "over_capacity";
  case refusal::queue_full:
    return "queue_full";
  case refusal::head_timeout:
    return "head_timeout";
  case refusal::head_too_large:
    break;
  }
  return "head_too_large";
}

// -- the running part: epoll thread, queue, workers ---------------------------

struct gated_server::machinery {
  gated_server& server;
  const gate_config cfg;
  const std::size_t max_connections;
  const std::shared_ptr<SSL_CTX> tls; ///< null: plain HTTP

  std::atomic<std::size_t> open{0};
  std::atomic<std::size_t> refusing{0}; ///< TLS over capacity, see admit()
  std::atomic<std::size_t> parked_count{0};
  std::atomic<std::size_t> busy{0};
  std::atomic<bool> stopping{false};

  int epoll_fd = -1;
  int wake_fd = -1; ///< eventfd: the inbox has something, or stop

  std::mutex inbox_mutex;
  std::vector<connection_ptr> inbox; ///< new or returned connections

  std::mutex queue_mutex;
  std::condition_variable queue_ready;
  std::condition_variable worker_done; ///< a worker finished a request
  std::deque<connection_ptr> queue;    ///< complete requests for workers
  std::vector<int> in_service;         ///< sockets of the requests running
  bool workers_stop = false;

  std::thread epoll_thread;
  std::vector<std::thread> workers;
  bool epoll_stop = false; ///< epoll thread only

  // Owned by the epoll thread.
  std::unordered_map<int, connection_ptr> parked;
  /// Parked connections with bytes TLS decrypted already (which epoll does
  /// not report), to read again on the next round.
  std::vector<int> revisit;

  machinery(gated_server& s, gate_config c)
      : server(s), cfg(c),
        max_connections(usable_connections(c.max_connections)), tls(s.tls_) {
    epoll_fd = epoll_create1(EPOLL_CLOEXEC);
    wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.fd = wake_fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_ADD, wake_fd, &ev);
    epoll_thread = std::thread([this] { run_epoll(); });
    for (std::size_t i = 0; i < std::max<std::size_t>(cfg.workers, 1); ++i)
      workers.emplace_back([this] { run_worker(); });
  }

  ~machinery() {
    close(epoll_fd);
    close(wake_fd);
  }

  /// Stops accepting work, lets workers finish the requests they hold or
  /// that are queued (answering them with Connection: close) until
  /// `deadline`, then cuts the rest off, and closes every parked
  /// connection.
  void stop(clock_type::time_point deadline) {
    stopping = true;
    std::vector<connection_ptr> unserved;
    {
      std::unique_lock<std::mutex> lock{queue_mutex};
      workers_stop = true;
      queue_ready.notify_all();
      auto all_done = [this] { return queue.empty() && busy.load() == 0; };
      if (deadline == clock_type::time_point::max())
        worker_done.wait(lock, all_done);
      else if (!worker_done.wait_until(lock, deadline, all_done)) {
        // A client that trickles its body (or reads its answer slowly)
        // would hold its worker for up to body_timeout: its socket is shut
        // down instead, which makes every read and write on it fail now.
        // Under the lock, so that no socket is shut down after its worker
        // has closed it (the number may be in use again).
        for (int fd : in_service)
          ::shutdown(fd, SHUT_RDWR);
        for (auto& c : queue)
          unserved.push_back(std::move(c));
        queue.clear();
      }
    }
    for (auto& c : unserved) {
      send_now(*c, canned_answer(503, "Service Unavailable", "unavailable",
                                 "the server is stopping; retry later"));
      finish(std::move(c));
    }
    for (auto& t : workers)
      t.join();
    wake();
    epoll_thread.join();
  }

  void wake() {
    std::uint64_t one = 1;
    (void)::write(wake_fd, &one, sizeof one);
  }

  void report(refusal why) {
    if (server.on_refusal)
      server.on_refusal(why);
  }

  /// Answers `why` and reports it (on the listen or the epoll thread).
  void refuse_now(connection& c, refusal why) {
    send_now(c, answer_for(why));
    report(why);
  }

  /// A connection on `fd` with the listener's transport; null when TLS
  /// cannot set up a session.
  connection_ptr make_connection(int fd) {
    auto c = std::make_unique<connection>();
    c->fd = fd;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (!tls) {
      c->io = make_plain_transport(fd);
      return c;
    }
    // OpenSSL reads and writes the socket itself: it must not block.
    ::fcntl(fd, F_SETFL, ::fcntl(fd, F_GETFL) | O_NONBLOCK);
    c->io = make_tls_transport(fd, tls.get());
    c->handshaking = true;
    return c->io ? std::move(c) : nullptr;
  }

  /// A fresh socket from the listen loop (listen thread).
  void admit(int fd) {
    if (stopping || open.load() >= max_connections) {
      if (!tls) {
        connection c;
        c.fd = fd;
        c.io = make_plain_transport(fd);
        refuse_now(c, refusal::over_capacity);
        ::close(fd);
        return;
      }
      // TLS: the 503 needs a handshake, done on the epoll thread like any
      // other, for a few such connections at a time.
      report(refusal::over_capacity);
      if (stopping || refusing.load() >= tls_refusal_reserve) {
        ::close(fd);
        return;
      }
      auto c = make_connection(fd);
      if (!c) {
        ::close(fd);
        return;
      }
      ++refusing;
      c->over_capacity = true;
      return hand_to_epoll(std::move(c));
    }
    auto c = make_connection(fd);
    if (!c) {
      ::close(fd);
      return;
    }
    ++open;
    hand_to_epoll(std::move(c));
  }

  void hand_to_epoll(connection_ptr c) {
    {
      std::lock_guard<std::mutex> guard{inbox_mutex};
      inbox.push_back(std::move(c));
    }
    wake();
  }

  /// Half-closes `c`: the answer is complete; what the client still sends
  /// is read and dropped until it closes or linger_time passes.
  static void start_lingering(connection& c) {
    c.io->say_goodbye();
    ::shutdown(c.fd, SHUT_WR);
    c.lingering = true;
    c.in.clear();
    c.in.shrink_to_fit();
  }

  void finish(connection_ptr c) {
    if (!c->lingering)
      c->io->say_goodbye();
    ::shutdown(c->fd, SHUT_RDWR);
    ::close(c->fd);
    if (c->over_capacity)
      --refusing;
    else
      --open;
  }

  // -- epoll thread -----------------------------------------------------------

  void run_epoll() {
    std::vector<epoll_event> events(256);
    auto next_sweep = clock_type::now() + sweep_interval;
    while (!epoll_stop) {
      auto n = epoll_wait(
          epoll_fd, events.data(), static_cast<int>(events.size()),
          revisit.empty() ? static_cast<int>(sweep_interval.count()) : 0);
      for (int i = 0; i < n; ++i) {
        if (events[i].data.fd == wake_fd) {
          std::uint64_t count;
          while (::read(wake_fd, &count, sizeof count) > 0) {
          }
          continue;
        }
        on_event(events[i].data.fd);
      }
      std::vector<int> again;
      again.swap(revisit);
      for (int fd : again)
        on_event(fd);
      take_inbox();
      auto now = clock_type::now();
      if (now >= next_sweep) {
        sweep(now);
        next_sweep = now + sweep_interval;
      }
      if (stopping && workers_done())
        epoll_stop = true;
    }
    take_inbox();
    for (auto& [fd, c] : parked)
      finish(std::move(c));
    parked.clear();
    parked_count = 0;
  }

  bool workers_done() {
    std::lock_guard<std::mutex> guard{queue_mutex};
    return workers_stop && queue.empty() && busy.load() == 0;
  }

  void take_inbox() {
    std::vector<connection_ptr> arrived;
    {
      std::lock_guard<std::mutex> guard{inbox_mutex};
      arrived.swap(inbox);
    }
    for (auto& c : arrived) {
      if (stopping) {
        finish(std::move(c));
        continue;
      }
      park(std::move(c));
    }
  }

  /// Registers `c`, first dispatching what it already holds (a pipelined
  /// request that arrived with the previous one).
  void park(connection_ptr c) {
    auto now = clock_type::now();
    if (c->lingering) {
      c->deadline = now + linger_time;
      return watch(std::move(c));
    }
    if (c->handshaking) {
      // Counted against head_timeout like a slow head; a refused one
      // gets less.
      c->deadline =
          now + (c->over_capacity
                     ? std::min(cfg.head_timeout, tls_refusal_handshake_time)
                     : cfg.head_timeout);
      return watch(std::move(c));
    }
    // A worker's TLS reads may have decrypted the start of a pipelined
    // request, which epoll will not report: take it now.
    if (!pull_pending(*c))
      return finish(std::move(c));
    c->reading = !c->in.empty();
    c->scanned = 0;
    c->head_end = 0;
    c->deadline = now + (c->reading ? cfg.head_timeout : cfg.idle_timeout);
    if (c->reading) {
      switch (check_request(*c, cfg)) {
      case readiness::ready:
        return dispatch(std::move(c));
      case readiness::head_too_large:
        return refuse(std::move(c), refusal::head_too_large, true);
      case readiness::need_more:
        break;
      }
    }
    watch(std::move(c));
  }

  /// Moves what TLS holds decrypted into `c.in`; false when the
  /// connection broke meanwhile.
  static bool pull_pending(connection& c) {
    char buf[read_chunk];
    while (c.io->pending() > 0) {
      auto r = c.io->receive(buf, sizeof buf);
      if (r.status != io_status::done)
        return r.status == io_status::want_read ||
               r.status == io_status::want_write;
      c.in.append(buf, r.bytes);
    }
    return true;
  }

  /// Adds `c` to the epoll set and the parked table.
  void watch(connection_ptr c) {
    epoll_event ev{};
    ev.events = EPOLLIN | EPOLLRDHUP;
    c->watching_write = false;
    ev.data.fd = c->fd;
    if (epoll_ctl(epoll_fd, EPOLL_CTL_ADD, c->fd, &ev) != 0)
      return finish(std::move(c));
    auto fd = c->fd;
    parked.emplace(fd, std::move(c));
    parked_count = parked.size();
  }

  connection_ptr unpark(int fd) {
    auto it = parked.find(fd);
    if (it == parked.end())
      return nullptr;
    auto c = std::move(it->second);
    parked.erase(it);
    parked_count = parked.size();
    epoll_ctl(epoll_fd, EPOLL_CTL_DEL, fd, nullptr);
    return c;
  }

  /// Makes epoll wait for `c`'s socket to be readable (`write` false) or
  /// writable.
  void wait_for_socket(connection& c, bool write) {
    if (c.watching_write == write)
      return;
    epoll_event ev{};
    ev.events = (write ? EPOLLOUT : EPOLLIN) | EPOLLRDHUP;
    ev.data.fd = c.fd;
    epoll_ctl(epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
    c.watching_write = write;
  }

  void on_event(int fd) {
    auto it = parked.find(fd);
    if (it == parked.end())
      return;
    if (it->second->handshaking)
      return continue_handshake(fd, *it->second);
    on_readable(fd, *it->second);
  }

  void continue_handshake(int fd, connection& c) {
    switch (c.io->handshake()) {
    case io_status::done:
      break;
    case io_status::want_read:
      return wait_for_socket(c, false);
    case io_status::want_write:
      return wait_for_socket(c, true);
    case io_status::closed:
    case io_status::failed:
      // Not TLS (plain HTTP on the TLS port), no common protocol, or
      // gone: nothing can be answered.
      return finish(unpark(fd));
    }
    c.handshaking = false;
    wait_for_socket(c, false);
    if (c.over_capacity) { // reported when it arrived
      auto refused = unpark(fd);
      send_now(*refused, answer_for(refusal::over_capacity));
      return linger(std::move(refused));
    }
    // Now it is a new connection waiting for its first request.
    c.deadline = clock_type::now() + cfg.idle_timeout;
    on_readable(fd, c); // a request may have come with the handshake
  }

  void on_readable(int fd, connection& c) {
    char buf[read_chunk];
    for (int round = 0; round < reads_per_wakeup; ++round) {
      if (c.lingering) { // drained and dropped, below TLS
        auto n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n < 0 && (errno == EINTR || errno == EAGAIN))
          return; // more later
        if (n <= 0)
          return finish(unpark(fd)); // closed or broken
        continue;
      }
      auto r = c.io->receive(buf, sizeof buf);
      if (r.status == io_status::want_read || r.status == io_status::want_write)
        return; // more later
      if (r.status != io_status::done)
        return finish(unpark(fd)); // closed or broken
      if (!c.reading) {
        c.reading = true;
        c.deadline = clock_type::now() + cfg.head_timeout;
      }
      c.in.append(buf, r.bytes);
      switch (check_request(c, cfg)) {
      case readiness::need_more:
        continue;
      case readiness::ready:
        return dispatch(unpark(fd));
      case readiness::head_too_large:
        return refuse(unpark(fd), refusal::head_too_large, true);
      }
    }
    if (!c.lingering && c.io->pending() > 0)
      revisit.push_back(fd);
  }

  /// Answers `why`, then drains the connection for a moment before closing
  /// it (or closes at once when `linger` is false).
  void refuse(connection_ptr c, refusal why, bool linger_after) {
    refuse_now(*c, why);
    if (!linger_after)
      return finish(std::move(c));
    linger(std::move(c));
  }

  /// Closes `c` lingering (at once when stopping).
  void linger(connection_ptr c) {
    if (stopping)
      return finish(std::move(c));
    start_lingering(*c);
    c->deadline = clock_type::now() + linger_time;
    watch(std::move(c));
  }

  void dispatch(connection_ptr c) {
    {
      std::lock_guard<std::mutex> guard{queue_mutex};
      if (queue.size() < cfg.max_queued && !workers_stop) {
        queue.push_back(std::move(c));
        queue_ready.notify_one();
        return;
      }
    }
    refuse(std::move(c), refusal::queue_full, true);
  }

  void sweep(clock_type::time_point now) {
    std::vector<int> expired;
    for (const auto& [fd, c] : parked)
      if (now >= c->deadline)
        expired.push_back(fd);
    for (int fd : expired) {
      auto c = unpark(fd);
      if (c->lingering || !c->reading)
        finish(std::move(c)); // drained, idle or mid-handshake: quietly
      else
        refuse(std::move(c), refusal::head_timeout, true);
    }
  }

  // -- workers ----------------------------------------------------------------

  void run_worker() {
    for (;;) {
      connection_ptr c;
      {
        std::unique_lock<std::mutex> lock{queue_mutex};
        queue_ready.wait(lock,
                         [this] { return workers_stop || !queue.empty(); });
        if (queue.empty())
          return;
        c = std::move(queue.front());
        queue.pop_front();
        in_service.push_back(c->fd);
        ++busy;
      }
      bool keep = serve_one(*c);
      {
        // Out of stop()'s reach before the socket can be closed.
        std::lock_guard<std::mutex> guard{queue_mutex};
        in_service.erase(
            std::find(in_service.begin(), in_service.end(), c->fd));
      }
      if (stopping) {
        finish(std::move(c));
      } else {
        // Closing with unread input would reset the answer away (the
        // client may still be sending a body cpp-httplib refused), so the
        // epoll thread drains it briefly first: a lingering close.
        if (!keep)
          start_lingering(*c);
        hand_to_epoll(std::move(c));
      }
      {
        std::lock_guard<std::mutex> guard{queue_mutex};
        --busy;
      }
      worker_done.notify_all();
    }
  }

  /// Runs one request through cpp-httplib; true when the connection stays
  /// open for the next one.
  bool serve_one(connection& c) {
    bool close_connection = stopping || ++c.served >= cfg.keep_alive_max;
    bool connection_closed = false;
    bool ok = false;
    auto foreign_method = swap_foreign_method(c);
    SSL* tls_session = c.io->tls_session();
    std::function<void(httplib::Request&)> setup_request;
    if (!foreign_method.empty() || tls_session != nullptr)
      setup_request = [&](httplib::Request& req) {
        if (!foreign_method.empty())
          req.method = foreign_method;
        req.ssl = tls_session;
      };
    // Where this request ends, when its head says so plainly.
    std::optional<std::size_t> request_end;
    if (c.head_end > 0)
      if (auto body = plain_content_length(
              std::string_view{c.in}.substr(0, c.head_end)))
        request_end = c.head_end + *body;
    bool body_read = false;
    {
      connection_stream stream{c, clock_type::now() + cfg.body_timeout,
                               cfg.io_timeout};
      ok = server.process_request(stream, close_connection, connection_closed,
                                  setup_request);
      body_read = request_end && stream.consumed() >= *request_end;
    }
    // A body cpp-httplib did not read (a GET with a body, a refused one)
    // must never be taken for the next request (request smuggling): keep
    // the connection only when exactly this request was consumed.
    return ok && !connection_closed && !close_connection && body_read;
  }

  gate_stats stats() {
    gate_stats s;
    s.open = open.load();
    s.parked = parked_count.load();
    s.busy = busy.load();
    s.max_connections = max_connections;
    std::lock_guard<std::mutex> guard{queue_mutex};
    s.queued = queue.size();
    return s;
  }
};

/// The TaskQueue cpp-httplib's listen loop hands accepted sockets to: it
/// runs the job at once on the listen thread, which only parks the socket.
struct gated_server::accept_queue : httplib::TaskQueue {
  gated_server& server;
  std::shared_ptr<machinery> running;

  explicit accept_queue(gated_server& s)
      : server(s), running(std::make_shared<machinery>(s, s.cfg_)) {
    std::atomic_store(&server.running_, running);
    server.raise_backlog();
  }

  void enqueue(std::function<void()> fn) override { fn(); }

  void shutdown() override {
    running->stop(server.stop_deadline_.load());
    std::atomic_store(&server.running_, std::shared_ptr<machinery>{});
    running.reset();
  }
};

gated_server::gated_server(gate_config cfg) : cfg_(cfg) {
  new_task_queue = [this] { return new accept_queue(*this); };
  // cpp-httplib writes these into its Keep-Alive answer header; the
  // machinery enforces them.
  set_keep_alive_max_count(cfg_.keep_alive_max);
  set_keep_alive_timeout(std::max<time_t>(
      1, std::chrono::duration_cast<std::chrono::seconds>(cfg_.idle_timeout)
             .count()));
}

gated_server::~gated_server() = default;

bool gated_server::process_and_close_socket(socket_t sock) {
  auto m = std::atomic_load(&running_);
  if (m == nullptr) {
    ::close(sock);
    return false;
  }
  m->admit(sock);
  return true;
}

void gated_server::raise_backlog() {
  // cpp-httplib 0.11 listens with a backlog of 5: a burst of connections
  // overflows the accept queue, and the kernel then drops handshakes that
  // clients retry only after 1 s, 3 s, ... (a health probe among them).
  // Listening again on the bound socket raises the backlog.
  socket_t sock = svr_sock_;
  if (sock != INVALID_SOCKET)
    ::listen(sock, SOMAXCONN);
}

void gated_server::set_tls(std::shared_ptr<SSL_CTX> ctx) {
  tls_ = std::move(ctx);
}

void gated_server::stop_by(std::chrono::steady_clock::time_point deadline) {
  stop_deadline_ = deadline;
  stop();
}

gate_stats gated_server::stats() const {
  auto m = std::atomic_load(&running_);
  return m ? m->stats() : gate_stats{};
}

} // namespace ogf::http
