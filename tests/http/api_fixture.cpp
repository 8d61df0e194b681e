#include "http/api_fixture.hpp"

#include <cctype>
#include <csignal>
#include <regex>

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "domain/calculator.hpp"

namespace ogf::testing {

using nlohmann::json;
using namespace std::chrono_literals;

namespace {

/// The built-in calculation, `delay` slower per chunk. Detached: it sleeps.
processor_actor::behavior_type slow_processor(processor_actor::pointer,
                                              std::chrono::milliseconds delay) {
  return {
      [delay](compute_atom,
              const std::vector<domain::resolved_activity>& chunk) {
        std::this_thread::sleep_for(delay);
        return domain::calculate_chunk(chunk);
      },
  };
}

/// Client writes to a server that closed on purpose must not kill the test.
void ignore_sigpipe() {
  static bool once = [] {
    std::signal(SIGPIPE, SIG_IGN);
    return true;
  }();
  (void)once;
}

} // namespace

api_fixture::api_fixture(api_options opts)
    : cfg_(std::make_unique<caf::actor_system_config>()) {
  ignore_sigpipe();
  cfg_->set("scheduler.max-threads", 2);
  sys_ = std::make_unique<caf::actor_system>(*cfg_);
  engine_config ec;
  ec.database_url = db_.url();
  ec.node_id = "http-test";
  ec.workers = opts.workers;
  ec.chunk_size = opts.chunk_size;
  ec.store_connections = 2;
  ec.poll_interval = 30s; // LISTEN/NOTIFY wakes the poller
  ec.poll_jitter = 0ms;
  ec.lease_timeout = 3s;
  if (opts.chunk_delay.count() > 0)
    ec.processor = sys_->spawn<caf::detached>(slow_processor, opts.chunk_delay);
  if (opts.tune_engine)
    opts.tune_engine(ec);
  engine_ = spawn_engine(*sys_, ec);
  http::http_config hc;
  hc.port = 0;
  hc.threads = 8;
  hc.max_body_bytes = opts.max_body_bytes;
  hc.max_batch_activities = opts.max_batch_activities;
  hc.node_id = "http-test";
  hc.event_poll_interval = 200ms;
  hc.keep_alive_timeout = 1s;
  if (opts.tune)
    opts.tune(hc);
  server_ = std::make_unique<http::http_server>(*sys_, engine_, hc);
  port_ = server_->bind();
  serving_ = std::thread([this] { server_->serve(); });
}

api_fixture::~api_fixture() {
  server_->stop();
  if (serving_.joinable())
    serving_.join();
  server_.reset();
  caf::anon_send_exit(engine_, caf::exit_reason::kill);
  engine_ = nullptr;
  sys_->await_all_actors_done();
}

httplib::Client api_fixture::client() const {
  httplib::Client cli("127.0.0.1", port_);
  cli.set_connection_timeout(5, 0);
  cli.set_read_timeout(10, 0);
  cli.set_write_timeout(10, 0);
  return cli;
}

reply to_reply(const httplib::Result& r) {
  reply out;
  if (!r)
    return out;
  out.status = r->status;
  out.headers = r->headers;
  out.body = r->body;
  return out;
}

reply api_fixture::get(const std::string& path, const tenant_ids& t,
                       httplib::Headers extra) {
  auto headers = t.headers();
  headers.insert(extra.begin(), extra.end());
  return to_reply(client().Get(path.c_str(), headers));
}

reply api_fixture::post_json(const std::string& path, const json& body,
                             const tenant_ids& t, httplib::Headers extra) {
  auto headers = t.headers();
  headers.insert(extra.begin(), extra.end());
  return send("POST", path, body.dump(), "application/json", headers);
}

reply api_fixture::put_json(const std::string& path, const json& body,
                            const tenant_ids& t) {
  return send("PUT", path, body.dump(), "application/json", t.headers());
}

reply api_fixture::del(const std::string& path, const tenant_ids& t) {
  return to_reply(client().Delete(path.c_str(), t.headers()));
}

reply api_fixture::send(const std::string& method, const std::string& path,
                        const std::string& body,
                        const std::string& content_type,
                        const httplib::Headers& headers) {
  auto cli = client();
  httplib::Request req;
  req.method = method;
  req.path = path;
  req.headers = headers;
  req.body = body;
  if (!content_type.empty())
    req.set_header("Content-Type", content_type);
  // cpp-httplib's client adds Content-Length for the body.
  return to_reply(cli.send(req));
}

void api_fixture::upload_activities(int n, const tenant_ids& t) {
  json rows = json::array();
  for (int i = 0; i < n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "a%04d", i);
    rows.push_back(activity_row(id, i + 1));
  }
  auto r = post_json("/api/v1/activities", {{"activities", rows}}, t);
  REQUIRE(r.status == 200);
  REQUIRE(r.json()["upserted"] == n);
}

