// Activity and emission-factor uploads, JSON and CSV (CONTRACT §2).
#include "domain/validation.hpp"

#include <set>
#include <string>

#include "domain/exact_json.hpp"

#include <catch2/catch.hpp>

using namespace ogf::domain;
using json = nlohmann::json;

namespace {

const unit_check known_units = [](std::string_view u) {
  static const std::set<std::string_view> units{"kWh", "L", "kg", "gal", "km"};
  return units.count(u) > 0;
};

json good_activity(const std::string& id = "meter-1") {
  return {{"id", id},
          {"activity_type", "electricity"},
          {"quantity", 1200.5},
          {"unit", "kWh"},
          {"region", "US-CAMX"},
          {"period_start", "2026-01-01"},
          {"period_end", "2026-01-31"},
          {"metadata", {{"site", "plant 3"}}}};
}

json activities(std::initializer_list<json> rows) {
  return {{"activities", json(rows)}};
}

// Three good rows, the one at `index` replaced.
json three_with(std::size_t index, const json& row) {
  json rows = {good_activity("r0"), good_activity("r1"), good_activity("r2")};
  rows[index] = row;
  return {{"activities", rows}};
}

json good_factor(const std::string& id = "f-1") {
  return {{"id", id},
          {"activity_type", "diesel"},
          {"scope", 1},
          {"region", "GB"},
          {"unit", "L"},
          {"kg_co2e_per_unit", "2.51279"},
          {"valid_from", "2024-01-01"},
          {"source", "DESNZ 2024"}};
}

template <class T>
void require_row_error(const result<T>& r, const char* code,
                       const std::string& field, std::size_t row) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK(r.error().field == field);
  CHECK(r.error().details["row"] == row);
  CHECK(error_details(r.error())["field"] == field);
}

template <class T>
void require_error(const result<T>& r, const char* code,
                   const std::string& field) {
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code);
  CHECK(r.error().field == field);
}

} // namespace

// -- activities, JSON
// ------------------------------------------------------------

TEST_CASE("a valid activity row is parsed field by field") {
  auto r = parse_activities_json(activities({good_activity()}), known_units);
  REQUIRE(r);
  REQUIRE(r->size() == 1);
  const auto& a = r->front();
  CHECK(a.id == "meter-1");
  CHECK(a.activity_type == "electricity");
  CHECK(a.quantity == "1200.5");
  CHECK(a.unit == "kWh");
  CHECK(a.region == "US-CAMX");
  CHECK(a.period_start == "2026-01-01");
  CHECK(a.period_end == "2026-01-31");
  CHECK(a.metadata == json{{"site", "plant 3"}});
  CHECK_FALSE(a.emissions_kg_co2e);
}

TEST_CASE("region and metadata take their defaults when absent or null") {
  auto row = good_activity();
  row.erase("region");
  row.erase("metadata");
  auto r = parse_activities_json(activities({row}), known_units);
  REQUIRE(r);
  CHECK(r->front().region == "GLOBAL");
  CHECK(r->front().metadata == json::object());
  row["region"] = nullptr;
  row["metadata"] = nullptr;
  r = parse_activities_json(activities({row}), known_units);
  REQUIRE(r);
  CHECK(r->front().region == "GLOBAL");
}

TEST_CASE("an activities body that is not an object is invalid_json") {
  for (const json& body :
       {json::array({good_activity()}), json("x"), json(3)}) {
    require_error(parse_activities_json(body, known_units), code_invalid_json,
                  "");
  }
}

