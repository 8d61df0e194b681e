// Routing, content types, request ids, and the route table against
// docs/openapi.yaml.
#include <fstream>
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "http/api_fixture.hpp"
#include "http/routes.hpp"
#include "support/raw_client.hpp"

using namespace ogf::testing;
using nlohmann::json;

TEST_CASE("unknown routes answer 404 not_found") {
  api_fixture api;
  // "/" is the dashboard's (a redirect to /ui/, tests/http/dashboard_test).
  for (std::string path :
       {"/favicon.ico", "/api", "/api/v1", "/api/v2/batches", "/api/v1/batches/",
        "/api/v1/batch",
        "/api/v1/batches/00000000-0000-4000-8000-000000000000/nope",
        "/api/v1/batches//items", "/api/v1/activities/", "/metrics/x",
        "/api/v1/health/"}) {
    INFO(path);
    check_error(api.get(path), 404, "not_found");
  }
  // Also for other methods on unknown paths.
  check_error(api.post_json("/api/v1/nothing", json::object()), 404,
              "not_found");
  check_error(api.del("/api/v1/batches"), 405, "method_not_allowed");
}

TEST_CASE("malformed and unknown batch ids answer 404 on every batch route") {
  api_fixture api;
  auto real = api.submit({"x"})["id"].get<std::string>();
  for (std::string id :
       {"not-a-uuid", "12345", "00000000-0000-4000-8000-00000000000g",
        "00000000000040008000000000000000",
        "00000000-0000-4000-8000-0000000000001", "%00",
        "00000000-0000-4000-8000-000000000000"}) {
    for (const auto& route : ogf::http::routes()) {
      if (route.path.rfind("/api/v1/batches/{id}", 0) != 0)
        continue;
      auto path = route.path;
      path.replace(path.find("{id}"), 4, id);
      INFO(route.method << " " << path);
      check_error(api.send(route.method, path, "", "", acme.headers()), 404,
                  "not_found");
    }
  }
  // Upper-case UUIDs name the same batch.
  std::string upper = real;
  for (auto& c : upper)
    c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  auto r = api.get("/api/v1/batches/" + upper);
  REQUIRE(r.status == 200);
  CHECK(r.json()["id"] == real);
  check_error(api.get("/api/v1/activities/bad%20id"), 404, "not_found");
  check_error(api.get("/api/v1/activities/unknown"), 404, "not_found");
}

TEST_CASE("a known route with a wrong method answers 405 with an Allow "
          "header, and OPTIONS lists the methods") {
  api_fixture api;
  std::string id = "/api/v1/batches/00000000-0000-4000-8000-000000000000";
  struct wrong {
    std::string method;
    std::string path;
    std::string allow;
  };
  std::vector<wrong> cases = {
      {"PUT", "/api/v1/batches", "POST, GET"},
      {"DELETE", "/api/v1/batches", "POST, GET"},
      {"PATCH", "/api/v1/batches", "POST, GET"},
      {"POST", id, "GET, DELETE"},
      {"PUT", id, "GET, DELETE"},
      {"POST", id + "/items", "GET"},
      {"DELETE", id + "/progress", "GET"},
      {"POST", id + "/events", "GET"},
      {"GET", id + "/cancel", "POST"},
      {"GET", id + "/retry", "POST"},
      {"GET", "/api/v1/activities", "POST"},
      {"DELETE", "/api/v1/activities/a1", "GET"},
      {"POST", "/api/v1/emission-factors", "GET, PUT"},
      {"POST", "/api/v1/health", "GET"},
      {"DELETE", "/metrics", "GET"},
  };
  for (const auto& c : cases) {
    INFO(c.method << " " << c.path);
    auto r =
        api.send(c.method, c.path, "{}", "application/json", acme.headers());
    check_error(r, 405, "method_not_allowed");
    CHECK(r.header("Allow") == c.allow);
  }
  auto options = api.send("OPTIONS", id, "", "", {});
  CHECK(options.status == 204);
  CHECK(options.header("Allow") == "GET, DELETE");
  // HEAD is answered wherever GET is.
  auto head = to_reply(api.client().Head("/api/v1/health"));
  CHECK(head.status == 200);
}

