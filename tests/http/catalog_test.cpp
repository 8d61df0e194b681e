// Activities and emission factors.
#include <catch2/catch.hpp>

#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;

namespace {

json activity(const std::string& id, json quantity = 10) {
  return {{"id", id},
          {"activity_type", "electricity"},
          {"quantity", quantity},
          {"unit", "MWh"},
          {"region", "US"},
          {"period_start", "2025-01-01"},
          {"period_end", "2025-01-31"},
          {"metadata", {{"meter", 7}}}};
}

} // namespace

TEST_CASE("activities upload as JSON and read back with their latest "
          "result") {
  api_fixture api;
  auto r =
      api.post_json("/api/v1/activities",
                    {{"activities", {activity("m1"), activity("m2", "2.5")}}});
  REQUIRE(r.status == 200);
  CHECK(r.json() == json({{"upserted", 2}}));
  auto read = api.get("/api/v1/activities/m1");
  REQUIRE(read.status == 200);
  auto a = read.json();
  CHECK(a["id"] == "m1");
  CHECK(a["activity_type"] == "electricity");
  CHECK(a["quantity"] == 10);
  CHECK(a["unit"] == "MWh");
  CHECK(a["region"] == "US");
  CHECK(a["period_start"] == "2025-01-01");
  CHECK(a["period_end"] == "2025-01-31");
  CHECK(a["metadata"] == json({{"meter", 7}}));
  for (const char* f :
       {"emissions_kg_co2e", "scope", "factor_id", "calculated_at"}) {
    INFO(f);
    CHECK(a[f].is_null());
  }
  auto b = api.submit({"m1"});
  api.wait_for_status(b["id"], "completed");
  a = api.get("/api/v1/activities/m1").json();
  // 10 MWh = 10,000 kWh x 0.375294 kg/kWh
  CHECK(a["emissions_kg_co2e"].get<double>() == Approx(3752.94));
  CHECK(a["scope"] == 2);
  CHECK(a["factor_id"].is_string());
  CHECK(a["calculated_at"].is_string());
  // Upsert replaces.
  json changed = activity("m1", 1);
  REQUIRE(
      api.post_json("/api/v1/activities", {{"activities", {changed}}}).status ==
      200);
  CHECK(api.get("/api/v1/activities/m1").json()["quantity"] == 1);
}

TEST_CASE("activities upload as CSV") {
  api_fixture api;
  std::string csv =
      "id,activity_type,quantity,unit,region,period_start,period_end,metadata\n"
      "c1,electricity,12.5,kWh,US,2025-02-01,2025-02-28,\"{\"\"site\"\": 1}\"\n"
      "c2,natural_gas,3,therm,,2025-02-01,2025-02-28,\n";
  auto r = api.send("POST", "/api/v1/activities", csv,
                    "text/csv; charset=utf-8", acme.headers());
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.json()["upserted"] == 2);
  auto c1 = api.get("/api/v1/activities/c1").json();
  CHECK(c1["quantity"] == 12.5);
  CHECK(c1["metadata"] == json({{"site", 1}}));
  CHECK(api.get("/api/v1/activities/c2").json()["region"] == "GLOBAL");
}