json api_fixture::submit(const std::vector<std::string>& ids,
                         const tenant_ids& t, json extra) {
  extra["activity_ids"] = ids;
  auto r = post_json("/api/v1/batches", extra, t);
  INFO(r.body);
  REQUIRE(r.status == 201);
  return r.json();
}

json api_fixture::wait_for_status(const std::string& id,
                                  const std::string& status,
                                  const tenant_ids& t,
                                  std::chrono::milliseconds timeout) {
  json last;
  bool reached = wait_until(
      [&] {
        auto r = get("/api/v1/batches/" + id, t);
        if (r.status != 200)
          return false;
        last = r.json();
        auto s = last["status"].get<std::string>();
        if (status.empty())
          return s == "completed" || s == "failed" || s == "cancelled";
        return s == status;
      },
      timeout, 20ms);
  INFO("batch " << id << " last seen " << last.dump());
  REQUIRE(reached);
  return last;
}

engine_stats api_fixture::stats() {
  caf::scoped_actor self{*sys_};
  engine_stats out;
  self->request(engine_, 10s, stats_atom_v)
      .receive([&](engine_stats& s) { out = s; },
               [&](caf::error& e) { FAIL("stats: " << caf::to_string(e)); });
  return out;
}

bare_server::bare_server(caf::actor_system& sys, engine_actor engine,
                         http::http_config cfg) {
  ignore_sigpipe();
  cfg.port = 0;
  cfg.threads = 4;
  cfg.request_timeout = 2s;
  server_ = std::make_unique<http::http_server>(sys, std::move(engine), cfg);
  port_ = server_->bind();
  serving_ = std::thread([this] { server_->serve(); });
}

bare_server::~bare_server() {
  server_->stop();
  if (serving_.joinable())
    serving_.join();
}

std::vector<std::string> activity_ids(int n, int first) {
  std::vector<std::string> out;
  for (int i = first; i < first + n; ++i) {
    char id[16];
    std::snprintf(id, sizeof id, "a%04d", i);
    out.push_back(id);
  }
  return out;
}

void check_no_leak(const reply& r) {
  static const char* needles[] = {
      // SQL and PostgreSQL's own error text
      "SELECT ", "INSERT ", "UPDATE ", "DELETE FROM", " WHERE ", "RETURNING",
      "ERROR:", "DETAIL:", "HINT:", "CONTEXT:", "LINE 1", "syntax error",
      "violates", "duplicate key", "relation \"", "sqlstate", "SQLSTATE",
      "postgres", "batch_jobs", "batch_items", "pqxx",
      // exceptions and stack traces
      "::", "terminate", "what()", "EXCEPTION", "exception",
      "std::", "Backtrace", "backtrace", "Stack trace", "#0 0x", "Aborted",
      // file paths
      "/work/", "/usr/", "/tmp/", "/home/", "/root/", "/var/", ".cpp", ".hpp",
      ".sql"};
  // A shared object's name ("libpqxx-6.4.so", "libcaf_core.so.0.17"):
  // ".so" not followed by a letter, so "factors[0].source" is no leak.
  auto names_shared_object = [](const std::string& text) {
    for (auto at = text.find(".so"); at != std::string::npos;
         at = text.find(".so", at + 1)) {
      if (at + 3 >= text.size() ||
          !std::isalpha(static_cast<unsigned char>(text[at + 3])))
        return true;
    }
    return false;
  };
  INFO("answer: " << r.body);
  CHECK_FALSE(names_shared_object(r.body));
  for (const char* n : needles) {
    INFO("must not contain " << n);
    CHECK(r.body.find(n) == std::string::npos);
    for (const auto& [name, value] : r.headers) {
      CHECK(name.find(n) == std::string::npos);
      CHECK(value.find(n) == std::string::npos);
    }
  }
  for (const auto& [name, value] : r.headers)
    CHECK_FALSE(names_shared_object(value));
}

