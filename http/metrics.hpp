// Prometheus metrics of one server (GET /metrics), on prometheus-cpp's
// registry and text serializer. Labels carry route templates, methods,
// status codes and batch statuses only: never raw paths, ids or tenants.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "actors/messages.hpp"
#include "http/connection_gate.hpp"

namespace ogf::http {

/// The server's metric registry. Thread-safe.
class http_metrics {
public:
  http_metrics();
  ~http_metrics();

  http_metrics(const http_metrics&) = delete;
  http_metrics& operator=(const http_metrics&) = delete;

  /// Counts one answered request: ogf_http_requests_total{route,method,code}
  /// and ogf_http_request_duration_seconds{route}. `route` is a route
  /// template or "unmatched".
  void observe_request(const std::string& route, const std::string& method,
                       int status, double seconds);

  /// Counts one connection refused or cut before a request ran
  /// (ogf_http_connections_refused_total{reason}).
  void connection_refused(refusal why);

  /// Sets the connection gauges of the API listener: ogf_http_connections
  /// {state="parked"|"queued"|"busy"} and ogf_http_connections_max.
  void observe_connections(const gate_stats& stats);

  /// Counts one batch created through this server
  /// (ogf_batches_submitted_total; idempotent replays do not count).
  void batch_submitted();

  /// The Prometheus text exposition (format 0.0.4). Engine gauges and
  /// counters are brought up to date from `stats` and `health` when given;
  /// when the engine did not answer they keep their last values.
  std::string render(const std::optional<engine_stats>& stats,
                     const std::optional<health_report>& health);

private:
  struct impl;
  std::unique_ptr<impl> impl_;
};

} // namespace ogf::http
