// Matching request paths against the route table (internal to http/).
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "http/routes.hpp"

namespace ogf::http {

/// What a handler is for; dispatch switches on it.
enum class endpoint {
  health,
  node,
  metrics,
  submit_batch,
  list_batches,
  get_batch,
  delete_batch,
  list_items,
  batch_emissions,
  batch_counts,
  get_progress,
  stream_events,
  cancel_batch,
  retry_batch,
  upsert_activities,
  get_activity,
  list_factors,
  upsert_factors,
};

/// Which request bodies a route reads (415 for anything else).
enum class body_rule {
  none,        ///< any body is ignored
  json,        ///< application/json
  json_or_csv, ///< application/json or text/csv
};

/// One row of the route table.
struct route_entry {
  const char* method; ///< GET, POST, PUT or DELETE
  const char* path;   ///< template, `{name}` matches one segment
  endpoint target;    ///< the handler
  bool tenant_scoped; ///< needs X-Org-ID and X-Workspace-ID
  body_rule body;     ///< which request bodies it reads
};

/// The route table, in matching order.
const std::vector<route_entry>& route_table();

/// Outcome of looking a request up in the table.
struct route_lookup {
  /// The matching row; null when the path is unknown or the method wrong.
  const route_entry* entry = nullptr;
  /// Values of the `{name}` segments, in order.
  std::vector<std::string> params;
  /// The template of the matched path (also when the method is wrong), or
  /// empty when no route has this path.
  std::string path_template;
  /// Methods the path accepts ("GET, DELETE"), for 405's Allow header.
  std::string allow;
};

/// Looks up `method` (HEAD counts as GET) on `path`.
route_lookup find_route(std::string_view method, std::string_view path);

} // namespace ogf::http