void check_error(const reply& r, int status, const std::string& code,
                 const std::optional<std::string>& field) {
  INFO("answer " << r.status << ": " << r.body);
  REQUIRE(r.status == status);
  CHECK(r.header("Content-Type").rfind("application/json", 0) == 0);
  json body;
  REQUIRE_NOTHROW(body = r.json());
  REQUIRE(body.is_object());
  CHECK(body.size() == 1);
  REQUIRE(body.contains("error"));
  const auto& e = body["error"];
  REQUIRE(e.is_object());
  CHECK(e["code"] == code);
  CHECK(e["message"].is_string());
  CHECK_FALSE(e["message"].get<std::string>().empty());
  static const std::regex rfc3339(
      R"(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z)");
  CHECK(std::regex_match(e["timestamp"].get<std::string>(), rfc3339));
  for (const auto& item : e.items()) {
    INFO("key " << item.key());
    CHECK((item.key() == "code" || item.key() == "message" ||
           item.key() == "details" || item.key() == "timestamp"));
  }
  if (e.contains("details"))
    CHECK(e["details"].is_object());
  if (field) {
    REQUIRE(e.contains("details"));
    CHECK(e["details"]["field"] == *field);
  }
  if (status == 503)
    CHECK_FALSE(r.header("Retry-After").empty());
  // A bug says nothing more: the details are in the log, under the id.
  if (status == 500)
    CHECK(e["message"] == "internal error");
  check_no_leak(r);
}

std::string raw_exchange(int port, const std::string& bytes,
                         bool shutdown_write,
                         std::chrono::milliseconds timeout) {
  ignore_sigpipe();
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(fd >= 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0);
  std::size_t sent = 0;
  while (sent < bytes.size()) {
    auto n = ::send(fd, bytes.data() + sent, bytes.size() - sent, MSG_NOSIGNAL);
    if (n <= 0)
      break;
    sent += static_cast<std::size_t>(n);
  }
  if (shutdown_write)
    shutdown(fd, SHUT_WR);
  std::string out;
  auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                    deadline - std::chrono::steady_clock::now())
                    .count();
    if (left <= 0)
      break;
    pollfd p{fd, POLLIN, 0};
    if (poll(&p, 1, static_cast<int>(left)) <= 0)
      break;
    char buf[4096];
    auto n = recv(fd, buf, sizeof buf, 0);
    if (n <= 0)
      break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  close(fd);
  return out;
}

bool healthy(int port) {
  httplib::Client cli("127.0.0.1", port);
  cli.set_connection_timeout(2, 0);
  cli.set_read_timeout(5, 0);
  auto r = cli.Get("/api/v1/health");
  return r && r->status == 200;
}

json activity_row(const std::string& id, json quantity) {
  return {{"id", id},
          {"activity_type", "electricity"},
          {"quantity", std::move(quantity)},
          {"unit", "kWh"},
          {"region", "US"},
          {"period_start", "2025-01-01"},
          {"period_end", "2025-01-31"}};
}

json factor_row(const std::string& id) {
  return {{"id", id},
          {"activity_type", "electricity"},
          {"scope", 2},
          {"region", "US"},
          {"unit", "kWh"},
          {"kg_co2e_per_unit", "0.5"},
          {"valid_from", "2020-01-01"},
          {"source", "own meter"}};
}

} // namespace ogf::testing