TEST_CASE("an invalid activity row answers 400 with details.row and writes "
          "nothing") {
  api_fixture api;
  json bad = activity("m3");
  bad["quantity"] = -1;
  auto r =
      api.post_json("/api/v1/activities",
                    {{"activities", {activity("m1"), activity("m2"), bad}}});
  check_error(r, 400, "validation_error",
              std::string("activities[2].quantity"));
  CHECK(r.json()["error"]["details"]["row"] == 2);
  check_error(api.get("/api/v1/activities/m1"), 404, "not_found");

  json unknown_unit = activity("m1");
  unknown_unit["unit"] = "furlong";
  check_error(
      api.post_json("/api/v1/activities", {{"activities", {unknown_unit}}}),
      400, "validation_error", std::string("activities[0].unit"));
  json extra = activity("m1");
  extra["colour"] = "red";
  check_error(api.post_json("/api/v1/activities", {{"activities", {extra}}}),
              400, "unknown_field", std::string("activities[0].colour"));
  check_error(api.post_json("/api/v1/activities", {{"rows", json::array()}}),
              400, "unknown_field", std::string("rows"));

  std::string csv = "id,activity_type,quantity,unit,period_start,period_end\n"
                    "c1,electricity,1,kWh,2025-01-01,2025-01-31\n"
                    "c2,electricity,x,kWh,2025-01-01,2025-01-31\n";
  auto c =
      api.send("POST", "/api/v1/activities", csv, "text/csv", acme.headers());
  check_error(c, 400, "validation_error", std::string("quantity"));
  CHECK(c.json()["error"]["details"]["row"] == 2);
  check_error(api.get("/api/v1/activities/c1"), 404, "not_found");
  check_error(api.send("POST", "/api/v1/activities", "id,wat\nc1,x\n",
                       "text/csv", acme.headers()),
              400, "unknown_field", std::string("wat"));
}

TEST_CASE("emission factors list built-ins and the tenant's own, filter by "
          "activity_type, and upsert all-or-nothing") {
  api_fixture api;
  auto all = api.get("/api/v1/emission-factors");
  REQUIRE(all.status == 200);
  auto factors = all.json()["factors"];
  REQUIRE(factors.size() > 5);
  for (const auto& f : factors) {
    CHECK(f["builtin"] == true);
    for (const char* k : {"id", "activity_type", "scope", "region", "unit",
                          "kg_co2e_per_unit", "valid_from", "source"})
      CHECK(f.contains(k));
  }
  auto gas = api.get("/api/v1/emission-factors?activity_type=natural_gas")
                 .json()["factors"];
  REQUIRE_FALSE(gas.empty());
  CHECK(gas.size() < factors.size());
  for (const auto& f : gas)
    CHECK(f["activity_type"] == "natural_gas");
  CHECK(api.get("/api/v1/emission-factors?activity_type=no_such_type")
            .json()["factors"]
            .empty());

  // A tenant factor may reuse a built-in id; the built-in row stays.
  auto builtin_id = gas[0]["id"].get<std::string>();
  auto mine = factor_row(builtin_id);
  mine["activity_type"] = "natural_gas";
  mine["unit"] = "therm";
  auto r = api.put_json("/api/v1/emission-factors",
                        {{"factors", {factor_row("own-1"), mine}}});
  INFO(r.body);
  REQUIRE(r.status == 200);
  CHECK(r.json() == json({{"upserted", 2}}));
  auto after = api.get("/api/v1/emission-factors?activity_type=natural_gas")
                   .json()["factors"];
  int same_id = 0;
  for (const auto& f : after)
    same_id += f["id"] == builtin_id ? 1 : 0;
  CHECK(same_id == 2);

  // All-or-nothing: the bad second row keeps the first out.
  auto bad = factor_row("own-3");
  bad["scope"] = 4;
  auto refused = api.put_json("/api/v1/emission-factors",
                              {{"factors", {factor_row("own-2"), bad}}});
  check_error(refused, 400, "validation_error",
              std::string("factors[1].scope"));
  CHECK(refused.json()["error"]["details"]["row"] == 1);
  auto own = api.get("/api/v1/emission-factors?activity_type=electricity")
                 .json()["factors"];
  for (const auto& f : own)
    CHECK(f["id"] != "own-2");

  check_error(api.get("/api/v1/emission-factors?activity_type=Bad%20Type"), 400,
              "validation_error", std::string("activity_type"));
  check_error(api.get("/api/v1/emission-factors?type=x"), 400, "unknown_field",
              std::string("type"));
  check_error(api.get("/api/v1/emission-factors?activity_type=a&"
                      "activity_type=b"),
              400, "validation_error", std::string("activity_type"));
  check_error(api.put_json("/api/v1/emission-factors", {{"factors", 1}}), 400,
              "validation_error", std::string("factors"));
}
