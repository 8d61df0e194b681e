// The web dashboard's files (CONTRACT §6): compiled into the library from
// ui/ by cmake/embed_ui_files.cmake and served under /ui/ by the API
// listener, with the security headers of docs/dashboard.md.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace ogf::http {

/// One file of ui/ as compiled in.
struct embedded_ui_file {
  const char* name;      ///< file name, e.g. "app.js"
  const char* etag;      ///< quoted start of the SHA-256 of `body`
  std::string_view body; ///< the bytes
};

/// Every file of ui/, by name (generated at build time).
const std::vector<embedded_ui_file>& embedded_ui_files();

/// What a request path asks of the dashboard.
struct ui_path {
  enum class kind {
    none,     ///< not a dashboard path: the API's route table decides
    redirect, ///< "/" or "/ui": 302 to /ui/
    asset,    ///< "/ui/" (index.html) or "/ui/<name>"
  };
  kind what = kind::none;
  /// The file asked for (kind::asset); may be a name no file has.
  std::string asset;
  /// Route label for metrics and access logs: "/", "/ui/{asset}" or empty.
  const char* label = "";
};

/// Classifies a request path (without its query).
ui_path match_ui_path(std::string_view path);

/// True for a plain file name: 1-128 characters of A-Z a-z 0-9 _ . -, not
/// starting with a dot (no folders, no "..", no hidden files).
bool valid_asset_name(std::string_view name);

/// The Content-Type a dashboard file is served with, by its extension;
/// "application/octet-stream" for an unknown one.
std::string_view ui_content_type(std::string_view name);

/// A file ready to be served.
struct ui_asset {
  std::string_view content_type;
  std::string etag; ///< quoted
  std::string body;
};

/// The file `name`: from the folder `ui_dir`, read now, when it is not
/// empty (development: `serve --ui-dir`; only regular files of a type
/// ui_content_type() knows, never through a symbolic link); else the
/// compiled-in copy. Empty when there is no such file or the name is not
/// valid_asset_name().
std::optional<ui_asset> find_ui_asset(std::string_view name,
                                      const std::string& ui_dir);

/// True when an If-None-Match header value names `etag` (or is "*"); weak
/// validators compare by their opaque part (RFC 9110 §13.1.2).
bool etag_matches(std::string_view if_none_match, std::string_view etag);

/// The headers every dashboard answer carries (Content-Security-Policy and
/// friends, docs/dashboard.md), as name/value pairs.
const std::vector<std::pair<const char*, const char*>>& ui_security_headers();

} // namespace ogf::http
