#include "http/server.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <csignal>
#include <stdexcept>
#include <thread>

#include <pthread.h>

#include "common/api_token.hpp"
#include "common/log.hpp"
#include "domain/json_mapping.hpp"
#include "domain/time.hpp"
#include "domain/validation.hpp"
#include "http/server_impl.hpp"
#include "http/transport.hpp"

namespace ogf::http {

using nlohmann::json;

// -- shared helpers -----------------------------------------------------------

void send_json(httplib::Response& res, int status, const json& body) {
  res.status = status;
  // dump_exact: decimals keep every digit (domain/exact_json.hpp).
  res.set_content(domain::dump_exact(body), "application/json; charset=utf-8");
}

void send_error(httplib::Response& res, const http_error& e) {
  if ((e.status == 503 || e.status == 429) && !res.has_header("Retry-After"))
    res.set_header("Retry-After", std::to_string(retry_after_seconds));
  send_json(res, e.status, domain::error_body(e.code, e.message, e.details));
}

namespace {

// -- per-request context ------------------------------------------------------

/// What the access log and metrics need about the request a server thread
/// is working on. cpp-httplib runs pre-routing, the handler and the logger
/// of one request on one thread, one request after the other.
struct request_context {
  bool active = false;
  clock_type::time_point start;
  std::string request_id;
  std::string route = "unmatched"; ///< route template, never a raw path
  /// A call of a write route: after the answer, an audit line says who
  /// did what (never a token or secret).
  bool audit = false;
  std::string key_id; ///< of the API key presented (keys mode), if any
  std::optional<domain::tenant> tenant; ///< once decided
  std::string batch_id;                 ///< the batch acted on, if any
  /// Keys mode, a request with a body: authenticated before its body was
  /// read (before_routing); dispatch() takes the outcome from here.
  struct caller {
    domain::tenant tenant;
    std::string key_id;
    std::string secret_hash;
  };
  std::optional<caller> early_auth;
};

thread_local request_context current_request;

/// A client's X-Request-ID is echoed when it is 1-128 characters of
/// `A-Z a-z 0-9 . _ : -` (safe to log and to put in a header); otherwise
/// the server makes one.
bool acceptable_request_id(const std::string& id) {
  if (id.empty() || id.size() > 128)
    return false;
  for (unsigned char c : id)
    if (!std::isalnum(c) && c != '.' && c != '_' && c != ':' && c != '-')
      return false;
  return true;
}

/// The methods configure() gives cpp-httplib handlers for; before_routing
/// answers the others.
bool is_routed_method(const std::string& method) {
  static const std::set<std::string> routed = {
      "GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"};
  return routed.count(method) > 0;
}

/// The method as a metrics label (a fixed set).
std::string method_label(const std::string& method) {
  return is_routed_method(method) ? method : "other";
}

/// Answers `e` and makes cpp-httplib close the connection afterwards: the
/// request's body was not read, and its bytes must never be taken for the
/// next request on this connection (request smuggling). A content provider
/// that reports failure after writing the whole body is the one way to close
/// a connection from a handler in cpp-httplib 0.11.
void answer_and_close(httplib::Response& res, const http_error& e) {
  auto body = std::make_shared<std::string>(
      domain::error_body(e.code, e.message, e.details).dump());
  res.status = e.status;
  res.set_header("Connection", "close");
  res.set_content_provider(
      body->size(), "application/json; charset=utf-8",
      [body](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
        sink.write(body->data() + offset, length);
        return false;
      });
}

/// Gives the answer being made for the request on this thread an
/// X-Request-ID when it has none yet (answers cpp-httplib makes before
/// the pre-routing handler runs: a malformed request line or header, a
/// request target over 8 KiB, a bad Range), and makes the access log line
/// carry the same id.
void ensure_request_id(const httplib::Request& req, httplib::Response& res) {
  if (res.has_header("X-Request-ID"))
    return;
  auto& ctx = current_request;
  if (!ctx.active) {
    ctx.active = true;
    ctx.start = clock_type::now();
    auto given = req.get_header_value("X-Request-ID");
    ctx.request_id = acceptable_request_id(given) ? given : new_request_id();
    ctx.route = "unmatched";
  }
  res.set_header("X-Request-ID", ctx.request_id);
}

/// The tenant of a request, or the name of the header that is missing or
/// malformed.
std::optional<domain::tenant> read_tenant(const httplib::Request& req,
                                          std::string& bad_header) {
  domain::tenant t;
  for (auto [name, out] : {std::pair{"X-Org-ID", &t.org_id},
                           std::pair{"X-Workspace-ID", &t.workspace_id}}) {
    if (req.get_header_value_count(name) != 1) {
      bad_header = name;
      return std::nullopt;
    }
    *out = req.get_header_value(name);
    if (!domain::validate_tenant_header(*out)) {
      bad_header = name;
      return std::nullopt;
    }
  }
  return t;
}

} // namespace

std::string body_media_type(const httplib::Request& req) {
  if (req.get_header_value_count("Content-Type") != 1)
    return {};
  auto value = req.get_header_value("Content-Type");
  auto lower = [](std::string s) {
    for (auto& c : s)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  auto trim = [](std::string s) {
    auto b = s.find_first_not_of(" \t");
    auto e = s.find_last_not_of(" \t");
    return b == std::string::npos ? std::string{} : s.substr(b, e - b + 1);
  };
  auto semi = value.find(';');
  auto type = lower(trim(value.substr(0, semi)));
  while (semi != std::string::npos) {
    auto next = value.find(';', semi + 1);
    auto param =
        value.substr(semi + 1, next == std::string::npos ? std::string::npos
                                                         : next - semi - 1);
    semi = next;
    auto eq = param.find('=');
    if (eq == std::string::npos)
      continue;
    auto name = lower(trim(param.substr(0, eq)));
    auto val = lower(trim(param.substr(eq + 1)));
    if (val.size() >= 2 && val.front() == '"' && val.back() == '"')
      val = val.substr(1, val.size() - 2);
    if (name == "charset" && val != "utf-8" && val != "utf8")
      return {};
  }
  return type;
}

// -- transport ----------------------------------------------------------------

httplib::Server::HandlerResponse
http_server::impl::before_routing(const httplib::Request& req,
                                  httplib::Response& res, bool admin_listener) {
  using handled = httplib::Server::HandlerResponse;
  auto& ctx = current_request;
  // A fresh context for every request: nothing of the one before on this
  // thread (its tenant, its early authentication) may carry over.
  ctx = request_context{};
  ctx.active = true;
  ctx.start = clock_type::now();
  auto given = req.get_header_value("X-Request-ID");
  ctx.request_id = acceptable_request_id(given) ? given : new_request_id();
  auto found = find_route(req.method, req.path);
  ctx.route = found.path_template.empty() ? "unmatched" : found.path_template;
  if (auto ui = match_ui_path(req.path);
      ui.what != ui_path::kind::none && !admin_listener)
    ctx.route = ui.label;
  res.set_header("X-Request-ID", ctx.request_id);
  // No answer of this server is meant to be sniffed into another type.
  res.set_header("X-Content-Type-Options", "nosniff");

  // cpp-httplib reads chunked and compressed bodies, and bodies without a
  // length, past its payload limit; they are refused before it reads them.
  if (req.has_header("Transfer-Encoding")) {
    answer_and_close(res, {413, "payload_too_large",
                           "request bodies with Transfer-Encoding are not "
                           "accepted; send Content-Length (at most " +
                               std::to_string(cfg.max_body_bytes) + " bytes)",
                           nullptr});
    return handled::Handled;
  }
  if (req.has_header("Content-Encoding") &&
      req.get_header_value("Content-Encoding") != "identity") {
    answer_and_close(res, {413, "payload_too_large",
                           "compressed request bodies are not accepted; send "
                           "at most " +
                               std::to_string(cfg.max_body_bytes) +
                               " bytes uncompressed",
                           nullptr});
    return handled::Handled;
  }
  // cpp-httplib parses form bodies before any handler runs (and answers
  // 400 for a bad multipart body); no route takes them.
  auto type = body_media_type(req);
  if (type.rfind("multipart/", 0) == 0 ||
      type == "application/x-www-form-urlencoded") {
    answer_and_close(res, {415, "unsupported_media_type",
                           "form bodies are not accepted; send "
                           "application/json",
                           nullptr});
    return handled::Handled;
  }
  auto lengths = req.get_header_value_count("Content-Length");
  if (lengths > 1) {
    answer_and_close(res, {400, "bad_request",
                           "more than one Content-Length header", nullptr});
    return handled::Handled;
  }
  if (lengths == 1) {
    auto text = req.get_header_value("Content-Length");
    if (text.empty() || text.size() > 19 ||
        text.find_first_not_of("0123456789") != std::string::npos) {
      answer_and_close(
          res, {400, "bad_request", "Content-Length is not a number", nullptr});
      return handled::Handled;
    }
    // Refused before reading: cpp-httplib would read and discard the whole
    // announced body, holding a pool thread for as long as the client
    // cares to send. The connection closes lingering, so the client still
    // reads this answer.
    if (std::stoull(text) > cfg.max_body_bytes) {
      answer_and_close(res, {413, "payload_too_large",
                             "request body too large; send at most " +
                                 std::to_string(cfg.max_body_bytes) + " bytes",
                             nullptr});
      return handled::Handled;
    }
  } else if (req.method == "POST" || req.method == "PUT" ||
             req.method == "PATCH") {
    // Without Content-Length or Transfer-Encoding a request has no body
    // (RFC 9112 §6.3); cpp-httplib would read until the client closes.
    const_cast<httplib::Request&>(req).set_header("Content-Length", "0");
  }
  // Keys mode: a request with a body proves its key before the body is
  // read, so that a client without a valid key cannot make the server
  // take in (or wait for) megabytes before its 401. dispatch() uses the
  // outcome.
  if (!admin_listener && cfg.auth == auth_mode::keys &&
      found.entry != nullptr && found.entry->tenant_scoped && lengths == 1 &&
      req.get_header_value("Content-Length") != "0") {
    api_call call{req, *found.entry, {}, {}, {}};
    ctx.audit = is_write_route(*found.entry);
    http_error refusal;
    if (!authenticate(call, refusal)) {
      if (refusal.status == 401)
        res.set_header("WWW-Authenticate", "Bearer");
      answer_and_close(res, refusal);
      return handled::Handled;
    }
    ctx.early_auth =
        request_context::caller{call.tenant, call.key_id, call.secret_hash};
  }
  // Methods without a cpp-httplib handler (TRACE, CONNECT, and those the
  // connection gate passes through, like PROPFIND) would get 400 from it:
  // the route table answers them, 405 with Allow on a known path. Their
  // body is never read; the gate closes the connection after the answer.
  if (!is_routed_method(req.method)) {
    if (admin_listener)
      send_error(res, {404, "not_found",
                       "the admin listener serves only GET /api/v1/health "
                       "and /metrics",
                       nullptr});
    else
      dispatch(req, res);
    return handled::Handled;
  }
  return handled::Unhandled;
}

void http_server::impl::dispatch(const httplib::Request& req,
                                 httplib::Response& res) {
  try {
    if (auto ui = match_ui_path(req.path); ui.what != ui_path::kind::none)
      return serve_dashboard(req, res, ui);
    auto found = find_route(req.method, req.path);
    if (found.path_template.empty()) {
      send_error(res, {404, "not_found", "no such route", nullptr});
      return;
    }
    if (found.entry == nullptr) {
      res.set_header("Allow", found.allow);
      if (req.method == "OPTIONS") {
        res.status = 204;
        return;
      }
      send_error(res, {405, "method_not_allowed",
                       "this route accepts " + found.allow, nullptr});
      return;
    }
    api_call call{req, *found.entry, std::move(found.params), {}, {}};
    auto& ctx = current_request;
    ctx.audit = is_write_route(call.route);
    if (call.route.tenant_scoped) {
      // One place for every route (CONTRACT §4): who is calling, may they,
      // and have they called too often. Nothing else runs before this.
      http_error refusal;
      if (ctx.early_auth) {
        call.tenant = std::move(ctx.early_auth->tenant);
        call.key_id = std::move(ctx.early_auth->key_id);
        call.secret_hash = std::move(ctx.early_auth->secret_hash);
        ctx.early_auth.reset();
      } else if (!authenticate(call, refusal)) {
        if (refusal.status == 401 && cfg.auth == auth_mode::keys)
          res.set_header("WWW-Authenticate", "Bearer");
        send_error(res, refusal);
        return;
      }
      ctx.tenant = call.tenant;
      // A tenant's data is for that tenant: no shared cache may keep it
      // (headers mode behind a gateway carries no Authorization header,
      // which would otherwise keep caches away).
      res.set_header("Cache-Control", "no-store");
      if (auto wait = limiter.take(call.tenant, clock_type::now()); wait > 0) {
        res.set_header("Retry-After", std::to_string(wait));
        send_error(res, {429,
                         "rate_limited",
                         "too many requests for this tenant; retry after " +
                             std::to_string(wait) + " s",
                         {{"limit_per_second", cfg.tenant_rate_limit}}});
        return;
      }
      if (!call.params.empty() &&
          std::string_view(call.route.path).rfind("/api/v1/batches/{id}", 0) ==
              0)
        ctx.batch_id = call.params.front();
    }
    if (call.route.body != body_rule::none) {
      auto media = body_media_type(req);
      call.media_type = media;
      bool csv_ok = call.route.body == body_rule::json_or_csv;
      if (media != "application/json" && !(csv_ok && media == "text/csv")) {
        send_error(res, {415, "unsupported_media_type",
                         csv_ok ? "send the body as application/json or "
                                  "text/csv (UTF-8)"
                                : "send the body as application/json (UTF-8)",
                         nullptr});
        return;
      }
    }
    handle(call, res);
  } catch (const std::exception& e) {
    log::error("request failed", {{"error", e.what()},
                                  {"request_id", current_request.request_id}});
    res.headers.erase("Location");
    send_error(res, {});
  }
}

void http_server::impl::serve_dashboard(const httplib::Request& req,
                                        httplib::Response& res,
                                        const ui_path& ui) {
  for (const auto& [name, value] : ui_security_headers())
    res.set_header(name, value);
  if (req.method != "GET" && req.method != "HEAD") {
    res.set_header("Allow", "GET");
    if (req.method == "OPTIONS") {
      res.status = 204;
      return;
    }
    send_error(
        res, {405, "method_not_allowed", "the dashboard accepts GET", nullptr});
    return;
  }
  if (ui.what == ui_path::kind::redirect) {
    res.status = 302;
    res.set_header("Location", "/ui/");
    return;
  }
  if (ui.asset == "config.json") {
    // How the server decides tenants, so that the sign-in page asks for
    // the right credentials without a request that fails.
    res.status = 200;
    res.set_content(
        json{{"auth", cfg.auth == auth_mode::keys ? "keys" : "headers"}}.dump(),
        "application/json; charset=utf-8");
    return;
  }
  auto asset = find_ui_asset(ui.asset, cfg.ui_dir);
  if (!asset) {
    send_error(res, {404, "not_found", "no such dashboard file", nullptr});
    return;
  }
  res.set_header("ETag", asset->etag);
  if (req.has_header("If-None-Match") &&
      etag_matches(req.get_header_value("If-None-Match"), asset->etag)) {
    res.status = 304;
    return;
  }
  res.status = 200;
  res.set_content(std::move(asset->body), std::string(asset->content_type));
}

std::optional<domain::api_key>
http_server::impl::find_key(const std::string& id) {
  auto now = clock_type::now();
  if (auto cached = keys.find(id, now))
    return cached;
  auto [key, err] = ask<domain::api_key>(key_atom_v, id);
  if (!key) {
    log::warn("API key lookup failed",
              {{"key_id", id}, {"error", engine_message(err)}});
    return std::nullopt;
  }
  keys.store(id, *key, now);
  return key;
}

bool http_server::impl::authenticate(api_call& call, http_error& refusal) {
  const auto& req = call.req;
  if (cfg.auth == auth_mode::headers) {
    std::string bad;
    auto t = read_tenant(req, bad);
    if (!t) {
      refusal = {401,
                 "unauthenticated",
                 "missing or malformed " + bad +
                     " header (1-64 characters of A-Z a-z 0-9 _ -)",
                 {{"field", bad}}};
      return false;
    }
    call.tenant = std::move(*t);
    return true;
  }
  // Keys mode. The messages never repeat what the client sent: a token
  // must not reach a log line or an error body.
  auto unauthenticated = [&](std::string message) {
    refusal = {401, "unauthenticated", std::move(message), nullptr};
    return false;
  };
  auto count = req.get_header_value_count("Authorization");
  if (count == 0)
    return unauthenticated("this route needs an API key: send "
                           "Authorization: Bearer <token>");
  if (count > 1)
    return unauthenticated("more than one Authorization header");
  auto token = auth::parse_authorization(req.get_header_value("Authorization"));
  if (!token)
    return unauthenticated("malformed Authorization header: expected Bearer "
                           "ogf_<key id>_<secret>");
  auto key = find_key(token->key_id);
  if (!key) {
    refusal = {503, "unavailable", "cannot check the API key now; retry later",
               nullptr};
    return false;
  }
  // Unknown id and wrong secret read the same, so that nobody learns
  // which key ids exist without holding one of their secrets.
  auto presented = auth::hash_secret(token->secret);
  if (key->id.empty() || !auth::same_hash(key->secret_hash, presented))
    return unauthenticated("unknown API key or wrong secret");
  // Only a key whose secret was shown is named in the audit line.
  current_request.key_id = key->id;
  if (key->revoked_at)
    return unauthenticated("this API key was revoked");
  if (!domain::key_usable(*key, domain::now_us()))
    return unauthenticated("this API key has expired");
  if (key->role == domain::key_role::read && is_write_route(call.route)) {
    refusal = {403,
               "forbidden",
               "this API key may only read (role read); " +
                   std::string(call.route.method) + " needs a write key",
               {{"role", "read"}}};
    return false;
  }
  // Tenant headers are optional with a key; given, they must name its
  // tenant (a client that means another tenant must not act on this one).
  for (auto [name, want] :
       {std::pair{"X-Org-ID", &key->owner.org_id},
        std::pair{"X-Workspace-ID", &key->owner.workspace_id}}) {
    auto n = req.get_header_value_count(name);
    if (n == 0)
      continue;
    if (n > 1 || req.get_header_value(name) != *want) {
      refusal = {403,
                 "forbidden",
                 std::string(name) + " does not match the API key's tenant",
                 {{"field", name}}};
      return false;
    }
  }
  call.tenant = key->owner;
  call.key_id = key->id;
  call.secret_hash = std::move(presented);
  return true;
}

bool http_server::impl::key_still_valid(const std::string& key_id,
                                        const std::string& secret_hash) {
  if (key_id.empty())
    return true;
  auto key = find_key(key_id);
  if (!key)
    return true; // cannot tell now; asked again at the next check
  return !key->id.empty() && auth::same_hash(key->secret_hash, secret_hash) &&
         domain::key_usable(*key, domain::now_us());
}

void http_server::impl::after_response(const httplib::Request& req,
                                       const httplib::Response& res) {
  auto& ctx = current_request;
  if (!ctx.active) { // answered by cpp-httplib, before any hook
    ctx.start = clock_type::now();
    ctx.request_id = res.get_header_value("X-Request-ID");
    if (ctx.request_id.empty())
      ctx.request_id = new_request_id();
    ctx.route = "unmatched";
  }
  auto seconds =
      std::chrono::duration<double>(clock_type::now() - ctx.start).count();
  auto method = method_label(req.method);
  metrics.observe_request(ctx.route, method, res.status, seconds);
  log::info("http request", {{"method", method},
                             {"route", ctx.route},
                             {"status", res.status},
                             {"duration_ms", std::round(seconds * 1e6) / 1e3},
                             {"request_id", ctx.request_id}});
  if (ctx.audit) {
    // Who did what (CONTRACT §4): key id, tenant, route, batch, status.
    auto batch_id = ctx.batch_id;
    if (batch_id.empty() && res.has_header("Location")) {
      auto location = res.get_header_value("Location");
      batch_id = location.substr(location.rfind('/') + 1);
    }
    log::info(
        "audit",
        {{"key_id", ctx.key_id.empty() ? nlohmann::json(nullptr)
                                       : nlohmann::json(ctx.key_id)},
         {"org_id", ctx.tenant ? nlohmann::json(ctx.tenant->org_id)
                               : nlohmann::json(nullptr)},
         {"workspace_id", ctx.tenant ? nlohmann::json(ctx.tenant->workspace_id)
                                     : nlohmann::json(nullptr)},
         {"method", method},
         {"route", ctx.route},
         {"batch_id", batch_id.empty() ? nlohmann::json(nullptr)
                                       : nlohmann::json(batch_id)},
         {"status", res.status},
         {"request_id", ctx.request_id}});
  }
  ctx = request_context{};
}

void http_server::impl::close_streams() {
  std::lock_guard<std::mutex> guard{streams_mutex};
  for (const auto& q : streams)
    q->close();
}

namespace {

/// The connection limits of the API listener.
gate_config api_gate(const http_config& cfg) {
  gate_config g;
  g.workers = static_cast<std::size_t>(std::max(cfg.threads, 1));
  g.max_connections =
      static_cast<std::size_t>(std::max(cfg.max_connections, 1));
  g.max_queued = static_cast<std::size_t>(std::max(cfg.max_queued_requests, 1));
  g.max_head_bytes = cfg.max_header_bytes;
  g.idle_timeout = cfg.keep_alive_timeout;
  g.head_timeout = cfg.header_timeout;
  g.body_timeout = cfg.body_timeout;
  g.io_timeout = cfg.io_timeout;
  return g;
}

/// The admin listener's: two threads, a few connections, short patience.
gate_config admin_gate(const http_config& cfg) {
  gate_config g = api_gate(cfg);
  g.workers = 2;
  g.max_connections = 64;
  g.max_queued = 16;
  g.max_head_bytes = 8 * 1024;
  g.head_timeout = std::chrono::seconds(2);
  return g;
}

} // namespace

http_server::impl::impl(caf::actor_system& s, engine_actor e, http_config c)
    : sys(s), engine(std::move(e)), cfg(std::move(c)), server(api_gate(cfg)),
      keys(cfg.key_cache_ttl, 10000), limiter(cfg.tenant_rate_limit) {}

void http_server::impl::configure() {
  server.set_tcp_nodelay(true);
  server.set_payload_max_length(cfg.max_body_bytes);
  server.set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        return before_routing(req, res, false);
      });
  server.on_refusal = [this](refusal r) { metrics.connection_refused(r); };
  auto route = [this](const httplib::Request& req, httplib::Response& res) {
    dispatch(req, res);
  };
  // One dispatcher for every method: the route table decides 404 and 405.
  server.Get(".*", route);
  server.Post(".*", route);
  server.Put(".*", route);
  server.Delete(".*", route);
  server.Patch(".*", route);
  server.Options(".*", route);
  install_common_hooks(server);
  if (!cfg.admin_host.empty())
    configure_admin();
}