TEST_CASE("activities is a required array of 1 to 10000 rows") {
  require_error(parse_activities_json(json::object(), known_units),
                code_validation_error, "activities");
  require_error(
      parse_activities_json({{"activities", good_activity()}}, known_units),
      code_validation_error, "activities");
  require_error(
      parse_activities_json({{"activities", json::array()}}, known_units),
      code_validation_error, "activities");
  json rows = json::array();
  for (int i = 0; i < 10'000; ++i)
    rows.push_back(good_activity("m" + std::to_string(i)));
  auto full = parse_activities_json({{"activities", rows}}, known_units);
  REQUIRE(full);
  CHECK(full->size() == 10'000);
  rows.push_back(good_activity("one-too-many"));
  require_error(parse_activities_json({{"activities", rows}}, known_units),
                code_validation_error, "activities");
}

TEST_CASE("unknown fields in the body and in rows are unknown_field") {
  auto body = activities({good_activity()});
  body["upsert"] = true;
  require_error(parse_activities_json(body, known_units), code_unknown_field,
                "upsert");
  auto row = good_activity("r1");
  row["colour"] = "red";
  require_row_error(parse_activities_json(three_with(1, row), known_units),
                    code_unknown_field, "activities[1].colour", 1);
}

TEST_CASE("a row that is not an object names the row") {
  require_row_error(parse_activities_json(three_with(2, "x"), known_units),
                    code_validation_error, "activities[2]", 2);
}

TEST_CASE("each required activity field is reported when missing") {
  for (const char* name : {"id", "activity_type", "quantity", "unit",
                           "period_start", "period_end"}) {
    INFO(name);
    auto row = good_activity("r2");
    row.erase(name);
    require_row_error(parse_activities_json(three_with(2, row), known_units),
                      code_validation_error,
                      std::string("activities[2].") + name, 2);
    row[name] = nullptr;
    require_row_error(parse_activities_json(three_with(2, row), known_units),
                      code_validation_error,
                      std::string("activities[2].") + name, 2);
  }
}

TEST_CASE("each activity field refuses a wrong type") {
  const std::pair<const char*, json> cases[] = {
      {"id", 17},
      {"activity_type", 1},
      {"quantity", true},
      {"quantity", json::array({1})},
      {"quantity", json::object()},
      {"unit", 3},
      {"region", false},
      {"period_start", 20260101},
      {"period_end", json::object()},
      {"metadata", json::array()},
      {"metadata", "{}"},
  };
  for (const auto& [name, value] : cases) {
    INFO(name << " = " << value.dump());
    auto row = good_activity("r1");
    row[name] = value;
    require_row_error(parse_activities_json(three_with(1, row), known_units),
                      code_validation_error,
                      std::string("activities[1].") + name, 1);
  }
}

TEST_CASE("activity field values are checked at their boundaries") {
  struct probe {
    const char* name;
    json value;
    bool ok;
  };
  const probe probes[] = {
      {"id", std::string(128, 'i'), true},
      {"id", std::string(129, 'i'), false},
      {"id", "", false},
      {"id", "has space", false},
      {"activity_type", std::string(64, 't'), true},
      {"activity_type", std::string(65, 't'), false},
      {"activity_type", "", false},
      {"activity_type", "Electricity", false},
      {"quantity", 0, true},
      {"quantity", "0", true},
      {"quantity", -1, false},
      {"quantity", -0.001, false},
      {"quantity", "-1", false},
      {"quantity", "1e3", false},
      {"unit", "gal", true},
      {"unit", "furlong", false},
      {"unit", "", false},
      {"unit", std::string(33, 'k'), false},
      {"region", std::string(32, 'R'), true},
      {"region", std::string(33, 'R'), false},
      {"region", "", false},
      {"region", "EU/DE", false},
      {"period_start", "2024-02-29", true},
      {"period_start", "2023-02-29", false},
      {"period_start", "2026-1-01", false},
      {"period_start", "2026-01-01T00:00:00Z", false},
      {"period_end", "2026-01-01", true},  // equal to period_start
      {"period_end", "2025-12-31", false}, // before period_start
      {"metadata", json{{"k", std::string(16 * 1024 - 8, 'x')}}, true},
      {"metadata", json{{"k", std::string(16 * 1024 - 7, 'x')}}, false},
  };
  for (const auto& p : probes) {
    INFO(p.name << " = " << p.value.dump().substr(0, 80));
    auto row = good_activity("r1");
    row[p.name] = p.value;
    auto r = parse_activities_json(three_with(1, row), known_units);
    if (p.ok) {
      CHECK(r);
    } else {
      require_row_error(r, code_validation_error,
                        std::string("activities[1].") + p.name, 1);
    }
  }
}

TEST_CASE("an unknown unit's message names it") {
  auto row = good_activity("r0");
  row["unit"] = "furlong";
  auto r = parse_activities_json(three_with(0, row), known_units);
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("'furlong'") != std::string::npos);
}

TEST_CASE("quantities keep their exact decimal text") {
  auto row = good_activity();
  row["quantity"] = "1234567890123456789.123456789";
  auto r = parse_activities_json(activities({row}), known_units);
  REQUIRE(r);
  CHECK(r->front().quantity == "1234567890123456789.123456789");
  r = parse_activities_json(
      json::parse(R"({"activities": [{"id": "a", "activity_type": "diesel",
      "quantity": 0.1, "unit": "L", "period_start": "2026-01-01",
      "period_end": "2026-01-01"}]})"),
      known_units);
  REQUIRE(r);
  CHECK(r->front().quantity == "0.1");
}

