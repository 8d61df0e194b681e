#include "http/route_table.hpp"

namespace ogf::http {

namespace {

/// Splits "/a/b/c" into {"a", "b", "c"}; a trailing or doubled slash gives
/// an empty segment, which no template matches.
std::vector<std::string_view> split_path(std::string_view path) {
  std::vector<std::string_view> out;
  if (path.empty() || path.front() != '/')
    return out;
  path.remove_prefix(1);
  for (;;) {
    auto slash = path.find('/');
    out.push_back(path.substr(0, slash));
    if (slash == std::string_view::npos)
      break;
    path.remove_prefix(slash + 1);
  }
  return out;
}

/// Matches `path` against `tmpl`; fills `params` with the `{name}` values.
bool match_template(std::string_view tmpl, std::string_view path,
                    std::vector<std::string>& params) {
  auto want = split_path(tmpl);
  auto got = split_path(path);
  if (want.size() != got.size() || got.empty())
    return false;
  std::vector<std::string> values;
  for (std::size_t i = 0; i < want.size(); ++i) {
    bool is_param =
        want[i].size() > 2 && want[i].front() == '{' && want[i].back() == '}';
    if (is_param) {
      if (got[i].empty())
        return false;
      values.emplace_back(got[i]);
    } else if (want[i] != got[i]) {
      return false;
    }
  }
  params = std::move(values);
  return true;
}

} // namespace

const std::vector<route_entry>& route_table() {
  using e = endpoint;
  using b = body_rule;
  static const std::vector<route_entry> table = {
      {"GET", "/api/v1/health", e::health, false, b::none},
      {"GET", "/api/v1/node", e::node, true, b::none},
      {"GET", "/metrics", e::metrics, false, b::none},
      {"POST", "/api/v1/batches", e::submit_batch, true, b::json},
      {"GET", "/api/v1/batches", e::list_batches, true, b::none},
      {"GET", "/api/v1/batches/{id}", e::get_batch, true, b::none},
      {"DELETE", "/api/v1/batches/{id}", e::delete_batch, true, b::none},
      {"GET", "/api/v1/batches/{id}/items", e::list_items, true, b::none},
      {"GET", "/api/v1/batches/{id}/emissions", e::batch_emissions, true,
       b::none},
      {"GET", "/api/v1/batch-counts", e::batch_counts, true, b::none},
      {"GET", "/api/v1/batches/{id}/progress", e::get_progress, true, b::none},
      {"GET", "/api/v1/batches/{id}/events", e::stream_events, true, b::none},
      {"POST", "/api/v1/batches/{id}/cancel", e::cancel_batch, true, b::none},
      {"POST", "/api/v1/batches/{id}/retry", e::retry_batch, true, b::none},
      {"POST", "/api/v1/activities", e::upsert_activities, true,
       b::json_or_csv},
      {"GET", "/api/v1/activities/{id}", e::get_activity, true, b::none},
      {"GET", "/api/v1/emission-factors", e::list_factors, true, b::none},
      {"PUT", "/api/v1/emission-factors", e::upsert_factors, true, b::json},
  };
  return table;
}

route_lookup find_route(std::string_view method, std::string_view path) {
  if (method == "HEAD")
    method = "GET";
  route_lookup out;
  for (const auto& row : route_table()) {
    std::vector<std::string> params;
    if (!match_template(row.path, path, params))
      continue;
    if (out.path_template.empty())
      out.path_template = row.path;
    if (!out.allow.empty())
      out.allow += ", ";
    out.allow += row.method;
    if (out.entry == nullptr && method == row.method) {
      out.entry = &row;
      out.params = std::move(params);
    }
  }
  return out;
}

std::vector<route_info> routes() {
  std::vector<route_info> out;
  for (const auto& row : route_table())
    out.push_back({row.method, row.path, row.tenant_scoped});
  return out;
}

} // namespace ogf::http
