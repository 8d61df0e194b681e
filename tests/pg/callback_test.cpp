// Completion callbacks (CONTRACT §7) against a real database and a real
// HTTP receiver in this process: delivery, signature, retries with a
// stable delivery id and body, SSRF refusal at delivery, one delivery per
// end, the deadline of one attempt.
#include "actors/callback_deliverer.hpp"

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <future>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <vector>

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include "domain/exact_json.hpp"
#include "domain/json_mapping.hpp"
#include "support/callback_receiver.hpp"
#include "support/engine_fixture.hpp"
#include "support/engine_helpers.hpp"
#include "support/test_database.hpp"

using namespace ogf;
using namespace std::chrono_literals;
using nlohmann::json;
using ogf::testing::acme;
using ogf::testing::callback_answer;
using ogf::testing::callback_receiver;
using ogf::testing::engine_fixture;
using ogf::testing::expected_signature;
using ogf::testing::ids_of;
using ogf::testing::make_activities;
using ogf::testing::make_submit;
using ogf::testing::scalar;
using ogf::testing::sql_literal;
using ogf::testing::test_database;
using ogf::testing::text;
using ogf::testing::wait_until;

namespace {

const std::string secret = "test-webhook-secret";

/// Short timeouts and backoff, so retries happen within the test.
engine_config callback_config(const test_database& db) {
  auto cfg = ogf::testing::test_engine_config(db);
  cfg.webhook_secret = secret;
  cfg.webhook_allow_private = true; // the receiver is on 127.0.0.1
  cfg.webhook_connect_timeout = 500ms;
  cfg.webhook_read_timeout = 300ms;
  cfg.webhook_poll_interval = 200ms;
  cfg.webhook_backoff_base = 50ms;
  cfg.webhook_backoff_cap = 200ms;
  return cfg;
}

/// Stores `n` activities "<prefix>_…" and returns a submit of them with
/// `callback_url`.
persistence::submit_request with_callback(engine_fixture& f,
                                          const std::string& prefix, int n,
                                          std::optional<std::string> url) {
  auto acts = make_activities(prefix, n);
  REQUIRE(f.ask<std::int64_t>(activity_atom_v, put_atom_v, acme, acts) == n);
  auto req = make_submit(ids_of(acts));
  req.callback_url = std::move(url);
  return req;
}

std::string submit(engine_fixture& f, persistence::submit_request req) {
  return f.ask<persistence::submit_outcome>(submit_atom_v, std::move(req))
      .batch.id;
}

domain::batch get(engine_fixture& f, const std::string& id) {
  return f.ask<domain::batch>(get_atom_v, acme, id);
}

/// Waits until the batch's callback is no longer pending; returns it.
domain::batch_callback wait_for_callback(engine_fixture& f,
                                         const std::string& id,
                                         const std::string& status) {
  domain::batch b;
  bool reached = wait_until(
      [&] {
        b = get(f, id);
        return b.callback && b.callback->status == status;
      },
      15s);
  INFO("batch " << id << " callback "
                << (b.callback ? b.callback->status : std::string("none")));
  REQUIRE(reached);
  return *b.callback;
}

std::string delivery_ids_of(const test_database& db, const std::string& id) {
  return text(db, "SELECT string_agg(id::text, ',' ORDER BY end_seq) FROM "
                  "batch_callbacks WHERE batch_id = " +
                      sql_literal(id) + "::uuid");
}

std::string get_status_text(const test_database& db, const std::string& id) {
  return text(db, "SELECT status FROM batch_jobs WHERE id = " +
                      sql_literal(id) + "::uuid");
}

/// A receiver on 127.0.0.1 that answers every connection with
/// "HTTP/1.1 200 OK" and then one byte of a header line every `every`,
/// forever: each read of the client gets a byte within its read timeout,
/// so only a deadline on the whole attempt ends it. Counts the connections
/// the client closed.
class trickle_receiver {
public:
  explicit trickle_receiver(std::chrono::milliseconds every) : every_(every) {
    listener_ = ::socket(AF_INET, SOCK_STREAM, 0);
    REQUIRE(listener_ >= 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(listener_, reinterpret_cast<sockaddr*>(&addr),
                   sizeof addr) == 0);
    REQUIRE(::listen(listener_, 16) == 0);
    socklen_t len = sizeof addr;
    REQUIRE(::getsockname(listener_, reinterpret_cast<sockaddr*>(&addr),
                          &len) == 0);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
  }
  ~trickle_receiver() {
    stop_ = true;
    thread_.join();
    ::close(listener_);
  }
  trickle_receiver(const trickle_receiver&) = delete;
  trickle_receiver& operator=(const trickle_receiver&) = delete;