void http_server::impl::configure_admin() {
  admin = std::make_unique<gated_server>(admin_gate(cfg));
  admin->set_tcp_nodelay(true);
  admin->set_payload_max_length(1024);
  admin->set_pre_routing_handler(
      [this](const httplib::Request& req, httplib::Response& res) {
        return before_routing(req, res, true);
      });
  admin->on_refusal = [this](refusal r) { metrics.connection_refused(r); };
  // GET and HEAD of health and metrics, nothing else: the admin port is for
  // probes and scrapers, and must stay cheap however busy the API is.
  admin->Get(".*", [this](const httplib::Request& req, httplib::Response& res) {
    try {
      auto found = find_route(req.method, req.path);
      if (found.entry == nullptr ||
          (found.entry->target != endpoint::health &&
           found.entry->target != endpoint::metrics)) {
        send_error(res, {404, "not_found",
                         "the admin listener serves only /api/v1/health and "
                         "/metrics",
                         nullptr});
        return;
      }
      api_call call{req, *found.entry, {}, {}, {}};
      handle(call, res);
    } catch (const std::exception& e) {
      log::error(
          "request failed",
          {{"error", e.what()}, {"request_id", current_request.request_id}});
      send_error(res, {});
    }
  });
  install_common_hooks(*admin);
}

