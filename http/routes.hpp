// The API's route table (CONTRACT §2): what the server answers, in one place.
// The same table drives dispatch, 404/405 answers and their Allow header,
// the route label of metrics and access logs, and a test that compares it
// with docs/openapi.yaml.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace ogf::http {

/// One route of the API.
struct route_info {
  /// GET, POST, PUT or DELETE. HEAD is answered wherever GET is.
  std::string method;
  /// Path template; a `{name}` segment matches one non-empty path segment,
  /// e.g. "/api/v1/batches/{id}".
  std::string path;
  /// True when the route needs X-Org-ID and X-Workspace-ID.
  bool tenant_scoped = true;
};

/// Every route the server answers, in table order.
std::vector<route_info> routes();

} // namespace ogf::http