TEST_CASE("methods the server does not implement answer 405 with Allow on "
          "known routes and 404 elsewhere") {
  api_fixture api;
  const std::string id = "/api/v1/batches/00000000-0000-4000-8000-000000000000";
  auto ask = [&](const std::string& method, const std::string& target,
                 const std::string& extra = {}) {
    return raw_exchange(api.port(), method + " " + target +
                                        " HTTP/1.1\r\nHost: x\r\n"
                                        "X-Org-ID: acme\r\nX-Workspace-ID: "
                                        "main\r\nConnection: close\r\n" +
                                        extra + "\r\n");
  };
  // TRACE and CONNECT are methods cpp-httplib parses but routes nowhere;
  // the others it refuses while parsing the request line.
  for (std::string method :
       {"TRACE", "CONNECT", "PROPFIND", "MKCOL", "LOCK", "BREW", "M-SEARCH"}) {
    for (auto [path, allow] :
         {std::pair<std::string, std::string>{"/api/v1/batches", "POST, GET"},
          {id, "GET, DELETE"},
          {"/api/v1/health", "GET"}}) {
      INFO(method << " " << path);
      auto answer = ask(method, path);
      INFO(answer);
      REQUIRE(status_of(answer) == 405);
      CHECK(header_of(answer, "Allow") == allow);
      CHECK(header_of(answer, "X-Request-ID").size() == 32);
      auto body = json::parse(body_of(answer));
      CHECK(body["error"]["code"] == "method_not_allowed");
    }
    INFO(method << " /nowhere");
    auto unknown = ask(method, "/nowhere");
    INFO(unknown);
    CHECK(status_of(unknown) == 404);
    CHECK(header_of(unknown, "X-Request-ID").size() == 32);
    CHECK(json::parse(body_of(unknown))["error"]["code"] == "not_found");
  }
  // CONNECT's usual authority-form target names no route.
  CHECK(status_of(ask("CONNECT", "example.com:443")) == 404);
  // A body sent with an unknown method is never taken for a next request.
  auto smuggled = raw_exchange(
      api.port(), "PROPFIND /api/v1/health HTTP/1.1\r\nHost: x\r\n"
                  "Content-Length: 40\r\n\r\n"
                  "GET /api/v1/health HTTP/1.1\r\nHost: x\r\n\r\n");
  INFO(smuggled);
  CHECK(status_of(smuggled) == 405);
  CHECK(smuggled.find("HTTP/1.1 200") == std::string::npos);
}

TEST_CASE("malformed requests answered before routing carry an "
          "X-Request-ID and the error body too") {
  api_fixture api;
  struct bad_request {
    std::string what;
    std::string bytes;
    int status;
  };
  std::vector<bad_request> cases = {
      {"unknown HTTP version", "GET /api/v1/health HTTP/9.9\r\n\r\n", 400},
      {"no version", "GET /api/v1/health\r\n\r\n", 400},
      {"method that is not a token", "G(E)T /api/v1/health HTTP/1.1\r\n\r\n",
       400},
      {"header line over 8 KiB",
       "GET /api/v1/health HTTP/1.1\r\nX-Long: " + std::string(10 * 1024, 'l') +
           "\r\n\r\n",
       400},
      {"bad range", "GET /api/v1/health HTTP/1.1\r\nRange: bytes=z\r\n\r\n",
       416},
      {"request target over 8 KiB",
       "GET /api/v1/" + std::string(9000, 'a') + " HTTP/1.1\r\n\r\n", 414},
      {"head over the limit",
       "GET /api/v1/health HTTP/1.1\r\nX-Big: " + std::string(40 * 1024, 'b') +
           "\r\n\r\n",
       431},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    auto answer = raw_exchange(api.port(), c.bytes, true);
    INFO(answer.substr(0, 400));
    CHECK(status_of(answer) == c.status);
    auto id = header_of(answer, "X-Request-ID");
    CHECK(id.size() == 32);
    CHECK(id.find_first_not_of("0123456789abcdef") == std::string::npos);
    CHECK(header_of(answer, "Content-Type").rfind("application/json", 0) == 0);
    json body;
    REQUIRE_NOTHROW(body = json::parse(body_of(answer)));
    CHECK(body["error"]["code"].is_string());
  }
}

