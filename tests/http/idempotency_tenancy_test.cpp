// Idempotent submits and tenant isolation on every route.
#include <catch2/catch.hpp>

#include "http/api_fixture.hpp"
#include "http/routes.hpp"

using namespace ogf::testing;
using nlohmann::json;

namespace {

/// A concrete path of a route template, with `id` for every `{...}`.
std::string concrete(const std::string& tmpl, const std::string& id) {
  std::string out;
  for (std::size_t i = 0; i < tmpl.size(); ++i) {
    if (tmpl[i] == '{') {
      out += id;
      i = tmpl.find('}', i);
    } else {
      out += tmpl[i];
    }
  }
  return out;
}

} // namespace

TEST_CASE("a repeated submit with the same Idempotency-Key and body answers "
          "200 with the original batch and creates nothing") {
  api_fixture api;
  json body = {{"activity_ids", {"x1", "x2"}}, {"metadata", {{"k", "v"}}}};
  auto first = api.post_json("/api/v1/batches", body, acme,
                             {{"Idempotency-Key", "order-42"}});
  REQUIRE(first.status == 201);
  CHECK(first.json()["idempotency_key"] == "order-42");
  // Same request spelt differently: key order, explicit defaults.
  json same = {{"metadata", {{"k", "v"}}},
               {"priority", 5},
               {"activity_ids", {"x1", "x2"}}};
  auto second = api.post_json("/api/v1/batches", same, acme,
                              {{"Idempotency-Key", "order-42"}});
  REQUIRE(second.status == 200);
  CHECK(second.json()["id"] == first.json()["id"]);
  CHECK(second.header("Location") == first.header("Location"));
  CHECK(api.get("/api/v1/batches").json()["batches"].size() == 1);
}

TEST_CASE("the same Idempotency-Key with a different body answers 422 "
          "idempotency_key_reused and creates nothing") {
  api_fixture api;
  auto first = api.post_json("/api/v1/batches", {{"activity_ids", {"x1"}}},
                             acme, {{"Idempotency-Key", "k1"}});
  REQUIRE(first.status == 201);
  for (json changed :
       {json{{"activity_ids", {"x2"}}},
        json{{"activity_ids", {"x1"}}, {"priority", 6}},
        json{{"activity_ids", {"x1"}}, {"metadata", {{"a", 1}}}}}) {
    auto r = api.post_json("/api/v1/batches", changed, acme,
                           {{"Idempotency-Key", "k1"}});
    check_error(r, 422, "idempotency_key_reused");
  }
  CHECK(api.get("/api/v1/batches").json()["batches"].size() == 1);
}

TEST_CASE("another tenant using the same Idempotency-Key gets its own batch") {
  api_fixture api;
  json body = {{"activity_ids", {"x1"}}};
  auto mine = api.post_json("/api/v1/batches", body, acme,
                            {{"Idempotency-Key", "shared"}});
  auto theirs = api.post_json("/api/v1/batches", body, globex,
                              {{"Idempotency-Key", "shared"}});
  REQUIRE(mine.status == 201);
  REQUIRE(theirs.status == 201);
  CHECK(mine.json()["id"] != theirs.json()["id"]);
  CHECK(theirs.json()["org_id"] == "globex");
}

TEST_CASE("a malformed Idempotency-Key answers 400 naming the header") {
  api_fixture api;
  json body = {{"activity_ids", {"x1"}}};
  for (std::string key : {std::string(256, 'k'), std::string("tab\there")}) {
    auto r = api.post_json("/api/v1/batches", body, acme,
                           {{"Idempotency-Key", key}});
    check_error(r, 400, "validation_error", std::string("Idempotency-Key"));
  }
  CHECK(api.get("/api/v1/batches").json()["batches"].empty());
  // An empty header is no key at all (cpp-httplib drops empty header
  // values): sent raw, since the client library drops it too.
  auto empty = raw_exchange(
      api.port(), "POST /api/v1/batches HTTP/1.1\r\nHost: x\r\n"
                  "X-Org-ID: acme\r\nX-Workspace-ID: main\r\n"
                  "Content-Type: application/json\r\nIdempotency-Key: \r\n"
                  "Content-Length: 22\r\nConnection: close\r\n\r\n"
                  "{\"activity_ids\":[\"x\"]}");
  INFO(empty);
  CHECK(empty.rfind("HTTP/1.1 201", 0) == 0);
  CHECK(empty.find("\"idempotency_key\":null") != std::string::npos);
}