void http_server::impl::install_common_hooks(httplib::Server& s) {
  // Answers cpp-httplib produced by itself (bad request line, body over the
  // limit) get the error body and a request id too; answers with a body
  // keep it. cpp-httplib calls this for every answer of 400 and above.
  s.set_error_handler(httplib::Server::HandlerWithResponse(
      [](const httplib::Request& req,
         httplib::Response& res) -> httplib::Server::HandlerResponse {
        ensure_request_id(req, res);
        if (res.has_header("Content-Type"))
          return httplib::Server::HandlerResponse::Unhandled;
        auto status = res.status;
        std::string message = status == 413   ? "request body too large"
                              : status == 404 ? "no such route"
                                              : "malformed request";
        send_error(res, {status, code_for_status(status), message, nullptr});
        return httplib::Server::HandlerResponse::Handled;
      }));
  s.set_exception_handler(
      [](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        // dispatch() catches everything; this is a second net so that
        // cpp-httplib never puts exception text into a header.
        res.headers.erase("EXCEPTION_WHAT");
        send_error(res, {});
      });
  s.set_logger(
      [this](const httplib::Request& req, const httplib::Response& res) {
        after_response(req, res);
      });
}

// -- public API ---------------------------------------------------------------

http_server::http_server(caf::actor_system& sys, engine_actor engine,
                         http_config cfg)
    : impl_(std::make_unique<impl>(sys, std::move(engine), std::move(cfg))) {
  impl_->configure();
}

