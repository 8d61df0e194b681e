// Input the server used to take too lightly (issue 18, minor items):
// duplicate JSON keys, U+0000 where PostgreSQL cannot store it, and forged
// page tokens. Each is refused with 400 and, where a field is to blame, the
// field (and row) that is.
#include <cstdint>
#include <limits>
#include <string>

#include <catch2/catch.hpp>

#include "domain/page_token.hpp"
#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;

namespace {

reply post_raw(api_fixture& api, const std::string& path,
               const std::string& body, const std::string& method = "POST") {
  return api.send(method, path, body, "application/json", acme.headers());
}

const std::string activity_json =
    R"({"id":"a1","activity_type":"electricity","quantity":1,"unit":"kWh",)"
    R"("period_start":"2025-01-01","period_end":"2025-01-31"})";

} // namespace

TEST_CASE("a JSON object that names a key twice, at any level, answers 400 "
          "invalid_json and stores nothing") {
  api_fixture api;
  api.upload_activities(1);
  for (
      std::string body :
      {R"({"activity_ids":["a0000"],"priority":11,"priority":1})",
       R"({"activity_ids":["a0000"],"activity_ids":["a0000"]})",
       R"({"activity_ids":["a0000"],"metadata":{"k":1,"k":2}})",
       R"({"activity_ids":["a0000"],"metadata":{"a":[{"x":1,"y":{"z":1,"z":1}}]}})"}) {
    INFO(body);
    check_error(post_raw(api, "/api/v1/batches", body), 400, "invalid_json");
  }
  check_error(post_raw(api, "/api/v1/activities",
                       R"({"activities":[{"id":"a1","id":"a2",)" +
                           activity_json.substr(11) + "]}"),
              400, "invalid_json");
  check_error(post_raw(api, "/api/v1/emission-factors",
                       R"({"factors":[],"factors":[]})", "PUT"),
              400, "invalid_json");
  CHECK(api.get("/api/v1/batches").json()["batches"].empty());
  CHECK(api.get("/api/v1/activities/a1").status == 404);
  // The same key in different objects is fine.
  CHECK(post_raw(api, "/api/v1/batches",
                 R"({"activity_ids":["a0000"],"metadata":{"k":{"k":1}}})")
            .status == 201);
}
