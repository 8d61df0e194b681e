// Internals of http_server, shared by server.cpp (transport: routing,
// limits, access log) and handlers.cpp (one function per endpoint). Not part
// of the public API.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <caf/all.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>

#include "domain/model.hpp"
#include "http/connection_gate.hpp"
#include "http/dashboard.hpp"
#include "http/errors.hpp"
#include "http/event_stream.hpp"
#include "http/metrics.hpp"
#include "http/route_table.hpp"
#include "http/server.hpp"

namespace ogf::http {

using clock_type = std::chrono::steady_clock;

/// A health ping slower than this reports the database as "degraded"
/// (still 200): it answers, but far slower than its usual millisecond.
inline constexpr std::chrono::milliseconds degraded_latency{500};

/// One routed request, as handlers see it.
struct api_call {
  const httplib::Request& req;
  const route_entry& route;
  std::vector<std::string> params; ///< `{name}` segments, in order
  domain::tenant tenant;           ///< empty for routes without tenancy
  std::string media_type;          ///< of the body, for routes that read one
  /// Keys mode: the verified key's id and the hash of the secret presented,
  /// so that a long call (an event stream) can check again that the key is
  /// still good. Empty in headers mode.
  std::string key_id;
  std::string secret_hash;
};

/// True for routes that change something (every method but GET/HEAD):
/// a read key may not call them, and each call is audited.
inline bool is_write_route(const route_entry& r) {
  return std::string_view(r.method) != "GET";
}

/// Writes `body` as the JSON answer with `status`.
void send_json(httplib::Response& res, int status, const nlohmann::json& body);

/// Writes the error body of `e` (and Retry-After for 503).
void send_error(httplib::Response& res, const http_error& e);

/// Media type of the request body, lower case without parameters
/// ("application/json"); empty when Content-Type is missing, repeated, or
/// names a charset other than UTF-8.
std::string body_media_type(const httplib::Request& req);

/// True for a unit of domain/units.hpp (the validators' unit check).
bool is_known_unit(std::string_view unit);

struct http_server::impl {
  caf::actor_system& sys;
  engine_actor engine;
  http_config cfg;
  gated_server server;
  std::unique_ptr<gated_server> admin; ///< health and metrics only, or null
  std::thread admin_thread;
  int admin_port = 0;
  std::atomic<bool> stopping{false}; ///< set_stopping(): refuse submits
  std::atomic<bool> closing{false};  ///< stop(): refuse new streams
  /// serve() was entered and has not decided yet whether to listen: stop()
  /// must wait for its listening to begin (cpp-httplib's stop() ignores a
  /// server that is not listening yet, which would then listen forever).
  std::atomic<bool> serve_starting{false};
  clock_type::time_point started = clock_type::now();
  int port = 0;
  http_metrics metrics;
  key_cache keys;           ///< API keys (keys mode)
  rate_limiter limiter;     ///< per-tenant request rate
  std::mutex streams_mutex; ///< guards the three members below
  std::set<std::shared_ptr<event_queue>> streams; ///< open event streams
  /// Event-stream slots taken: open streams plus those being set up.
  std::size_t stream_slots = 0;
  /// The same, per tenant (org, workspace); no entry at 0.
  std::map<std::pair<std::string, std::string>, std::size_t> tenant_slots;

  impl(caf::actor_system& s, engine_actor e, http_config c);

  /// One typed request into the engine, waiting at most `timeout`.
  template <class R, class... Ts>
  std::pair<std::optional<R>, caf::error>
  ask_within(std::chrono::milliseconds timeout, Ts&&... xs) {
    caf::scoped_actor self{sys};
    std::optional<R> result;
    caf::error failure;
    self->request(engine, timeout, std::forward<Ts>(xs)...)
        .receive([&](R& r) { result = std::move(r); },
                 [&](caf::error& e) { failure = std::move(e); });
    return {std::move(result), std::move(failure)};
  }

  /// ask_within with the configured request timeout.
  template <class R, class... Ts>
  std::pair<std::optional<R>, caf::error> ask(Ts&&... xs) {
    return ask_within<R>(cfg.request_timeout, std::forward<Ts>(xs)...);
  }

  /// The deadline of a write starting now: the engine drops it, or rolls
  /// it back, once the request timeout has passed.
  persistence::deadline write_deadline() const {
    return persistence::deadline::in(cfg.request_timeout);
  }

