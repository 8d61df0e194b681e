#include "http/dashboard.hpp"

#include <functional>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

namespace ogf::http {

namespace {

/// Files served from --ui-dir larger than this are refused (a development
/// folder holds small text files; this keeps a stray file from being read
/// whole into memory).
constexpr std::size_t max_dev_file_bytes = 4 * 1024 * 1024;

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t'))
    s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t'))
    s.remove_suffix(1);
  return s;
}

std::string_view opaque_tag(std::string_view tag) {
  tag = trim(tag);
  if (tag.rfind("W/", 0) == 0)
    tag.remove_prefix(2);
  return tag;
}

} // namespace

ui_path match_ui_path(std::string_view path) {
  ui_path out;
  if (path == "/" || path == "/ui") {
    out.what = ui_path::kind::redirect;
    out.label = path == "/" ? "/" : "/ui";
  } else if (path.rfind("/ui/", 0) == 0) {
    out.what = ui_path::kind::asset;
    out.label = "/ui/{asset}";
    auto name = path.substr(4);
    out.asset = name.empty() ? "index.html" : std::string(name);
  }
  return out;
}

bool valid_asset_name(std::string_view name) {
  if (name.empty() || name.size() > 128 || name.front() == '.')
    return false;
  for (char c : name) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
    if (!ok)
      return false;
  }
  return true;
}

std::string_view ui_content_type(std::string_view name) {
  static const std::pair<std::string_view, std::string_view> types[] = {
      {".html", "text/html; charset=utf-8"},
      {".js", "text/javascript; charset=utf-8"},
      {".css", "text/css; charset=utf-8"},
      {".svg", "image/svg+xml"},
      {".png", "image/png"},
      {".json", "application/json; charset=utf-8"},
      {".ico", "image/x-icon"},
  };
  for (const auto& [ext, type] : types)
    if (name.size() > ext.size() &&
        name.substr(name.size() - ext.size()) == ext)
      return type;
  return "application/octet-stream";
}

std::optional<ui_asset> find_ui_asset(std::string_view name,
                                      const std::string& ui_dir) {
  if (!valid_asset_name(name))
    return std::nullopt;
  if (ui_dir.empty()) {
    for (const auto& f : embedded_ui_files())
      if (name == f.name)
        return ui_asset{ui_content_type(name), f.etag, std::string(f.body)};
    return std::nullopt;
  }
  // Only the dashboard's kinds of file, only regular files, and no
  // symbolic link followed: `--ui-dir .` must not publish a checkout's
  // other files, nor a link to /etc.
  if (ui_content_type(name) == "application/octet-stream")
    return std::nullopt;
  auto file = ui_dir + "/" + std::string(name);
  int fd = ::open(file.c_str(), O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0)
    return std::nullopt;
  struct stat st {};
  std::string body;
  if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
      static_cast<std::size_t>(st.st_size) <= max_dev_file_bytes) {
    body.resize(static_cast<std::size_t>(st.st_size));
    std::size_t got = 0;
    while (got < body.size()) {
      auto n = ::read(fd, body.data() + got, body.size() - got);
      if (n <= 0)
        break;
      got += static_cast<std::size_t>(n);
    }
    body.resize(got);
  } else {
    ::close(fd);
    return std::nullopt;
  }
  ::close(fd);
  // Read at every request, so the tag follows the content (not a
  // security measure: any stable digest does).
  auto digest = std::hash<std::string>{}(body);
  return ui_asset{ui_content_type(name),
                  "\"dev-" + std::to_string(digest) + "\"", std::move(body)};
}

bool etag_matches(std::string_view if_none_match, std::string_view etag) {
  auto want = opaque_tag(etag);
  while (!if_none_match.empty()) {
    auto comma = if_none_match.find(',');
    auto tag = opaque_tag(if_none_match.substr(0, comma));
    if (tag == "*" || (!tag.empty() && tag == want))
      return true;
    if (comma == std::string_view::npos)
      break;
    if_none_match.remove_prefix(comma + 1);
  }
  return false;
}

const std::vector<std::pair<const char*, const char*>>& ui_security_headers() {
  static const std::vector<std::pair<const char*, const char*>> headers = {
      // Only the server's own scripts, styles, images and connections; no
      // inline script or style, no framing, no <base>, forms post home.
      {"Content-Security-Policy",
       "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
       "form-action 'self'"},
      {"X-Frame-Options", "DENY"},
      {"Referrer-Policy", "no-referrer"},
      {"Cross-Origin-Opener-Policy", "same-origin"},
      // Revalidate every time: the ETag makes that a 304 without a body,
      // and a new build is never mixed with cached files of the old one.
      {"Cache-Control", "no-cache"},
  };
  return headers;
}

} // namespace ogf::http
