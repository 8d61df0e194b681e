#include "http/server.hpp"

#include <atomic>
#include <chrono>
#include <stdexcept>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "common/log.hpp"

namespace ogf::http {

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;

std::string now_rfc3339() {
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
              now.time_since_epoch())
              .count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
                tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  res.set_content(body.dump(), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, int status, const std::string& code,
                const std::string& message, const json& details = nullptr) {
  json err = {{"code", code}, {"message", message},
              {"timestamp", now_rfc3339()}};
  if (!details.is_null())
    err["details"] = details;
  if (status == 503)
    res.set_header("Retry-After", "1");
  send_json(res, status, json{{"error", err}});
}

} // namespace

struct http_server::impl {
  caf::actor_system& sys;
  engine_actor engine;
  http_config cfg;
  httplib::Server server;
  std::atomic<bool> stopping{false};
  clock_type::time_point started = clock_type::now();
  int port = 0;

  impl(caf::actor_system& s, engine_actor e, http_config c)
    : sys(s), engine(std::move(e)), cfg(std::move(c)) {
  }

  /// One typed request into the engine, waiting at most request_timeout.
  template <class R, class... Ts>
  std::pair<std::optional<R>, caf::error> ask(std::chrono::milliseconds timeout,
                                              Ts&&... xs) {
    caf::scoped_actor self{sys};
    std::optional<R> result;
    caf::error failure;
    self->request(engine, timeout, std::forward<Ts>(xs)...)
      .receive([&](R& r) { result = std::move(r); },
               [&](caf::error& e) { failure = std::move(e); });
    return {std::move(result), std::move(failure)};
  }

  void handle_health(const httplib::Request&, httplib::Response& res) {
    auto [report, err] = ask<health_report>(std::chrono::milliseconds(3000),
                                            health_atom_v);
    auto uptime = std::chrono::duration<double>(clock_type::now() - started)
                    .count();
    bool ok = report && report->database_ok && !stopping.load()
              && !report->stopping && !report->degraded;
    json body = {
      {"status", ok ? "ok" : "unavailable"},
      {"version", cfg.version},
      {"uptime_seconds", uptime},
      {"node_id", cfg.node_id},
      {"database",
       {{"status", report && report->database_ok ? "ok" : "unavailable"},
        {"latency_ms",
         report ? static_cast<double>(report->database_latency_us) / 1000.0
                : 0.0}}},
      {"scheduler",
       {{"running", report && report->running && !stopping.load()},
        {"workers", report ? report->workers : 0},
        {"busy_workers", report ? report->busy_workers : 0},
        {"in_flight_batches", report ? report->in_flight_batches : 0},
        {"queue_depth", report ? report->queue_depth : 0}}},
    };
    if (!ok)
      res.set_header("Retry-After", "1");
    send_json(res, ok ? 200 : 503, body);
  }

  void install_routes() {
    server.Get("/api/v1/health",
               [this](const httplib::Request& req, httplib::Response& res) {
                 handle_health(req, res);
               });
    server.set_error_handler(
      [](const httplib::Request&, httplib::Response& res) {
        if (res.status == 404)
          send_error(res, 404, "not_found", "no such resource");
      });
  }

  void configure() {
    auto threads = cfg.threads;
    server.new_task_queue = [threads] {
      return new httplib::ThreadPool(static_cast<size_t>(threads));
    };
    server.set_tcp_nodelay(true);
    server.set_keep_alive_max_count(100000);
    server.set_keep_alive_timeout(cfg.keep_alive_timeout.count());
    server.set_read_timeout(cfg.io_timeout.count(), 0);
    server.set_write_timeout(cfg.io_timeout.count(), 0);
    server.set_payload_max_length(cfg.max_body_bytes);
    install_routes();
  }
};

http_server::http_server(caf::actor_system& sys, engine_actor engine,
                         http_config cfg)
  : impl_(std::make_unique<impl>(sys, std::move(engine), std::move(cfg))) {
  impl_->configure();
}

http_server::~http_server() {
  stop();
}

int http_server::bind() {
  auto& s = impl_->server;
  if (impl_->cfg.port == 0)
    impl_->port = s.bind_to_any_port(impl_->cfg.host.c_str());
  else if (s.bind_to_port(impl_->cfg.host.c_str(), impl_->cfg.port))
    impl_->port = impl_->cfg.port;
  else
    impl_->port = -1;
  if (impl_->port <= 0)
    throw std::runtime_error("cannot listen on " + impl_->cfg.host + ":"
                             + std::to_string(impl_->cfg.port)
                             + " (address in use or invalid)");
  return impl_->port;
}

void http_server::serve() {
  impl_->server.listen_after_bind();
}

void http_server::stop() {
  if (impl_ && impl_->server.is_running())
    impl_->server.stop();
}

void http_server::set_stopping() {
  impl_->stopping = true;
}

} // namespace ogf::http