  std::string url() const {
    return "http://127.0.0.1:" + std::to_string(port_) + "/hook";
  }
  int accepted() const { return accepted_.load(); }
  int hung_up() const { return hung_up_.load(); }

private:
  void run() {
    std::vector<int> open;
    auto next_byte = std::chrono::steady_clock::now() + every_;
    while (!stop_) {
      std::vector<pollfd> fds{{listener_, POLLIN, 0}};
      for (int fd : open)
        fds.push_back({fd, POLLIN, 0});
      ::poll(fds.data(), fds.size(), 10);
      if (fds[0].revents & POLLIN) {
        int fd = ::accept(listener_, nullptr, nullptr);
        if (fd >= 0) {
          ++accepted_;
          const std::string head = "HTTP/1.1 200 OK\r\nX-Trickle: ";
          ::send(fd, head.data(), head.size(), MSG_NOSIGNAL);
          open.push_back(fd);
        }
      }
      std::vector<int> closed;
      for (std::size_t i = 1; i < fds.size(); ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
          continue;
        char buf[4096];
        auto n = ::recv(fds[i].fd, buf, sizeof buf, MSG_DONTWAIT);
        if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK))
          closed.push_back(fds[i].fd); // the request itself is dropped
      }
      if (std::chrono::steady_clock::now() >= next_byte) {
        next_byte += every_;
        for (int fd : open)
          if (::send(fd, "a", 1, MSG_NOSIGNAL) != 1)
            closed.push_back(fd);
      }
      for (int fd : std::set<int>(closed.begin(), closed.end())) {
        ++hung_up_;
        ::close(fd);
        open.erase(std::find(open.begin(), open.end(), fd));
      }
    }
    for (int fd : open)
      ::close(fd);
  }

  std::chrono::milliseconds every_;
  int listener_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> hung_up_{0};
  std::thread thread_;
};

} // namespace

TEST_CASE("a finished batch's callback is delivered once, signed, with the "
          "batch object as its body, and a batch without one queues none") {
  test_database db;
  callback_receiver receiver;
  engine_fixture f{callback_config(db)};
  auto id = submit(f, with_callback(f, "cb", 7, receiver.url()));
  auto plain = submit(f, with_callback(f, "plain", 3, std::nullopt));

  auto cb = wait_for_callback(f, id, "delivered");
  CHECK(cb.attempts == 1);
  CHECK(cb.url == receiver.url());
  auto got = receiver.received();
  REQUIRE(got.size() == 1);
  const auto& r = got[0];
  CHECK(r.path == "/hook");
  CHECK(r.host == "127.0.0.1:" + std::to_string(receiver.port()));
  CHECK(r.content_type == "application/json; charset=utf-8");
  CHECK(r.event == "batch.completed");
  CHECK(r.delivery_id == delivery_ids_of(db, id));
  CHECK(r.signature == expected_signature(secret, r.body));
  CHECK(r.signature != expected_signature("another secret", r.body));

  // The body is the batch object as GET renders it; its callback object is
  // as it stood while being delivered.
  auto body = json::parse(r.body);
  CHECK(body["id"] == id);
  CHECK(body["status"] == "completed");
  CHECK(body["processed_activities"] == 7);
  CHECK(body["callback"]["url"] == receiver.url());
  CHECK(body["callback"]["status"] == "pending");
  CHECK(body["callback"]["attempts"] == 0);
  auto now = json::parse(domain::dump_exact(domain::to_json(get(f, id))));
  CHECK(now["callback"]["status"] == "delivered");
  body.erase("callback");
  now.erase("callback");
  CHECK(body == now);

  // The plain batch ends without an outbox row or a callback object.
  REQUIRE(wait_until([&] { return domain::is_terminal(get(f, plain).status); },
                     10s));
  CHECK_FALSE(get(f, plain).callback);
  auto plain_json = domain::to_json(get(f, plain));
  REQUIRE(plain_json.contains("callback"));
  CHECK(plain_json["callback"].is_null());
  CHECK(scalar(db, "SELECT count(*) FROM batch_callbacks WHERE batch_id = " +
                       sql_literal(plain) + "::uuid") == 0);
  CHECK(scalar(db, "SELECT count(*) FROM batch_callbacks") == 1);
  CHECK(receiver.received().size() == 1);
}

