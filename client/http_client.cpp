#include "client/http_client.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <thread>

#include <httplib.h>

#include "client/format.hpp"
#include "client/sse.hpp"
#include "domain/exact_json.hpp"

namespace ogf::client {

namespace {

/// The first line of a non-API error body, made printable and short.
std::string first_line(const std::string& body) {
  auto line = body.substr(0, body.find_first_of("\r\n"));
  if (line.size() > 200)
    line = line.substr(0, 200) + "...";
  return printable(line);
}

std::string describe_status(int status) {
  return "HTTP " + std::to_string(status);
}

/// The seconds of a Retry-After header (delta-seconds); 1 s when absent or
/// an HTTP date.
std::chrono::milliseconds retry_after(const httplib::Response& res) {
  auto v = res.get_header_value("Retry-After");
  if (v.empty() ||
      !std::all_of(v.begin(), v.end(),
                   [](unsigned char c) { return std::isdigit(c); }) ||
      v.size() > 6)
    return std::chrono::seconds(1);
  return std::chrono::seconds(std::stol(v));
}

/// What went wrong on the way, for a person.
std::string describe(httplib::Error e) {
  switch (e) {
  case httplib::Error::Connection:
    return "connection refused or host unreachable";
  case httplib::Error::ConnectionTimeout:
    return "no connection within the connect timeout";
  case httplib::Error::Read:
    return "no complete answer (timed out or the connection broke)";
  case httplib::Error::Write:
    return "the request could not be sent (the connection broke)";
  case httplib::Error::SSLConnection:
    return "TLS handshake failed (is it an https server?)";
  case httplib::Error::SSLLoadingCerts:
    return "the trusted certificates could not be loaded (--ca-cert)";
  case httplib::Error::SSLServerVerification:
    return "the server's certificate is not trusted for this host (give "
           "its CA with --ca-cert)";
  case httplib::Error::Canceled:
    return "stopped";
  default:
    return httplib::to_string(e);
  }
}

/// Failures where the request surely never reached the server: repeating
/// them is safe whatever the request.
bool before_sending(httplib::Error e) {
  return e == httplib::Error::Connection || e == httplib::Error::SSLConnection;
}

/// Failures that a second try may well not have: the connection broke or
/// timed out after it was made.
bool transient(httplib::Error e) {
  return e == httplib::Error::Read || e == httplib::Error::Write;
}

} // namespace

request_error::request_error(failure_kind kind, int status, std::string code,
                             std::string message, nlohmann::json details)
    : std::runtime_error(code.empty() ? message : code + ": " + message),
      kind_(kind), status_(status), code_(std::move(code)),
      message_(std::move(message)), details_(std::move(details)) {}

std::string response::header(const std::string& name) const {
  for (const auto& [k, v] : headers)
    if (k.size() == name.size() &&
        std::equal(k.begin(), k.end(), name.begin(), [](char a, char b) {
          return std::tolower(static_cast<unsigned char>(a)) ==
                 std::tolower(static_cast<unsigned char>(b));
        }))
      return v;
  return {};
}

struct connection::impl {
  server_url url;
  httplib::Client cli;
  httplib::Headers headers;

  explicit impl(const client_config& c)
      : url(parse_server_url(c.server)), cli(base(url)) {
    cli.set_keep_alive(true);
    cli.set_tcp_nodelay(true);
    cli.set_follow_location(false);
    cli.set_compress(false);
    cli.set_decompress(true);
    auto secs = [](std::chrono::milliseconds d) {
      return std::pair<time_t, time_t>(d.count() / 1000,
                                       (d.count() % 1000) * 1000);
    };
    auto [cs, cus] = secs(c.connect_timeout);
    cli.set_connection_timeout(cs, cus);
    auto [rs, rus] = secs(c.read_timeout);
    cli.set_read_timeout(rs, rus);
    cli.set_write_timeout(rs, rus);
    if (url.tls) {
      cli.enable_server_certificate_verification(true);
      if (!c.ca_cert.empty())
        cli.set_ca_cert_path(c.ca_cert);
    }
    headers.emplace("User-Agent",
                    std::string("offgridflow-batch/") + OGF_VERSION);
    if (!c.api_key.empty())
      headers.emplace("Authorization", "Bearer " + c.api_key);
    if (!c.org.empty())
      headers.emplace("X-Org-ID", c.org);
    if (!c.workspace.empty())
      headers.emplace("X-Workspace-ID", c.workspace);
  }