http_server::~http_server() {
  stop();
}

namespace {

/// Binds `s` to host:port (port 0: any); the bound port, or throws.
int bind_listener(gated_server& s, const std::string& host, int port) {
  int bound = -1;
  if (port == 0)
    bound = s.bind_to_any_port(host.c_str());
  else if (s.bind_to_port(host.c_str(), port))
    bound = port;
  if (bound <= 0)
    throw std::runtime_error("cannot listen on " + host + ":" +
                             std::to_string(port) +
                             " (address in use or invalid)");
  s.raise_backlog();
  return bound;
}

} // namespace

void check_tls_files(const std::string& cert_file,
                     const std::string& key_file) {
  (void)make_tls_context(cert_file, key_file);
}

int http_server::bind() {
  // The TLS files first: a bad one must not leave a bound port behind.
  if (!impl_->cfg.tls_cert_file.empty() || !impl_->cfg.tls_key_file.empty())
    impl_->server.set_tls(
        make_tls_context(impl_->cfg.tls_cert_file, impl_->cfg.tls_key_file));
  impl_->port = -1;
  impl_->port = bind_listener(impl_->server, impl_->cfg.host, impl_->cfg.port);
  if (impl_->admin)
    impl_->admin_port = bind_listener(*impl_->admin, impl_->cfg.admin_host,
                                      impl_->cfg.admin_port);
  return impl_->port;
}

