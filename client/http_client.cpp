#include "client/http_client.hpp"

#include <cctype>
#include <cstdio>

namespace ogf::client {

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