  /// For a write carrying write_deadline(): waits past the deadline by the
  /// commit grace, so that a write that reached its commit in time is
  /// answered with its outcome, never with a 503 that hides a commit.
  template <class R, class... Ts>
  std::pair<std::optional<R>, caf::error> ask_write(Ts&&... xs) {
    return ask_within<R>(cfg.request_timeout + cfg.commit_grace,
                         std::forward<Ts>(xs)...);
  }

  // -- transport (server.cpp) ---------------------------------------------

  void configure();
  /// Error, exception and logging hooks shared by both listeners.
  void install_common_hooks(httplib::Server& s);
  void configure_admin();
  /// Transport checks and the request id; answers methods cpp-httplib
  /// has no handler for (404 on the admin listener).
  httplib::Server::HandlerResponse before_routing(const httplib::Request& req,
                                                  httplib::Response& res,
                                                  bool admin_listener);
  void dispatch(const httplib::Request& req, httplib::Response& res);
  /// Answers a dashboard path (http/dashboard.hpp): the redirect to /ui/,
  /// or a file with its security and caching headers.
  void serve_dashboard(const httplib::Request& req, httplib::Response& res,
                       const ui_path& ui);
  /// Decides the tenant of a tenant-scoped call (CONTRACT §4): from the
  /// headers, or from the API key of its Authorization header. False, with
  /// `refusal` (401, 403 or 503) filled in, when the call may not go on.
  bool authenticate(api_call& call, http_error& refusal);
  /// The API key `id`, from the cache or the database; an api_key with an
  /// empty id when there is none; nullopt when the database did not answer.
  std::optional<domain::api_key> find_key(const std::string& id);
  /// Whether the key a call authenticated with is still usable (not
  /// revoked, not expired, same secret); true in headers mode, and while
  /// the database cannot be asked. Event streams check it as they run.
  bool key_still_valid(const std::string& key_id,
                       const std::string& secret_hash);
  void after_response(const httplib::Request& req,
                      const httplib::Response& res);
  void close_streams();

  // -- endpoints (handlers.cpp) -------------------------------------------

  void handle(api_call& call, httplib::Response& res);
  void reply_engine_error(httplib::Response& res, const caf::error& err,
                          std::string_view subject, std::string_view action);

  void get_health(api_call& call, httplib::Response& res);
  void get_node(api_call& call, httplib::Response& res);
  void get_batch_counts(api_call& call, httplib::Response& res);
  void get_batch_emissions(api_call& call, httplib::Response& res);
  /// The health object of GET /api/v1/health (and /node); `ok` says
  /// whether it is 200 or 503.
  nlohmann::json health_body(const std::optional<health_report>& report,
                             bool& ok);
  void get_metrics(api_call& call, httplib::Response& res);
  void submit_batch(api_call& call, httplib::Response& res);
  void list_batches(api_call& call, httplib::Response& res);
  void get_batch(api_call& call, httplib::Response& res);
  void delete_batch(api_call& call, httplib::Response& res);
  void list_items(api_call& call, httplib::Response& res);
  void get_progress(api_call& call, httplib::Response& res);
  void stream_events(api_call& call, httplib::Response& res);
  void cancel_batch(api_call& call, httplib::Response& res);
  void retry_batch(api_call& call, httplib::Response& res);
  void upsert_activities(api_call& call, httplib::Response& res);
  void get_activity(api_call& call, httplib::Response& res);
  void list_factors(api_call& call, httplib::Response& res);
  void upsert_factors(api_call& call, httplib::Response& res);

  /// The batch id of a `/batches/{id}` route, normalized; nullopt (answer
  /// 404) for anything but a UUID.
  std::optional<std::string> batch_id_of(const api_call& call,
                                         httplib::Response& res);
  /// An event-stream slot of one tenant, given back when destroyed.
  struct stream_slot {
    impl& server;
    std::pair<std::string, std::string> tenant;
    ~stream_slot();
  };
  /// Takes an event-stream slot for `owner` (the count check and the taking
  /// in one critical section, so a burst cannot overshoot the caps); null,
  /// with `refusal` filled in, when the server is stopping or a cap is
  /// reached. The slot is given back when the last copy of the handle goes.
  std::shared_ptr<stream_slot> reserve_stream_slot(const domain::tenant& owner,
                                                   http_error& refusal);
  /// Polls an idle event stream's batch: a newer progress, or done.
  void poll_stream(event_queue& queue, const domain::tenant& owner,
                   const std::string& batch_id);
};

} // namespace ogf::http