  static std::string base(const server_url& u) {
    auto host =
        u.host.find(':') != std::string::npos ? "[" + u.host + "]" : u.host;
    return (u.tls ? "https://" : "http://") + host + ":" +
           std::to_string(u.port);
  }
};

connection::connection(client_config config)
    : config_(std::move(config)), impl_(std::make_unique<impl>(config_)) {}

connection::~connection() = default;

response connection::get(const std::string& path) {
  return send("GET", path, nullptr, {}, repeat::always, {});
}

response connection::post(const std::string& path, const std::string& body,
                          const std::string& content_type, repeat policy,
                          const header_list& extra) {
  return send("POST", path, &body, content_type, policy, extra);
}

response connection::post_json(const std::string& path,
                               const nlohmann::json& body, repeat policy,
                               const header_list& extra) {
  return post(path, domain::dump_exact(body), "application/json", policy,
              extra);
}

response connection::del(const std::string& path) {
  return send("DELETE", path, nullptr, {}, repeat::after_unavailable, {});
}

void connection::abort() {
  impl_->cli.stop();
}

namespace {

/// The request_error for a non-2xx answer: the API's error body when it
/// has one, the status line otherwise (a proxy's page, say).
request_error error_of(int status, const std::string& body) {
  // A redirect is not followed (credentials stay with the server named):
  // a server or proxy set up wrong, not a request to change (exit 3).
  failure_kind kind = status >= 500 || status < 400    ? failure_kind::server
                      : status == 401 || status == 403 ? failure_kind::auth
                                                       : failure_kind::client;
  auto parsed = nlohmann::json::parse(body, nullptr, false);
  if (parsed.is_object() && parsed.contains("error") &&
      parsed["error"].is_object()) {
    const auto& e = parsed["error"];
    auto text = [&](const char* key) {
      auto it = e.find(key);
      return it != e.end() && it->is_string() ? it->get<std::string>()
                                              : std::string();
    };
    auto code = text("code");
    if (!code.empty()) {
      auto details = e.find("details");
      return request_error(
          kind, status, printable(code), printable(text("message")),
          details != e.end() && details->is_object() ? *details
                                                     : nlohmann::json());
    }
  }
  auto line = first_line(body);
  return request_error(kind, status, "",
                       describe_status(status) +
                           (line.empty() ? "" : ": " + line));
}

} // namespace

response connection::send(const std::string& method, const std::string& path,
                          const std::string* body,
                          const std::string& content_type, repeat policy,
                          const header_list& extra) {
  // The connection's own headers as they are; a copy only for a request
  // with extra ones (the bench sends none, thousands a second).
  httplib::Headers with_extra;
  if (!extra.empty()) {
    with_extra = impl_->headers;
    for (const auto& [k, v] : extra)
      with_extra.emplace(k, v);
  }
  const auto& headers = extra.empty() ? impl_->headers : with_extra;
  for (int attempt = 0;; ++attempt) {
    httplib::Result r = [&] {
      if (method == "GET")
        return impl_->cli.Get(path, headers);
      if (method == "DELETE")
        return impl_->cli.Delete(path, headers);
      return impl_->cli.Post(path, headers, *body, content_type);
    }();
    bool retries_left = attempt < config_.max_retries;
    if (!r) {
      auto e = r.error();
      // A connection that broke mid-request (a kept-alive one the server
      // closed, a node stopping) is tried once more; a server that cannot be
      // reached at all is said at once.
      if (retries_left && attempt == 0 && policy == repeat::always &&
          transient(e)) {
        std::this_thread::sleep_for(std::chrono::milliseconds(100 << attempt));
        continue;
      }
      std::string what = "cannot reach " + config_.server + ": " + describe(e);
      if (!before_sending(e) && policy != repeat::always)
        what += " (the request may or may not have been applied)";
      throw request_error(failure_kind::unreachable, 0, "", what);
    }
    if (r->status == 503 && policy != repeat::never && retries_left) {
      std::this_thread::sleep_for(
          std::min(retry_after(*r), config_.max_retry_wait));
      continue;
    }
    if (r->status < 200 || r->status >= 300)
      throw error_of(r->status, r->body);
    response out;
    out.status = r->status;
    out.body = std::move(r->body);
    for (const auto& [k, v] : r->headers)
      out.headers.emplace_back(k, v);
    if (config_.parse_json && !out.body.empty()) {
      auto parsed = domain::parse_json_exact(out.body);
      if (!parsed)
        throw request_error(failure_kind::server, out.status, "",
                            "the server's answer is not JSON: " +
                                first_line(out.body));
      out.json = std::move(parsed).value();
    }
    return out;
  }
}

bool connection::stream_events(
    const std::string& path,
    const std::function<bool(const std::string& event,
                             const std::string& data)>& on_event) {
  auto headers = impl_->headers;
  headers.emplace("Accept", "text/event-stream");
  int status = 0;
  std::string error_body;
  bool stopped = false;
  std::string unreadable; ///< why the stream could not be parsed
  sse_parser parser([&](const std::string& event, const std::string& data) {
    if (on_event(event, data))
      return true;
    stopped = true;
    return false;
  });
  auto r = impl_->cli.Get(
      path, headers,
      [&](const httplib::Response& res) {
        status = res.status;
        return true;
      },
      [&](const char* data, size_t n) {
        if (status < 200 || status >= 300) {
          if (error_body.size() < 64 * 1024)
            error_body.append(data, std::min<size_t>(n, 64 * 1024));
          return true;
        }
        try {
          return parser.feed(std::string_view(data, n));
        } catch (const std::exception& e) {
          // Not thrown through httplib: end the read and say it below.
          unreadable = e.what();
          return false;
        }
      });
  if (!unreadable.empty())
    throw std::runtime_error("unreadable event stream: " +
                             printable(unreadable));
  if (stopped)
    return false;
  if (!r)
    throw request_error(failure_kind::unreachable, 0, "",
                        "event stream from " + config_.server +
                            " broke: " + describe(r.error()));
  if (status < 200 || status >= 300)
    throw error_of(status, error_body);
  return true;
}

server_url parse_server_url(const std::string& url) {
  server_url out;
  std::string rest;
  if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else if (url.rfind("https://", 0) == 0) {
    out.tls = true;
    rest = url.substr(8);
  } else {
    throw std::invalid_argument("'" + url +
                                "' is not an http:// or https:// URL");
  }
  if (!rest.empty() && rest.back() == '/')
    rest.pop_back();
  if (rest.find_first_of("/?#@") != std::string::npos)
    throw std::invalid_argument(
        "'" + url +
        "': give only scheme, host and port (no path, query or user)");
  std::string port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string::npos)
      throw std::invalid_argument("'" + url + "': unclosed '[' in the host");
    out.host = rest.substr(1, close - 1);
    auto after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':')
        throw std::invalid_argument("'" + url + "': bad text after the host");
      port_text = after.substr(1);
    }
  } else {
    auto colon = rest.rfind(':');
    out.host = rest.substr(0, colon);
    if (colon != std::string::npos)
      port_text = rest.substr(colon + 1);
  }
  if (out.host.empty())
    throw std::invalid_argument("'" + url + "' names no host");
  if (port_text.empty()) {
    out.port = out.tls ? 443 : 80;
  } else {
    int port = 0;
    for (char c : port_text) {
      if (!std::isdigit(static_cast<unsigned char>(c)) || port > 65535) {
        port = -1;
        break;
      }
      port = port * 10 + (c - '0');
    }
    if (port <= 0 || port > 65535)
      throw std::invalid_argument("'" + url + "': bad port '" + port_text +
                                  "'");
    out.port = port;
  }
  return out;
}

std::string url_encode(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      char buf[4];
      std::snprintf(buf, sizeof buf, "%%%02X", c);
      out += buf;
    }
  }
  return out;
}

} // namespace ogf::client