TEST_CASE("a repeated activity id is reported at its second row") {
  json body = {{"activities",
                {good_activity("a"), good_activity("b"), good_activity("a")}}};
  auto r = parse_activities_json(body, known_units);
  require_row_error(r, code_validation_error, "activities[2].id", 2);
}

TEST_CASE("the first bad row is the one reported") {
  auto bad1 = good_activity("r1");
  bad1["quantity"] = -5;
  json rows = {good_activity("r0"), bad1, good_activity("r2")};
  rows[2]["unit"] = "furlong";
  auto r = parse_activities_json({{"activities", rows}}, known_units);
  require_row_error(r, code_validation_error, "activities[1].quantity", 1);
}

TEST_CASE("without a unit check every unit name is accepted") {
  auto row = good_activity();
  row["unit"] = "furlong";
  auto r = parse_activities_json(activities({row}), unit_check{});
  REQUIRE(r);
  CHECK(r->front().unit == "furlong");
}

// -- activities, CSV
// ---------------------------------------------------------------

namespace {

const std::string csv_header =
    "id,activity_type,quantity,unit,region,period_start,period_end,metadata\n";

} // namespace

TEST_CASE("a CSV upload with LF line ends is parsed") {
  auto r = parse_activities_csv(
      csv_header +
          "m1,electricity,1200.5,kWh,US-CAMX,2026-01-01,2026-01-31,\n"
          "m2,diesel,40,L,,2026-02-01,2026-02-28,\"{\"\"site\"\": 3}\"\n",
      known_units);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[0].id == "m1");
  CHECK((*r)[0].quantity == "1200.5");
  CHECK((*r)[0].region == "US-CAMX");
  CHECK((*r)[0].metadata == json::object());
  CHECK((*r)[1].region == "GLOBAL");
  CHECK((*r)[1].metadata == json{{"site", 3}});
}

TEST_CASE("a CSV upload with CRLF, a BOM and no final line break is parsed") {
  auto r = parse_activities_csv(
      "\xEF\xBB\xBFid,activity_type,quantity,unit,period_start,period_end\r\n"
      "m1,diesel,1,L,2026-01-01,2026-01-02\r\n"
      "m2,diesel,2,L,2026-01-01,2026-01-02",
      known_units);
  REQUIRE(r);
  REQUIRE(r->size() == 2);
  CHECK((*r)[1].id == "m2");
  CHECK((*r)[1].period_end == "2026-01-02");
}