TEST_CASE("a receiver answering 500 then 200, and one that times out, get "
          "the same delivery id on every attempt") {
  test_database db;
  callback_receiver receiver;
  receiver.answer_with([](const std::string& path, std::size_t n) {
    if (path == "/flaky" && n == 0)
      return callback_answer{500, 0ms};
    if (path == "/slow" && n == 0)
      return callback_answer{200, 1500ms}; // past the 300 ms read timeout
    return callback_answer{200, 0ms};
  });
  engine_fixture f{callback_config(db)};
  auto flaky = submit(f, with_callback(f, "flaky", 2, receiver.url("/flaky")));
  auto slow = submit(f, with_callback(f, "slow", 2, receiver.url("/slow")));

  auto flaky_cb = wait_for_callback(f, flaky, "delivered");
  CHECK(flaky_cb.attempts == 2);
  CHECK(flaky_cb.last_error == std::optional<std::string>("HTTP 500"));
  auto slow_cb = wait_for_callback(f, slow, "delivered");
  CHECK(slow_cb.attempts == 2);
  REQUIRE(slow_cb.last_error);
  CHECK(slow_cb.last_error->find("request failed") != std::string::npos);

  for (const auto& [id, path] :
       {std::pair{flaky, std::string("/flaky")}, {slow, "/slow"}}) {
    INFO(path);
    auto got = receiver.received(path);
    REQUIRE(got.size() == 2);
    CHECK(got[0].delivery_id == got[1].delivery_id);
    CHECK(got[0].delivery_id == delivery_ids_of(db, id));
    for (const auto& r : got)
      CHECK(r.signature == expected_signature(secret, r.body));
  }
  CHECK(scalar(db, "SELECT count(*) FROM batch_callbacks "
                   "WHERE status = 'delivered'") == 2);
}

TEST_CASE("a callback host name that resolves to loopback is refused at "
          "delivery, and localhost and literal private addresses at submit") {
  test_database db;
  callback_receiver receiver;
  auto cfg = callback_config(db);
  cfg.webhook_allow_private = false;
  cfg.webhook_backoff_base = 1s; // a refusal backs off like any failure
  cfg.webhook_backoff_cap = 2s;
  engine_fixture f{cfg};

  for (const char* url :
       {"http://127.0.0.1/hook", "http://10.1.2.3/", "http://192.168.0.1/",
        "http://172.16.5.4/", "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/", "http://[fe80::1]/", "http://[fd00::1]/",
        "http://0.0.0.0/", "http://[::ffff:127.0.0.1]/", "http://localhost/",
        "http://api.localhost./", "http://127.1/", "http://2130706433/"}) {
    INFO(url);
    auto req = with_callback(f, "lit", 1, std::string(url));
    CHECK(f.ask_error<persistence::submit_outcome>(submit_atom_v, req) ==
          engine_errc::validation);
  }

  // The check at delivery is on what the name resolves to. A localhost URL
  // gets past submit only on a server with --webhook-allow-private; this
  // one was stored so, and is delivered by a node without it.
  auto local = "http://localhost:" + std::to_string(receiver.port()) + "/hook";
  std::string id;
  {
    persistence::batch_store store{{db.url(), "allowing-node"}};
    id = store.submit(with_callback(f, "local", 2, local)).batch.id;
  }
  domain::batch b;
  REQUIRE(wait_until(
      [&] {
        b = get(f, id);
        return b.callback && b.callback->attempts >= 1;
      },
      15s));
  CHECK(b.callback->status == "pending"); // retried later, with backoff
  REQUIRE(b.callback->last_error);
  CHECK(b.callback->last_error->find("refused") != std::string::npos);
  CHECK(b.callback->last_error->find("loopback") != std::string::npos);
  CHECK(receiver.received().empty());
}

