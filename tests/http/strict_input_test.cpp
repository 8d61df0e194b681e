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
  check_error(factor, 400, "validation_error",
              std::string("factors[0].source"));
  CHECK(factor.json()["error"]["details"]["row"] == 0);
  CHECK(api.get("/api/v1/activities/a1").status == 404);
}

TEST_CASE("forged page tokens of every shape answer 400 validation_error "
          "naming page_token") {
  namespace d = ogf::domain;
  api_fixture api;
  const std::string uuid = "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
  const auto int64_max = std::numeric_limits<std::int64_t>::max();
  // Tokens the server would never issue, sealed as it seals its own (the
  // checksum is no secret): timestamps PostgreSQL cannot hold, or before
  // the epoch, and a tampered byte.
  std::vector<std::string> batch_tokens = {
      d::encode_batch_page_token({int64_max, uuid}),
      d::encode_batch_page_token({9'000'000'000'000'000'000, uuid}),
      d::encode_batch_page_token({-1, uuid}),
      d::encode_batch_page_token(
          {std::numeric_limits<std::int64_t>::min(), uuid}),
      d::encode_batch_page_token({253402300800000000, uuid}), // year 10000
      d::encode_item_page_token("a0001"),
      "garbage",
  };
  auto tampered = d::encode_batch_page_token({1795881845123000, uuid});
  tampered[3] = tampered[3] == 'A' ? 'B' : 'A';
  batch_tokens.push_back(tampered);
  for (const auto& token : batch_tokens) {
    INFO(token);
    check_error(api.get("/api/v1/batches?page_token=" + token), 400,
                "validation_error", std::string("page_token"));
  }
  api.upload_activities(1);
  auto b = api.submit({"a0000"});
  const std::string items =
      "/api/v1/batches/" + b["id"].get<std::string>() + "/items?page_token=";
  for (const auto& token :
       {d::encode_item_page_token("not an id"), d::encode_item_page_token(""),
        d::encode_batch_page_token({1795881845123000, uuid})}) {
    INFO(token);
    check_error(api.get(items + token), 400, "validation_error",
                std::string("page_token"));
  }
  // Real tokens still work, and a forged one inside the valid range only
  // moves the caller's own keyset.
  CHECK(api.get("/api/v1/batches?page_token=" +
                d::encode_batch_page_token({1795881845123000, uuid}))
            .status == 200);
}