TEST_CASE("CSV columns may come in any order and optional ones may be left "
          "out") {
  auto r = parse_activities_csv("unit,period_end,id,quantity,period_start,"
                                "activity_type\n"
                                "kg,2026-03-31,w1,12,2026-03-01,waste\n",
                                known_units);
  REQUIRE(r);
  CHECK(r->front().id == "w1");
  CHECK(r->front().unit == "kg");
  CHECK(r->front().activity_type == "waste");
  CHECK(r->front().region == "GLOBAL");
}

TEST_CASE("quoted CSV fields hold commas, quotes and line breaks") {
  // The metadata cell is the JSON text {"note": "a, \"b\"\nc",<LF>"line": 2}
  // with every quote doubled.
  auto r = parse_activities_csv(
      csv_header + R"("m1","diesel","7.25",L,GB,2026-01-01,2026-01-02,)"
                   R"("{""note"": ""a, \""b\""\nc"",)"
                   "\n"
                   R"(""line"": 2}")"
                   "\n",
      known_units);
  REQUIRE(r);
  CHECK(r->front().id == "m1");
  CHECK(r->front().quantity == "7.25");
  CHECK(r->front().metadata == json{{"note", "a, \"b\"\nc"}, {"line", 2}});
}

TEST_CASE("CSV errors give the data row, the line and the column") {
  // Line 1 header, line 2 blank, row 1 on lines 3-4 (a quoted line break),
  // row 2 on line 5 with a negative quantity.
  auto r = parse_activities_csv(
      csv_header +
          "\n"
          "m1,diesel,1,L,GB,2026-01-01,2026-01-02,\"{\"\"a\"\":\n1}\"\n"
          "m2,diesel,-1,L,GB,2026-01-01,2026-01-02,\n",
      known_units);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code_validation_error);
  CHECK(r.error().field == "quantity");
  CHECK(r.error().details == json{{"row", 2}, {"line", 5}});
}

TEST_CASE("CSV header problems are reported on line 1") {
  auto unknown = parse_activities_csv(
      "id,activity_type,quantity,unit,period_start,period_end,colour\n",
      known_units);
  require_error(unknown, code_unknown_field, "colour");
  CHECK(unknown.error().details == json{{"line", 1}});

  require_error(
      parse_activities_csv(
          "id,activity_type,quantity,unit,period_start,period_end,id\n"
          "a,b,1,L,2026-01-01,2026-01-01,a\n",
          known_units),
      code_validation_error, "id");
  require_error(
      parse_activities_csv("id,activity_type,quantity,period_start,period_end\n"
                           "a,b,1,2026-01-01,2026-01-01\n",
                           known_units),
      code_validation_error, "unit");
  require_error(parse_activities_csv("id,,quantity\n", known_units),
                code_validation_error, "csv");
}

TEST_CASE("an empty CSV or one with only a header is refused") {
  require_error(parse_activities_csv("", known_units), code_validation_error,
                "csv");
  require_error(parse_activities_csv("\n\r\n", known_units),
                code_validation_error, "csv");
  require_error(parse_activities_csv(csv_header, known_units),
                code_validation_error, "activities");
}

TEST_CASE("CSV syntax errors are reported with their row") {
  const std::string row1 = "m1,diesel,1,L,GB,2026-01-01,2026-01-02,\n";
  struct probe {
    std::string text;
    std::size_t row;
  };
  const probe probes[] = {
      {row1 + "m2,diesel,1,L,GB,2026-01-01,2026-01-02\n", 2},    // 7 fields
      {row1 + "m2,diesel,1,L,GB,2026-01-01,2026-01-02,,\n", 2},  // 9 fields
      {row1 + "m2,\"diesel,1,L,GB,2026-01-01,2026-01-02,\n", 2}, // unclosed
      {"m\"1,diesel,1,L,GB,2026-01-01,2026-01-02,\n", 1},        // stray quote
      {"\"m1\"x,diesel,1,L,GB,2026-01-01,2026-01-02,\n", 1},     // after quote
  };
  for (const auto& p : probes) {
    INFO(p.text);
    auto r = parse_activities_csv(csv_header + p.text, known_units);
    require_error(r, code_validation_error, "csv");
    CHECK(r.error().details["row"] == p.row);
  }
}