TEST_CASE("bodies that are not JSON, or CSV where allowed, answer 415") {
  api_fixture api;
  struct body_route {
    std::string method;
    std::string path;
  };
  for (const auto& route : {body_route{"POST", "/api/v1/batches"},
                            body_route{"POST", "/api/v1/activities"},
                            body_route{"PUT", "/api/v1/emission-factors"}}) {
    for (std::string type :
         {"text/plain", "application/xml", "application/x-www-form-urlencoded",
          "multipart/form-data; boundary=x", "application/json; charset=latin1",
          "application/jsonx", "json"}) {
      INFO(route.method << " " << route.path << " as " << type);
      auto r = api.send(route.method, route.path, "{}", type, acme.headers());
      check_error(r, 415, "unsupported_media_type");
    }
    // No Content-Type at all (raw: cpp-httplib's client would add one).
    auto raw = raw_exchange(api.port(),
                            route.method + " " + route.path +
                                " HTTP/1.1\r\nHost: x\r\nX-Org-ID: acme\r\n"
                                "X-Workspace-ID: main\r\nContent-Length: 2\r\n"
                                "Connection: close\r\n\r\n{}");
    INFO(raw);
    CHECK(raw.rfind("HTTP/1.1 415", 0) == 0);
  }
  // CSV only where allowed.
  auto csv = api.send("POST", "/api/v1/batches", "activity_ids\nx\n",
                      "text/csv", acme.headers());
  check_error(csv, 415, "unsupported_media_type");
  // Parameters and case are fine.
  auto ok = api.send("POST", "/api/v1/batches", R"({"activity_ids":["x"]})",
                     "Application/JSON; charset=UTF-8", acme.headers());
  CHECK(ok.status == 201);
}

TEST_CASE("every answer carries an X-Request-ID, the client's when it is "
          "sane") {
  api_fixture api;
  auto mine =
      api.get("/api/v1/batches", acme, {{"X-Request-ID", "req-123.a:b"}});
  CHECK(mine.header("X-Request-ID") == "req-123.a:b");
  auto made = api.get("/api/v1/batches", acme,
                      {{"X-Request-ID", "has space and {json}"}});
  CHECK(made.header("X-Request-ID").size() == 32);
  auto error = api.get("/nowhere");
  CHECK(error.header("X-Request-ID").size() == 32);
  CHECK(api.get("/api/v1/batches").header("X-Request-ID") !=
        api.get("/api/v1/batches").header("X-Request-ID"));
}

TEST_CASE("docs/openapi.yaml describes exactly the server's routes, and "
          "401, 403 and 429 on every tenant route") {
  std::ifstream in(OGF_SOURCE_DIR "/docs/openapi.yaml");
  REQUIRE(in);
  std::set<std::string> documented;
  std::map<std::string, std::set<std::string>> answers; // operation -> codes
  std::string operation;
  std::string line;
  bool in_paths = false;
  std::string path;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line == "paths:") {
      in_paths = true;
      continue;
    }
    if (!in_paths || line.empty() || line[0] == '#')
      continue;
    if (line[0] != ' ') // the next top-level key ends `paths:`
      break;
    auto indent = line.find_first_not_of(' ');
    auto key = line.substr(indent, line.find(':', indent) - indent);
    if (indent == 2 && line.back() == ':') {
      path = key;
      if (path.size() >= 2 && (path.front() == '"' || path.front() == '\''))
        path = path.substr(1, path.size() - 2);
    } else if (indent == 4) {
      for (const char* m : {"get", "post", "put", "delete", "patch"})
        if (key == m) {
          std::string upper = m;
          for (auto& c : upper)
            c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
          documented.insert(upper + " " + path);
          operation = upper + " " + path;
        }
    } else if (indent == 8 && line.size() > indent + 5 && line[indent] == '"' &&
               line[indent + 4] == '"') {
      answers[operation].insert(line.substr(indent + 1, 3));
    }
  }
  std::set<std::string> served;
  for (const auto& r : ogf::http::routes())
    served.insert(r.method + " " + r.path);
  for (const auto& d : documented) {
    INFO("documented but not served: " << d);
    CHECK(served.count(d) == 1);
  }
  for (const auto& s : served) {
    INFO("served but not documented: " << s);
    CHECK(documented.count(s) == 1);
  }
  // CONTRACT §4: every tenant route may answer 401, 403 and 429.
  for (const auto& r : ogf::http::routes()) {
    if (!r.tenant_scoped)
      continue;
    const auto& codes = answers[r.method + " " + r.path];
    for (const char* code : {"401", "403", "429"}) {
      INFO(r.method << " " << r.path << " documents " << code);
      CHECK(codes.count(code) == 1);
    }
  }
}