void http_server::serve() {
  // cpp-httplib writes with send(..., 0): a client that went away would
  // raise SIGPIPE and kill the process. Block it on this thread; the pool
  // threads, created by listen, inherit the mask and see EPIPE instead.
  sigset_t pipe, old;
  sigemptyset(&pipe);
  sigaddset(&pipe, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe, &old);
  impl_->serve_starting = true;
  if (impl_->closing) { // stopped before it began: never listen
    impl_->serve_starting = false;
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    return;
  }
  if (impl_->admin && impl_->admin_port > 0)
    impl_->admin_thread =
        std::thread([this] { impl_->admin->listen_after_bind(); });
  impl_->server.listen_after_bind();
  impl_->serve_starting = false;
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
}

void http_server::stop(std::chrono::milliseconds grace) {
  if (!impl_)
    return;
  auto deadline = clock_type::now() + grace;
  impl_->closing = true;
  impl_->close_streams();
  // Both listeners stop at once, by the same deadline; the API listener's
  // stop completes on serve()'s thread. A SIGTERM right after start may
  // come before serve() listens: wait for that (serve() sees `closing` if
  // it has not decided yet, and then does not listen at all).
  while (impl_->serve_starting && !impl_->server.is_running() &&
         clock_type::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  if (impl_->server.is_running())
    impl_->server.stop_by(deadline);
  if (impl_->admin && impl_->admin_thread.joinable()) {
    // cpp-httplib's stop() ignores a server that is not listening yet; the
    // admin thread starts listening within moments of serve().
    auto listening_by = clock_type::now() + std::chrono::seconds(2);
    while (!impl_->admin->is_running() && clock_type::now() < listening_by)
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    impl_->admin->stop_by(deadline);
    impl_->admin_thread.join();
  }
}

void http_server::set_stopping() {
  impl_->stopping = true;
}

bool http_server::tls() const {
  return impl_->server.tls();
}

int http_server::port() const {
  return impl_->port > 0 ? impl_->port : 0;
}

int http_server::admin_port() const {
  return impl_->admin_port > 0 ? impl_->admin_port : 0;
}

} // namespace ogf::http