TEST_CASE("empty CSV cells are missing values") {
  auto r = parse_activities_csv(
      csv_header + "m1,diesel,,L,GB,2026-01-01,2026-01-02,\n", known_units);
  require_error(r, code_validation_error, "quantity");
  CHECK(r.error().details["row"] == 1);
}

TEST_CASE("CSV metadata must be JSON object text") {
  for (const char* cell : {"not json", "[1]", "\"\"\"x\"\"\"", "{"}) {
    INFO(cell);
    auto r = parse_activities_csv(
        csv_header + "m1,diesel,1,L,GB,2026-01-01,2026-01-02," + cell + "\n",
        known_units);
    require_error(r, code_validation_error, "metadata");
    CHECK(r.error().details["row"] == 1);
  }
}

TEST_CASE("a CSV metadata cell nested deeper than 64 levels is refused "
          "instead of overflowing the stack") {
  // 200,000 levels: 400 KB of body, well under --max-body-bytes; before the
  // depth check, printing the parsed value crashed with a stack overflow.
  const std::size_t levels = 200000;
  auto cell = "\"{\"\"a\"\":" + std::string(levels, '[') +
              std::string(levels, ']') + "}\"";
  auto r = parse_activities_csv(
      csv_header + "m1,diesel,1,L,GB,2026-01-01,2026-01-02," + cell + "\n",
      known_units);
  require_error(r, code_validation_error, "metadata");
  CHECK(r.error().details["row"] == 1);
  CHECK(r.error().message.find("64 levels") != std::string::npos);
  // 64 levels in all are still metadata.
  auto fits =
      "\"{\"\"a\"\":" + std::string(63, '[') + std::string(63, ']') + "}\"";
  CHECK(parse_activities_csv(csv_header +
                                 "m1,diesel,1,L,GB,2026-01-01,"
                                 "2026-01-02," +
                                 fits + "\n",
                             known_units));
}

TEST_CASE("JSON nesting is counted without parsing, outside strings only") {
  CHECK(json_nesting_depth("", 64) == 0);
  CHECK(json_nesting_depth("{\"a\": [1, {\"b\": []}]}", 64) == 4);
  CHECK(json_nesting_depth("\"[[[[\\\"[[\"", 64) == 0);
  CHECK(json_nesting_depth("[[[]][[[]]]]", 64) == 4);
  // Counting stops one past the limit.
  CHECK(json_nesting_depth(std::string(100000, '['), 64) == 65);
  // Unbalanced closers do not go below zero.
  CHECK(json_nesting_depth("]]]]}[", 64) == 1);
}

TEST_CASE("CSV quantities follow the decimal-string rules") {
  auto ok = parse_activities_csv(
      csv_header + "m1,diesel,0012.50,L,GB,2026-01-01,2026-01-02,\n",
      known_units);
  REQUIRE(ok);
  CHECK(ok->front().quantity == "12.50");
  for (const char* bad : {"-1", "1e3", " 1", "1,5"}) {
    INFO(bad);
    auto r = parse_activities_csv(csv_header + "m1,diesel,\"" + bad +
                                      "\",L,GB,2026-01-01,2026-01-02,\n",
                                  known_units);
    require_error(r, code_validation_error, "quantity");
  }
}