TEST_CASE("without a webhook secret callbacks are taken and delivered, "
          "signed with the empty key") {
  test_database db;
  callback_receiver receiver;
  auto cfg = callback_config(db);
  cfg.webhook_secret.clear();
  engine_fixture f{cfg};
  auto id = submit(f, with_callback(f, "nosecret", 2, receiver.url()));
  auto cb = wait_for_callback(f, id, "delivered");
  CHECK(cb.attempts == 1);
  auto got = receiver.received();
  REQUIRE(got.size() == 1);
  CHECK(got[0].event == "batch.completed");
  CHECK(got[0].signature == expected_signature("", got[0].body));
  CHECK(got[0].signature != expected_signature(secret, got[0].body));
}

TEST_CASE("the X-OGF-Signature is HMAC-SHA256 of the body, with the empty "
          "key too") {
  // No database: here because the pg test binary is the one linking the
  // deliverer. Expected values computed with Python 3:
  //   hmac.new(b"", b'{"id":"x"}', hashlib.sha256).hexdigest()
  //   hmac.new(b"", b"", hashlib.sha256).hexdigest()
  CHECK(webhook_signature("", R"({"id":"x"})") ==
        "sha256="
        "d0c6ee8e2cd73b8179aa131117bcee783d18ccf08c9a69d566aa3069f2b318cf");
  CHECK(webhook_signature("", "") ==
        "sha256="
        "b613679a0814d9ec772f95d778c35fc5ff1697c493715653c6c712144292c5ad");
  // RFC 4231, test case 2 (key "Jefe").
  CHECK(webhook_signature("Jefe", "what do ya want for nothing?") ==
        "sha256="
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
}

TEST_CASE("a retried batch delivers a new event when it ends again, and a "
          "cancelled pending batch delivers batch.cancelled") {
  test_database db;
  callback_receiver receiver;
  // A pending batch cancelled before any engine runs: its end is queued in
  // the cancel's transaction.
  std::string cancelled;
  {
    persistence::batch_store store{{db.url(), "seeder"}};
    persistence::submit_request req;
    req.owner = acme;
    req.activity_ids = {"never_there"};
    req.callback_url = receiver.url("/cancelled");
    cancelled = store.submit(req).batch.id;
    CHECK(store.cancel(acme, cancelled).immediate);
    CHECK(text(db, "SELECT event FROM batch_callbacks WHERE batch_id = " +
                       sql_literal(cancelled) + "::uuid") == "batch.cancelled");
  }
  engine_fixture f{callback_config(db)};
  // Activities that do not exist: the batch fails, and fails again.
  persistence::submit_request req = make_submit({"missing_1", "missing_2"});
  req.callback_url = receiver.url("/retried");
  auto id = submit(f, req);
  wait_for_callback(f, id, "delivered");
  auto retried = f.ask<domain::batch>(retry_atom_v, acme, id);
  CHECK(retried.callback->status == "pending");
  CHECK(retried.callback->attempts == 0);
  REQUIRE(wait_until([&] { return receiver.received("/retried").size() == 2; },
                     15s));
  wait_for_callback(f, id, "delivered");
  auto got = receiver.received("/retried");
  CHECK(got[0].event == "batch.failed");
  CHECK(got[1].event == "batch.failed");
  CHECK(got[0].delivery_id != got[1].delivery_id);
  CHECK(got[0].delivery_id + "," + got[1].delivery_id ==
        delivery_ids_of(db, id));
  CHECK(json::parse(got[1].body)["retry_count"] == 1);

  wait_for_callback(f, cancelled, "delivered");
  auto c = receiver.received("/cancelled");
  REQUIRE(c.size() == 1);
  CHECK(c[0].event == "batch.cancelled");
  CHECK(json::parse(c[0].body)["status"] == "cancelled");
}

TEST_CASE("a graceful stop cuts a delivery in flight short without "
          "recording it, leaving it to the next claim after its lease") {
  test_database db;
  callback_receiver receiver;
  receiver.answer_with([](const std::string&, std::size_t) {
    return callback_answer{200, 10000ms};
  });
  auto cfg = callback_config(db);
  cfg.webhook_read_timeout = 5s; // far longer than the stop takes
  engine_fixture a{cfg};
  auto id = submit(a, with_callback(a, "held", 2, receiver.url()));
  REQUIRE(wait_until([&] { return receiver.received().size() == 1; }, 10s));
  a.stop();
  // Not recorded: no attempt counted, still leased by this node until the
  // lease runs out (then any node sends it again, with the same id).
  CHECK(scalar(db, "SELECT attempts FROM batch_callbacks") == 0);
  CHECK(text(db, "SELECT status FROM batch_callbacks") == "pending");
  CHECK(text(db, "SELECT lease_owner FROM batch_callbacks") == "node-a");
  CHECK(scalar(db,
               "SELECT count(*) FROM batch_callbacks "
               "WHERE next_attempt_at > now() + interval '5 seconds'") == 1);
  CHECK(get_status_text(db, id) == "completed");
}

TEST_CASE("every attempt of a delivery sends the batch as it was at the end "
          "it reports, byte for byte, though the batch was retried and ended "
          "again in between") {
  test_database db;
  callback_receiver receiver;
  // The batch first fails (its activities are not there yet). The first
  // attempt of that delivery stores them and retries the batch - before
  // answering 500, so every later attempt comes after the retry.
  // (No Catch assertions on the receiver's thread: they are not
  // thread-safe; what happened there is checked below.)
  auto acts = make_activities("late", 3);
  std::promise<std::string> submitted;
  auto batch_id = submitted.get_future().share();
  std::mutex retry_mutex;
  std::string retry_outcome = "not tried";
  receiver.answer_with([&](const std::string& path, std::size_t n) {
    if (path != "/snap" || n != 0)
      return callback_answer{200, 0ms};
    std::string outcome;
    try {
      if (batch_id.wait_for(10s) != std::future_status::ready)
        throw std::runtime_error("no batch id");
      persistence::batch_store store{{db.url(), "receiver"}};
      store.upsert_activities(acme, acts);
      outcome = "retry_count " +
                std::to_string(store.retry(acme, batch_id.get()).retry_count);
    } catch (const std::exception& e) {
      outcome = e.what();
    }
    std::lock_guard<std::mutex> guard{retry_mutex};
    retry_outcome = outcome;
    return callback_answer{500, 0ms};
  });
  engine_fixture f{callback_config(db)};
  auto req = make_submit(ids_of(acts));
  req.callback_url = receiver.url("/snap");
  auto id = submit(f, req);
  submitted.set_value(id);

  REQUIRE(wait_until(
      [&] {
        return receiver.received("/snap").size() == 3 &&
               scalar(db, "SELECT count(*) FROM batch_callbacks "
                          "WHERE status = 'delivered'") == 2;
      },
      15s));
  {
    std::lock_guard<std::mutex> guard{retry_mutex};
    CHECK(retry_outcome == "retry_count 1");
  }
  auto ids = delivery_ids_of(db, id); // in order of end
  auto comma = ids.find(',');
  REQUIRE(comma != std::string::npos);
  const auto failed_end = ids.substr(0, comma);
  const auto completed_end = ids.substr(comma + 1);

  std::map<std::string, std::vector<ogf::testing::received_callback>> by_id;
  for (const auto& r : receiver.received("/snap")) {
    CHECK(r.signature == expected_signature(secret, r.body));
    by_id[r.delivery_id].push_back(r);
  }
  REQUIRE(by_id[failed_end].size() == 2);
  REQUIRE(by_id[completed_end].size() == 1);

  // The first end's delivery: the same bytes on both attempts, and they
  // say what its event says - though the batch has long moved on.
  const auto& a = by_id[failed_end];
  CHECK(a[0].event == "batch.failed");
  CHECK(a[1].event == "batch.failed");
  CHECK(a[1].body == a[0].body);
  auto failed = json::parse(a[0].body);
  CHECK(failed["id"] == id);
  CHECK(failed["status"] == "failed");
  CHECK(failed["retry_count"] == 0);
  CHECK(failed["succeeded_activities"] == 0);
  // Its callback object is the state at the end: pending, no attempts.
  CHECK(failed["callback"] == json{{"url", receiver.url("/snap")},
                                   {"status", "pending"},
                                   {"attempts", 0},
                                   {"last_error", nullptr}});

  // The retried batch's own end: a new delivery with its own body.
  const auto& b = by_id[completed_end];
  CHECK(b[0].event == "batch.completed");
  auto completed = json::parse(b[0].body);
  CHECK(completed["status"] == "completed");
  CHECK(completed["retry_count"] == 1);
  CHECK(completed["succeeded_activities"] == 3);
  CHECK(completed["callback"]["attempts"] == 0);
  auto now = json::parse(domain::dump_exact(domain::to_json(get(f, id))));
  completed.erase("callback");
  now.erase("callback");
  CHECK(completed == now);

  // The batch row mirrors the delivery of its latest end only.
  auto cb = wait_for_callback(f, id, "delivered");
  CHECK(cb.attempts == 1);
  CHECK_FALSE(cb.last_error);
  CHECK(text(db, "SELECT attempts || ' ' || last_error FROM batch_callbacks "
                 "WHERE id = " +
                     sql_literal(failed_end) + "::uuid") == "2 HTTP 500");
}

TEST_CASE("a receiver that trickles its answer a byte at a time within the "
          "read timeout is cut at the attempt's deadline, a failed attempt") {
  test_database db;
  auto cfg = callback_config(db);  // connect 500 ms + 2 x read 300 ms
  trickle_receiver trickle{150ms}; // half the read timeout
  engine_fixture f{cfg};
  auto id = submit(f, with_callback(f, "trickled", 2, trickle.url()));

  domain::batch b;
  bool recorded = wait_until(
      [&] {
        b = get(f, id);
        return b.callback && b.callback->attempts >= 1;
      },
      15s);
  // The deliverer hung up on the receiver rather than leaving it open.
  bool hung_up = wait_until([&] { return trickle.hung_up() >= 1; }, 5s);
  // A graceful stop (which cuts an attempt in flight), so that a failure
  // here does not leave the fixture's kill waiting on a trickled attempt.
  f.stop();
  INFO("connections " << trickle.accepted() << ", hung up "
                      << trickle.hung_up());
  REQUIRE(recorded); // without a deadline the first attempt never ends
  CHECK(hung_up);
  CHECK(b.callback->status == "pending"); // retried, with backoff
  CHECK(b.callback->last_error ==
        std::optional<std::string>("attempt exceeded 1.1 s"));
  CHECK(scalar(db, "SELECT count(*) FROM batch_callbacks WHERE attempts >= 1 "
                   "AND last_error = 'attempt exceeded 1.1 s'") == 1);
}

TEST_CASE("a receiver holding its requests holds up only the deliverer "
          "inside that attempt, another delivers meanwhile") {
  test_database db;
  callback_receiver receiver;
  // /slow: held far past the read timeout (never answered in time); /fast:
  // 200 at once.
  receiver.answer_with([](const std::string& path, std::size_t) {
    return path == "/slow" ? callback_answer{200, 20000ms}
                           : callback_answer{200, 0ms};
  });
  auto cfg = callback_config(db);
  cfg.webhook_deliverers = 2;
  // One deliverer alone would send /fast only after /slow's attempt failed
  // here, 3 s after its claim; a graceful stop cuts it at the end.
  cfg.webhook_read_timeout = 3s;
  engine_fixture a{cfg};
  auto slow = submit(a, with_callback(a, "slow", 2, receiver.url("/slow")));
  REQUIRE(
      wait_until([&] { return receiver.received("/slow").size() == 1; }, 10s));
  auto fast = submit(a, with_callback(a, "fast", 2, receiver.url("/fast")));
  wait_for_callback(a, fast, "delivered");
  // /slow's first attempt is still held: not recorded, not sent again.
  CHECK(scalar(db, "SELECT attempts FROM batch_callbacks WHERE batch_id = " +
                       sql_literal(slow) + "::uuid") == 0);
  CHECK(receiver.received("/slow").size() == 1);
  CHECK(receiver.received("/fast").size() == 1);
  a.stop();
  receiver.release();
}
