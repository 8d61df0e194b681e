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

TEST_CASE("U+0000 in metadata or a factor source answers 400 "
          "validation_error naming the field and row") {
  api_fixture api;
  check_error(post_raw(api, "/api/v1/batches",
                       R"({"activity_ids":["a"],"metadata":{"x":"a\u0000b"}})"),
              400, "validation_error", std::string("metadata"));
  check_error(post_raw(api, "/api/v1/batches",
                       R"({"activity_ids":["a"],"metadata":{"a\u0000":1}})"),
              400, "validation_error", std::string("metadata"));
  auto row = post_raw(
      api, "/api/v1/activities",
      R"({"activities":[)" + activity_json + "," +
          R"({"id":"a2","activity_type":"electricity","quantity":1,)"
          R"("unit":"kWh","period_start":"2025-01-01",)"
          R"("period_end":"2025-01-31","metadata":{"n":["\u0000"]}}]})");
  check_error(row, 400, "validation_error",
              std::string("activities[1].metadata"));
  CHECK(row.json()["error"]["details"]["row"] == 1);
  auto csv = api.send("POST", "/api/v1/activities",
                      "id,activity_type,quantity,unit,period_start,period_end,"
                      "metadata\n"
                      "c1,electricity,1,kWh,2025-01-01,2025-01-31,"
                      "\"{\"\"x\"\":\"\"\\u0000\"\"}\"\n",
                      "text/csv", acme.headers());
  check_error(csv, 400, "validation_error", std::string("metadata"));
  CHECK(csv.json()["error"]["details"]["row"] == 1);
  auto factor = post_raw(
      api, "/api/v1/emission-factors",
      R"({"factors":[{"id":"f1","activity_type":"electricity","scope":2,)"
      R"("unit":"kWh","kg_co2e_per_unit":"0.5","valid_from":"2020-01-01",)"
      R"("source":"meter\u0000"}]})",
      "PUT");
  // Not check_error: its leak check refuses ".so" (shared objects), which
  // the field name "factors[0].source" contains.
  CHECK(factor.status == 400);
  auto error = factor.json()["error"];
  CHECK(error["code"] == "validation_error");
  CHECK(error["details"] == json{{"field", "factors[0].source"}, {"row", 0}});
  CHECK(api.get("/api/v1/activities/a1").status == 404);
}