TEST_CASE("a CSV upload holds at most 10000 rows") {
  std::string text = "id,activity_type,quantity,unit,period_start,period_end\n";
  for (int i = 1; i <= 10'000; ++i)
    text += "m" + std::to_string(i) + ",diesel,1,L,2026-01-01,2026-01-02\n";
  auto full = parse_activities_csv(text, known_units);
  REQUIRE(full);
  CHECK(full->size() == 10'000);
  text += "m10001,diesel,1,L,2026-01-01,2026-01-02\n";
  auto over = parse_activities_csv(text, known_units);
  require_error(over, code_validation_error, "activities");
  CHECK(over.error().details["row"] == 10'001);
}

TEST_CASE("a repeated id in a CSV upload is refused at its second row") {
  auto r = parse_activities_csv(
      "id,activity_type,quantity,unit,period_start,period_end\n"
      "a,diesel,1,L,2026-01-01,2026-01-02\n"
      "b,diesel,1,L,2026-01-01,2026-01-02\n"
      "a,diesel,1,L,2026-01-01,2026-01-02\n",
      known_units);
  require_error(r, code_validation_error, "id");
  CHECK(r.error().details == json{{"row", 3}, {"line", 4}});
}

TEST_CASE("CSV bytes outside ASCII never reach a message unescaped") {
  auto r = parse_activities_csv(
      "id,activity_type,quantity,unit,period_start,period_end,\xff\xfe\n",
      known_units);
  REQUIRE_FALSE(r);
  CHECK(r.error().code == code_unknown_field);
  CHECK(r.error().field == "??");
  CHECK_NOTHROW(error_details(r.error()).dump());
}

// -- emission factors
// -----------------------------------------------------------------

TEST_CASE("a valid factor row is parsed and marked as the tenant's own") {
  auto r = parse_factors_json({{"factors", {good_factor()}}}, known_units);
  REQUIRE(r);
  const auto& f = r->front();
  CHECK(f.id == "f-1");
  CHECK(f.activity_type == "diesel");
  CHECK(f.scope == 1);
  CHECK(f.region == "GB");
  CHECK(f.unit == "L");
  CHECK(f.kg_co2e_per_unit == "2.51279");
  CHECK(f.valid_from == "2024-01-01");
  CHECK(f.source == "DESNZ 2024");
  CHECK_FALSE(f.builtin);
}

TEST_CASE("factor region and source have defaults") {
  auto row = good_factor();
  row.erase("region");
  row.erase("source");
  auto r = parse_factors_json({{"factors", {row}}}, known_units);
  REQUIRE(r);
  CHECK(r->front().region == "GLOBAL");
  CHECK(r->front().source == "");
}

TEST_CASE("factors is a required array of 1 to 1000 rows") {
  require_error(parse_factors_json(json::array(), known_units),
                code_invalid_json, "");
  require_error(parse_factors_json(json::object(), known_units),
                code_validation_error, "factors");
  require_error(parse_factors_json({{"factors", json::array()}}, known_units),
                code_validation_error, "factors");
  json rows = json::array();
  for (int i = 0; i < 1'000; ++i)
    rows.push_back(good_factor("f" + std::to_string(i)));
  CHECK(parse_factors_json({{"factors", rows}}, known_units));
  rows.push_back(good_factor("f-extra"));
  require_error(parse_factors_json({{"factors", rows}}, known_units),
                code_validation_error, "factors");
  require_error(
      parse_factors_json({{"factors", {good_factor()}}, {"x", 1}}, known_units),
      code_unknown_field, "x");
}

TEST_CASE("factor fields are checked for presence, type and range") {
  struct probe {
    const char* name;
    json value; // null = removed
    bool ok;
  };
  const probe probes[] = {
      {"id", nullptr, false},
      {"id", 5, false},
      {"id", std::string(129, 'f'), false},
      {"activity_type", nullptr, false},
      {"activity_type", "Diesel", false},
      {"scope", nullptr, false},
      {"scope", 0, false},
      {"scope", 1, true},
      {"scope", 2, true},
      {"scope", 3, true},
      {"scope", 4, false},
      {"scope", "1", false},
      {"scope", 1.5, false},
      {"scope", true, false},
      {"region", "GB_", true},
      {"region", std::string(33, 'R'), false},
      {"unit", nullptr, false},
      {"unit", "furlong", false},
      {"kg_co2e_per_unit", nullptr, false},
      {"kg_co2e_per_unit", 0, true},
      {"kg_co2e_per_unit", -0.5, false},
      {"kg_co2e_per_unit", "abc", false},
      {"valid_from", nullptr, false},
      {"valid_from", "2024-02-30", false},
      {"valid_from", 2024, false},
      {"source", std::string(1'000, 's'), true},
      {"source", std::string(1'001, 's'), false},
      {"source", 12, false},
      {"colour", "red", false},
  };
  for (const auto& p : probes) {
    INFO(p.name << " = " << p.value.dump().substr(0, 60));
    auto row = good_factor("f1");
    if (p.value.is_null())
      row.erase(p.name);
    else
      row[p.name] = p.value;
    json rows = {good_factor("f0"), row};
    auto r = parse_factors_json({{"factors", rows}}, known_units);
    if (p.ok) {
      CHECK(r);
    } else {
      require_row_error(r,
                        std::string(p.name) == "colour" ? code_unknown_field
                                                        : code_validation_error,
                        std::string("factors[1].") + p.name, 1);
    }
  }
}

TEST_CASE("factor sources are counted in characters, not bytes") {
  std::string accented;
  for (int i = 0; i < 1'000; ++i)
    accented += "\xc3\xa9"; // é
  auto row = good_factor();
  row["source"] = accented;
  CHECK(parse_factors_json({{"factors", {row}}}, known_units));
  row["source"] = accented + "e";
  require_row_error(parse_factors_json({{"factors", {row}}}, known_units),
                    code_validation_error, "factors[0].source", 0);
}

TEST_CASE("a repeated factor id is refused") {
  auto r = parse_factors_json(
      {{"factors", {good_factor("x"), good_factor("x")}}}, known_units);
  require_row_error(r, code_validation_error, "factors[1].id", 1);
}

TEST_CASE("U+0000 in activity metadata or a factor source is refused with "
          "the field and row, since PostgreSQL cannot store it") {
  const std::string nul(1, '\0');
  for (const json& metadata :
       {json{{"k", "a" + nul + "b"}}, json{{"k" + nul, 1}},
        json{{"k", {{"deep", json::array({1, nul})}}}}}) {
    INFO(metadata.dump());
    auto row = good_activity("r1");
    row["metadata"] = metadata;
    require_row_error(parse_activities_json(three_with(1, row), known_units),
                      code_validation_error, "activities[1].metadata", 1);
  }
  auto csv = parse_activities_csv(
      csv_header + "m1,diesel,1,L,GB,2026-01-01,2026-01-02,\n" +
          "m2,diesel,1,L,GB,2026-01-01,2026-01-02,\"{\"\"k\"\":\"\"\\u0000\"\"}"
          "\"\n",
      known_units);
  require_error(csv, code_validation_error, "metadata");
  CHECK(csv.error().details["row"] == 2);
  auto factor = good_factor("f1");
  factor["source"] = "meter " + nul;
  require_row_error(
      parse_factors_json({{"factors", {good_factor("f0"), factor}}},
                         known_units),
      code_validation_error, "factors[1].source", 1);
}

TEST_CASE("a CSV metadata cell that names a key twice is refused with its "
          "row, and its numbers keep their digits") {
  auto r =
      parse_activities_csv(csv_header + "m1,diesel,1,L,GB,2026-01-01,2026-01-"
                                        "02,\"{\"\"k\"\":1,\"\"k\"\":2}\"\n",
                           known_units);
  require_error(r, code_validation_error, "metadata");
  CHECK(r.error().details["row"] == 1);
  CHECK(r.error().message.find("twice") != std::string::npos);
  auto ok = parse_activities_csv(
      csv_header + "m1,diesel,1,L,GB,2026-01-01,2026-01-02,"
                   "\"{\"\"n\"\":123456789012345678901234567890}\"\n",
      known_units);
  REQUIRE(ok);
  CHECK(dump_exact(ok->front().metadata) ==
        R"({"n":123456789012345678901234567890})");
}
