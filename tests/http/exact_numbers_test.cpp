// Exact numbers at the API boundary (issue 18, defect 5): quantities,
// factors, emissions, totals and metadata numbers keep every digit on the
// way in and on the way out. The answers are read as text here: a JSON
// library that reads numbers as doubles would hide exactly what is tested.
#include <map>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "domain/decimal.hpp"
#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;
using ogf::domain::decimal;

namespace {

/// The texts of every number that follows `"key":` in a compact JSON text.
std::vector<std::string> numbers_after(const std::string& body,
                                       const std::string& key) {
  std::vector<std::string> out;
  const std::string needle = "\"" + key + "\":";
  for (auto pos = body.find(needle); pos != std::string::npos;
       pos = body.find(needle, pos + 1)) {
    auto start = pos + needle.size();
    auto end = body.find_first_not_of("-+.0123456789eE", start);
    out.push_back(body.substr(start, end - start));
  }
  return out;
}

/// The one number after `"key":`.
std::string number_after(const std::string& body, const std::string& key) {
  auto all = numbers_after(body, key);
  INFO(body.substr(0, 2000));
  REQUIRE(all.size() == 1);
  return all[0];
}

/// quantity x factor rounded to 6 decimals, as docs/emissions.md defines.
std::string product6(const std::string& quantity, const std::string& factor) {
  return ogf::domain::format_fixed(
      *decimal::parse(quantity) * *decimal::parse(factor), 6);
}

std::string activity_row(const std::string& id, const std::string& type,
                         const std::string& quantity_json,
                         const std::string& unit, const std::string& region) {
  return R"({"id":")" + id + R"(","activity_type":")" + type +
         R"(","quantity":)" + quantity_json + R"(,"unit":")" + unit +
         R"(","region":")" + region +
         R"(","period_start":"2025-01-01","period_end":"2025-01-31",)"
         R"("metadata":{"meter":123456789012345678901234567890,)"
         R"("ratio":0.10000000000000000555}})";
}

} // namespace

TEST_CASE("quantities, factors, emissions, totals and metadata numbers keep "
          "their exact digits in every answer") {
  api_fixture api;
  // A factor with more digits than a double holds.
  const std::string fine_factor = "0.123456789012345678901234567";
  auto put = api.send("PUT", "/api/v1/emission-factors",
                      R"({"factors":[{"id":"fine-1","activity_type":)"
                      R"("exact_test","scope":1,"region":"GLOBAL","unit":)"
                      R"("kWh","kg_co2e_per_unit":)" +
                          fine_factor +
                          R"(,"valid_from":"2020-01-01","source":"t"}]})",
                      "application/json", acme.headers());
  INFO(put.body);
  REQUIRE(put.status == 200);

  // The issue's values: a quoted 999999999999.999999 MWh, an unquoted
  // 12345678901234567.5 kWh (nearest double: 12345678901234568), and a
  // quantity whose result has 17 significant digits.
  const std::string body =
      R"({"activities":[)" +
      activity_row("big-mwh", "electricity", R"("999999999999.999999")", "MWh",
                   "US") +
      "," +
      activity_row("json-number", "electricity", "12345678901234567.5", "kWh",
                   "US") +
      "," +
      activity_row("fine", "exact_test", "375294000.09159", "kWh", "GLOBAL") +
      "]}";
  auto up = api.send("POST", "/api/v1/activities", body, "application/json",
                     acme.headers());
  INFO(up.body);
  REQUIRE(up.status == 200);

  const std::string us_factor = "0.375294"; // epa2024-electricity-us
  const std::map<std::string, std::string> expected = {
      {"big-mwh", "375293999999999.999625"},
      {"json-number", product6("12345678901234567.5", us_factor)},
      {"fine", product6("375294000.09159", fine_factor)},
  };
  CHECK(expected.at("json-number") == "4633259217559925.775345");

  // Activities read back as given, metadata numbers included.
  auto a = api.get("/api/v1/activities/json-number");
  REQUIRE(a.status == 200);
  CHECK(number_after(a.body, "quantity") == "12345678901234567.5");
  CHECK(number_after(a.body, "meter") == "123456789012345678901234567890");
  CHECK(number_after(a.body, "ratio") == "0.10000000000000000555");
  CHECK(number_after(api.get("/api/v1/activities/big-mwh").body, "quantity") ==
        "999999999999.999999");

  // Factors as given.
  auto f = api.get("/api/v1/emission-factors?activity_type=exact_test");
  REQUIRE(f.status == 200);
  CHECK(number_after(f.body, "kg_co2e_per_unit") == fine_factor);

  // Submit metadata as given.
  auto s = api.send(
      "POST", "/api/v1/batches",
      R"({"activity_ids":["big-mwh","json-number","fine"],)"
      R"("metadata":{"order":123456789012345678901234567890,"x":1.50}})",
      "application/json", acme.headers());
  INFO(s.body);
  REQUIRE(s.status == 201);
  CHECK(number_after(s.body, "order") == "123456789012345678901234567890");
  CHECK(number_after(s.body, "x") == "1.50");
  const auto id = s.json()["id"].get<std::string>();
  api.wait_for_status(id, "completed");

  // Items: each result exact; they add up to the total.
  auto items = api.get("/api/v1/batches/" + id + "/items");
  REQUIRE(items.status == 200);
  auto served = numbers_after(items.body, "emissions_kg_co2e");
  auto ids = items.json()["items"];
  REQUIRE(served.size() == 3);
  REQUIRE(ids.size() == 3);
  decimal sum;
  for (std::size_t i = 0; i < served.size(); ++i) {
    auto activity_id = ids[i]["activity_id"].get<std::string>();
    INFO(activity_id);
    CHECK(served[i] == expected.at(activity_id));
    sum = sum + *decimal::parse(served[i]);
  }
  const auto total = sum.to_string();
  CHECK(total == "5008553263892517.961877");

  auto batch = api.get("/api/v1/batches/" + id);
  CHECK(number_after(batch.body, "total_emissions_kg_co2e") == total);
  CHECK(number_after(batch.body, "order") == "123456789012345678901234567890");
  auto progress = api.get("/api/v1/batches/" + id + "/progress");
  CHECK(number_after(progress.body, "emissions_kg_co2e") == total);
  auto list = api.get("/api/v1/batches");
  CHECK(number_after(list.body, "total_emissions_kg_co2e") == total);
  CHECK(number_after(api.get("/api/v1/activities/big-mwh").body,
                     "emissions_kg_co2e") == expected.at("big-mwh"));

  // The event stream of the finished batch: final progress, then done.
  auto events = api.get("/api/v1/batches/" + id + "/events");
  REQUIRE(events.status == 200);
  CHECK(numbers_after(events.body, "emissions_kg_co2e") ==
        std::vector<std::string>{total});
  CHECK(numbers_after(events.body, "total_emissions_kg_co2e") ==
        std::vector<std::string>{total});
}