TEST_CASE("missing or malformed tenant headers answer 401 on every tenant "
          "route and never on health or metrics") {
  api_fixture api;
  std::string id = "00000000-0000-4000-8000-000000000000";
  std::vector<httplib::Headers> bad = {
      {},
      {{"X-Org-ID", "acme"}},
      {{"X-Workspace-ID", "main"}},
      {{"X-Org-ID", "acme corp"}, {"X-Workspace-ID", "main"}},
      {{"X-Org-ID", "acme"}, {"X-Workspace-ID", std::string(65, 'w')}},
      {{"X-Org-ID", ""}, {"X-Workspace-ID", "main"}},
      {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "m/n"}},
      {{"X-Org-ID", "acme"},
       {"X-Org-ID", "globex"},
       {"X-Workspace-ID", "main"}},
  };
  for (const auto& route : ogf::http::routes()) {
    auto path = concrete(route.path, id);
    for (const auto& headers : bad) {
      INFO(route.method << " " << path << " with " << headers.size()
                        << " tenant headers");
      auto r = api.send(
          route.method, path,
          route.method == "GET" || route.method == "DELETE" ? "" : "{}",
          "application/json", headers);
      if (route.tenant_scoped) {
        check_error(r, 401, "unauthenticated");
        auto field = r.json()["error"]["details"]["field"];
        CHECK((field == "X-Org-ID" || field == "X-Workspace-ID"));
      } else {
        CHECK(r.status == 200);
      }
    }
  }
  // 64 characters of the allowed alphabet are fine.
  tenant_ids longest{std::string(64, 'o'), "A-Za-z0-9_-"};
  CHECK(api.get("/api/v1/batches", longest).status == 200);
}

TEST_CASE("another tenant's batch is 404 on every batch route and absent "
          "from its lists") {
  api_fixture api;
  api.upload_activities(2);
  api.upload_activities(2, globex);
  auto mine = api.submit({"a0000", "a0001"});
  std::string id = mine["id"];
  api.wait_for_status(id, "completed");
  auto theirs = api.submit({"a0000"}, globex);

  // Same workspace name, other org; and same org, other workspace.
  for (const auto& other : {globex, tenant_ids{"acme", "other"}}) {
    INFO("tenant " << other.org << "/" << other.workspace);
    for (const auto& route : ogf::http::routes()) {
      if (route.path.find("{id}") == std::string::npos ||
          route.path.find("/batches/") == std::string::npos)
        continue;
      auto path = concrete(route.path, id);
      INFO(route.method << " " << path);
      auto r = api.send(route.method, path, "", "", other.headers());
      check_error(r, 404, "not_found");
    }
    auto list = api.get("/api/v1/batches", other).json();
    for (const auto& b : list["batches"])
      CHECK(b["id"] != id);
    auto filtered = api.get("/api/v1/batches?status=completed", other).json();
    for (const auto& b : filtered["batches"])
      CHECK(b["id"] != id);
  }
  // Still there for its owner, and globex sees only its own.
  CHECK(api.get("/api/v1/batches/" + id).status == 200);
  auto globex_list = api.get("/api/v1/batches", globex).json();
  REQUIRE(globex_list["batches"].size() == 1);
  CHECK(globex_list["batches"][0]["id"] == theirs["id"]);
  auto acme_list = api.get("/api/v1/batches").json();
  REQUIRE(acme_list["batches"].size() == 1);
  CHECK(acme_list["batches"][0]["id"] == id);
}

TEST_CASE("activities and emission factors are scoped to their tenant") {
  api_fixture api;
  api.upload_activities(1);
  check_error(api.get("/api/v1/activities/a0000", globex), 404, "not_found");
  CHECK(api.get("/api/v1/activities/a0000").status == 200);
  json factor = {{"id", "acme-grid"},
                 {"activity_type", "electricity"},
                 {"scope", 2},
                 {"region", "US"},
                 {"unit", "kWh"},
                 {"kg_co2e_per_unit", 0.1},
                 {"valid_from", "2020-01-01"},
                 {"source", "own meter"}};
  REQUIRE(api.put_json("/api/v1/emission-factors", {{"factors", {factor}}})
              .status == 200);
  auto own = [&](const tenant_ids& t) {
    int n = 0;
    auto body =
        api.get("/api/v1/emission-factors?activity_type=electricity", t).json();
    for (const auto& f : body["factors"])
      n += f["builtin"] == false ? 1 : 0;
    return n;
  };
  CHECK(own(acme) == 1);
  CHECK(own(globex) == 0);
}
