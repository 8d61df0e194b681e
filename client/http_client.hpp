// The client side of the HTTP API (CONTRACT §2, §5), shared by the client
// commands of offgridflow-batch and the benchmark: one place for the base
// URL, credentials, timeouts, retries of requests that are safe to repeat,
// error decoding and event streams.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace ogf::client {

/// What a client needs to reach a server and act for a tenant.
struct client_config {
  /// Base URL: http://host[:port] or https://host[:port]. Default: the
  /// address `serve` listens on by default.
  std::string server = "http://127.0.0.1:8080";
  /// Keys mode: sent as `Authorization: Bearer <api_key>` when not empty.
  std::string api_key;
  /// Headers mode: sent as X-Org-ID / X-Workspace-ID when not empty.
  std::string org;
  std::string workspace;
  /// PEM file of certificates to trust for https (a self-signed server);
  /// empty = the system's trust store.
  std::string ca_cert;
  /// Time to establish a connection.
  std::chrono::milliseconds connect_timeout{5000};
  /// Time a request may wait for (more of) its answer.
  std::chrono::milliseconds read_timeout{60000};
  /// How often a request is sent again after a 503 (waiting Retry-After,
  /// at most max_retry_wait each time) where its `repeat` policy allows;
  /// 0 = never.
  int max_retries = 4;
  std::chrono::milliseconds max_retry_wait{5000};
  /// Parse every 2xx body into response::json. A benchmark that reads few
  /// of its answers turns it off and parses what it needs itself.
  bool parse_json = true;
};

/// How a request failed, as the client commands' exit codes group them
/// (CONTRACT §5): 3 unreachable or 5xx, 4 401/403, 5 any other 4xx.
enum class failure_kind {
  unreachable, ///< no connection, a broken one, a timeout, TLS trouble
  server,      ///< 5xx
  auth,        ///< 401, 403
  client,      ///< any other 4xx
};

/// A request that did not succeed. what() is one line for a person:
/// "not_found: batch not found" or "cannot reach http://...: Connection
/// refused".
class request_error : public std::runtime_error {
public:
  request_error(failure_kind kind, int status, std::string code,
                std::string message, nlohmann::json details = nullptr);

  failure_kind kind() const { return kind_; }
  /// HTTP status; 0 without an answer.
  int status() const { return status_; }
  /// The server's error code (`not_found`, ...); empty without an answer.
  const std::string& code() const { return code_; }
  /// The server's error message, or what went wrong on the way.
  const std::string& message() const { return message_; }
  /// The server's `details` object, or null.
  const nlohmann::json& details() const { return details_; }

private:
  failure_kind kind_;
  int status_;
  std::string code_;
  std::string message_;
  nlohmann::json details_;
};

/// An answer the server gave.
struct response {
  int status = 0;
  std::string body;
  /// The body parsed with raw numbers kept exact (domain/exact_json.hpp);
  /// null when empty or client_config::parse_json is off.
  nlohmann::json json;
  std::string header(const std::string& name) const;
  std::vector<std::pair<std::string, std::string>> headers;
};

/// When a request may be sent again after it failed.
enum class repeat {
  /// Never: the caller decides (the bench counts every 503).
  never,
  /// After a 503 only: the server promises that an answer 503 wrote
  /// nothing. Not after a connection that broke mid-answer, when the
  /// action may have happened and a repeat would be refused (a second
  /// cancel or delete of the same batch).
  after_unavailable,
  /// After a 503 and, once, after a broken connection: the request is
  /// harmless to repeat (a GET, an upsert, a submit with an
  /// Idempotency-Key).
  always,
};

/// Extra headers of one request.
using header_list = std::vector<std::pair<std::string, std::string>>;

/// One server connection (kept alive between requests). Not thread-safe:
/// one per thread. Every request carries the tenant's credentials; a
/// non-2xx answer or a failure throws request_error.
class connection {
public:
  explicit connection(client_config config);
  ~connection();
  connection(const connection&) = delete;
  connection& operator=(const connection&) = delete;

  const client_config& config() const { return config_; }

  /// GET `path` (with its query); repeat::always, as the config says.
  response get(const std::string& path);
  /// POST a body, repeated as `policy` allows (and config.max_retries).
  response post(const std::string& path, const std::string& body,
                const std::string& content_type, repeat policy,
                const header_list& extra = {});
  /// POST a JSON value (printed with its raw numbers exact).
  response post_json(const std::string& path, const nlohmann::json& body,
                     repeat policy, const header_list& extra = {});
  /// DELETE `path`; repeat::after_unavailable (a second delete of what the
  /// first one deleted would be 404).
  response del(const std::string& path);

  /// Reads a text/event-stream at `path`, calling `on_event(event, data)`
  /// for each event; returns when the server ends the stream (true) or
  /// on_event returns false (false). Throws request_error when the stream
  /// cannot be opened or breaks (not retried: the caller reconnects), and
  /// std::runtime_error when it is not an event stream a client can read
  /// (a line over 16 MiB): reconnecting would not help.
  bool
  stream_events(const std::string& path,
                const std::function<bool(const std::string& event,
                                         const std::string& data)>& on_event);

  /// Closes the socket from another thread: a request or stream in
  /// progress fails at once (as unreachable).
  void abort();

private:
  struct impl;
  response send(const std::string& method, const std::string& path,
                const std::string* body, const std::string& content_type,
                repeat policy, const header_list& extra);

  client_config config_;
  std::unique_ptr<impl> impl_;
};

/// Splits "http://host:port" into what httplib needs; throws
/// std::invalid_argument with a one-line reason for anything else (a path,
/// a query, a user, another scheme, a bad port).
struct server_url {
  bool tls = false;
  std::string host;
  int port = 0;
};
server_url parse_server_url(const std::string& url);

/// `s` with every character outside RFC 3986's unreserved set
/// percent-encoded, for a path segment or a query value.
std::string url_encode(const std::string& s);

} // namespace ogf::client
