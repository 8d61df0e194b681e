#include "domain/json_mapping.hpp"

#include <set>
#include <string>

#include <catch2/catch.hpp>

using namespace ogf::domain;
using json = nlohmann::json;

namespace {

std::set<std::string> keys_of(const json& j) {
  std::set<std::string> out;
  for (const auto& item : j.items())
    out.insert(item.key());
  return out;
}

// 2026-11-28T16:04:05.123Z
constexpr timestamp_us t0 = 1795881845123000;

batch sample_batch() {
  batch b;
  b.id = "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
  b.owner = {"org-1", "ws-1"};
  b.status = batch_status::processing;
  b.priority = 7;
  b.max_retries = 2;
  b.retry_count = 1;
  b.total_activities = 3;
  b.processed_activities = 1;
  b.succeeded_activities = 1;
  b.failed_activities = 0;
  b.total_emissions_kg_co2e = "12.500000";
  b.metadata = {{"team", "ops"}};
  b.created_at = t0;
  b.updated_at = t0 + 2'000'000;
  b.started_at = t0 + 1'000'000;
  return b;
}

} // namespace

TEST_CASE("a batch maps to exactly the contract's batch fields") {
  auto j = to_json(sample_batch());
  CHECK(keys_of(j) == std::set<std::string>{"id",
                                            "org_id",
                                            "workspace_id",
                                            "status",
                                            "priority",
                                            "max_retries",
                                            "retry_count",
                                            "total_activities",
                                            "processed_activities",
                                            "succeeded_activities",
                                            "failed_activities",
                                            "progress_percent",
                                            "total_emissions_kg_co2e",
                                            "cancel_requested",
                                            "error",
                                            "metadata",
                                            "idempotency_key",
                                            "created_at",
                                            "updated_at",
                                            "started_at",
                                            "completed_at",
                                            "run_after",
                                            "callback"});
  CHECK(j["id"] == "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d");
  CHECK(j["org_id"] == "org-1");
  CHECK(j["workspace_id"] == "ws-1");
  CHECK(j["status"] == "processing");
  CHECK(j["priority"] == 7);
  CHECK(j["max_retries"] == 2);
  CHECK(j["retry_count"] == 1);
  CHECK(j["total_activities"] == 3);
  CHECK(j["processed_activities"] == 1);
  CHECK(j["succeeded_activities"] == 1);
  CHECK(j["failed_activities"] == 0);
  CHECK(j["progress_percent"] == 33.33);
  CHECK(dump_exact(j["total_emissions_kg_co2e"]) == "12.500000");
  CHECK(j["cancel_requested"] == false);
  CHECK(j["error"].is_null());
  CHECK(j["metadata"] == json{{"team", "ops"}});
  CHECK(j["idempotency_key"].is_null());
  CHECK(j["created_at"] == "2026-11-28T16:04:05.123Z");
  CHECK(j["updated_at"] == "2026-11-28T16:04:07.123Z");
  CHECK(j["started_at"] == "2026-11-28T16:04:06.123Z");
  CHECK(j["completed_at"].is_null());
  CHECK(j["callback"].is_null()); // present, null: no callback_url
}

TEST_CASE("a finished batch shows its error, key and completion time") {
  auto b = sample_batch();
  b.status = batch_status::failed;
  b.processed_activities = 3;
  b.failed_activities = 2;
  b.error = "no_emission_factor";
  b.idempotency_key = "key-1";
  b.cancel_requested = true;
  b.completed_at = t0 + 5'000'000;
  auto j = to_json(b);
  CHECK(j["status"] == "failed");
  CHECK(j["progress_percent"] == 100.0);
  CHECK(j["error"] == "no_emission_factor");
  CHECK(j["idempotency_key"] == "key-1");
  CHECK(j["cancel_requested"] == true);
  CHECK(j["completed_at"] == "2026-11-28T16:04:10.123Z");
  b.callback = batch_callback{"https://hooks.example.com/x", "pending", 2,
                              std::string("HTTP 503")};
  CHECK(to_json(b)["callback"] == json{{"url", "https://hooks.example.com/x"},
                                       {"status", "pending"},
                                       {"attempts", 2},
                                       {"last_error", "HTTP 503"}});
}

TEST_CASE("progress percent is rounded to 2 decimals and stays in 0-100") {
  CHECK(progress_percent(0, 3, batch_status::pending) == 0.0);
  CHECK(progress_percent(1, 3, batch_status::processing) == 33.33);
  CHECK(progress_percent(2, 3, batch_status::processing) == 66.67);
  CHECK(progress_percent(1, 8, batch_status::processing) == 12.5);
  CHECK(progress_percent(3, 3, batch_status::completed) == 100.0);
  CHECK(progress_percent(9999, 10000, batch_status::processing) == 99.99);
  CHECK(progress_percent(5, 3, batch_status::processing) == 100.0);
  CHECK(progress_percent(0, 0, batch_status::pending) == 0.0);
  CHECK(progress_percent(0, 0, batch_status::completed) == 100.0);
}

TEST_CASE("decimal texts become JSON numbers with exactly their digits") {
  auto text = [](std::string_view decimal) {
    return dump_exact(decimal_to_json(decimal));
  };
  CHECK(text("0") == "0");
  CHECK(text("12.500000") == "12.500000");
  CHECK(text("0.000001") == "0.000001");
  CHECK(text("007.5") == "7.5");
  CHECK(text("-007.5") == "-7.5");
  CHECK(text("000") == "0");
  CHECK(text("-3") == "-3");
  // Beyond a double (issue 18): served digit for digit.
  CHECK(text("375293999999999.999625") == "375293999999999.999625");
  CHECK(text("46332592213.091593") == "46332592213.091593");
  CHECK(text("123456789012345678901234") == "123456789012345678901234");
  // Read back by any JSON parser as the nearest double, as before.
  CHECK(json::parse(text("12.500000")) == 12.5);
  CHECK(decimal_to_json("NaN").is_null());
  CHECK(decimal_to_json("Infinity").is_null());
  CHECK(decimal_to_json("").is_null());
  CHECK(decimal_to_json("-").is_null());
  CHECK(decimal_to_json("abc").is_null());
  CHECK(decimal_to_json("1.").is_null());
  CHECK(decimal_to_json("\"5\"").is_null());
  CHECK(decimal_to_json("5,6").is_null());
}

TEST_CASE("every answer object prints its decimals exactly") {
  auto b = sample_batch();
  b.total_emissions_kg_co2e = "375293999999999.999625";
  b.metadata = *parse_json_exact(R"({"order":123456789012345678901234567890})");
  auto text = dump_exact(to_json(b));
  CHECK(text.find(R"("total_emissions_kg_co2e":375293999999999.999625,)") !=
        std::string::npos);
  CHECK(text.find(R"("metadata":{"order":123456789012345678901234567890})") !=
        std::string::npos);
  batch_progress p;
  p.emissions_kg_co2e = "46332592213.091593";
  CHECK(dump_exact(to_json(p))
            .find(R"("emissions_kg_co2e":46332592213.091593,)") !=
        std::string::npos);
  batch_item item;
  item.emissions_kg_co2e = "0.000001";
  CHECK(dump_exact(to_json(item)).find(R"("emissions_kg_co2e":0.000001,)") !=
        std::string::npos);
  activity a;
  a.quantity = "12345678901234567.5";
  CHECK(dump_exact(to_json(a)).find(R"("quantity":12345678901234567.5,)") !=
        std::string::npos);
  emission_factor f;
  f.kg_co2e_per_unit = "0.123456789012345678901234567";
  CHECK(dump_exact(to_json(f))
            .find(R"("kg_co2e_per_unit":0.123456789012345678901234567,)") !=
        std::string::npos);
}

TEST_CASE("a batch item maps to exactly the contract's item fields") {
  batch_item pending;
  pending.activity_id = "meter-1";
  auto p = to_json(pending);
  CHECK(keys_of(p) == std::set<std::string>{
                          "activity_id", "status", "scope", "emissions_kg_co2e",
                          "factor_id", "error", "attempts", "processed_at"});
  CHECK(p["activity_id"] == "meter-1");
  CHECK(p["status"] == "pending");
  CHECK(p["scope"].is_null());
  CHECK(p["emissions_kg_co2e"].is_null());
  CHECK(p["factor_id"].is_null());
  CHECK(p["error"].is_null());
  CHECK(p["attempts"] == 0);
  CHECK(p["processed_at"].is_null());

  batch_item done;
  done.activity_id = "meter-2";
  done.status = item_status::succeeded;
  done.scope = 2;
  done.emissions_kg_co2e = "450.352800";
  done.factor_id = "epa2024-electricity-us";
  done.attempts = 1;
  done.processed_at = t0;
  auto d = to_json(done);
  CHECK(d["status"] == "succeeded");
  CHECK(d["scope"] == 2);
  CHECK(dump_exact(d["emissions_kg_co2e"]) == "450.352800");
  CHECK(d["factor_id"] == "epa2024-electricity-us");
  CHECK(d["attempts"] == 1);
  CHECK(d["processed_at"] == "2026-11-28T16:04:05.123Z");

  batch_item failed;
  failed.activity_id = "meter-3";
  failed.status = item_status::failed;
  failed.error = "unit_mismatch";
  CHECK(to_json(failed)["error"] == "unit_mismatch");
}

TEST_CASE("progress maps to exactly the contract's progress fields") {
  batch_progress p;
  p.batch_id = "0f8b1c2d-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
  p.status = batch_status::processing;
  p.total = 10;
  p.processed = 4;
  p.succeeded = 3;
  p.failed = 1;
  p.emissions_kg_co2e = "99.125";
  p.throughput_per_second = 12.3456;
  p.eta_seconds = 0.48612;
  p.started_at = t0;
  p.updated_at = t0 + 500'000;
  auto j = to_json(p);
  CHECK(keys_of(j) ==
        std::set<std::string>{"batch_id", "status", "total", "processed",
                              "succeeded", "failed", "remaining", "percent",
                              "emissions_kg_co2e", "throughput_per_second",
                              "eta_seconds", "started_at", "updated_at"});
  CHECK(j["batch_id"] == p.batch_id);
  CHECK(j["status"] == "processing");
  CHECK(j["total"] == 10);
  CHECK(j["processed"] == 4);
  CHECK(j["succeeded"] == 3);
  CHECK(j["failed"] == 1);
  CHECK(j["remaining"] == 6);
  CHECK(j["percent"] == 40.0);
  CHECK(dump_exact(j["emissions_kg_co2e"]) == "99.125");
  CHECK(j["throughput_per_second"] == 12.35);
  CHECK(j["eta_seconds"] == 0.49);
  CHECK(j["started_at"] == "2026-11-28T16:04:05.123Z");
  CHECK(j["updated_at"] == "2026-11-28T16:04:05.623Z");
}

TEST_CASE("progress without a start or an ETA shows nulls") {
  batch_progress p;
  p.batch_id = "b";
  p.total = 5;
  auto j = to_json(p);
  CHECK(j["eta_seconds"].is_null());
  CHECK(j["started_at"].is_null());
  CHECK(j["remaining"] == 5);
  CHECK(j["percent"] == 0.0);
  CHECK(dump_exact(j["emissions_kg_co2e"]) == "0");
}

TEST_CASE("an activity maps with its latest result or nulls") {
  activity a;
  a.id = "meter-1";
  a.activity_type = "electricity";
  a.quantity = "1200.5";
  a.unit = "kWh";
  a.region = "US";
  a.period_start = "2026-01-01";
  a.period_end = "2026-01-31";
  a.metadata = {{"site", 3}};
  auto j = to_json(a);
  CHECK(keys_of(j) == std::set<std::string>{"id", "activity_type", "quantity",
                                            "unit", "region", "period_start",
                                            "period_end", "metadata",
                                            "emissions_kg_co2e", "scope",
                                            "factor_id", "calculated_at"});
  CHECK(j["id"] == "meter-1");
  CHECK(j["activity_type"] == "electricity");
  CHECK(dump_exact(j["quantity"]) == "1200.5");
  CHECK(j["unit"] == "kWh");
  CHECK(j["region"] == "US");
  CHECK(j["period_start"] == "2026-01-01");
  CHECK(j["period_end"] == "2026-01-31");
  CHECK(j["metadata"] == json{{"site", 3}});
  CHECK(j["emissions_kg_co2e"].is_null());
  CHECK(j["scope"].is_null());
  CHECK(j["factor_id"].is_null());
  CHECK(j["calculated_at"].is_null());

  a.emissions_kg_co2e = "450.537447";
  a.scope = 2;
  a.factor_id = "epa2024-electricity-us";
  a.calculated_at = t0;
  j = to_json(a);
  CHECK(dump_exact(j["emissions_kg_co2e"]) == "450.537447");
  CHECK(j["scope"] == 2);
  CHECK(j["factor_id"] == "epa2024-electricity-us");
  CHECK(j["calculated_at"] == "2026-11-28T16:04:05.123Z");
}

TEST_CASE("an emission factor maps with its builtin flag") {
  emission_factor f;
  f.id = "desnz2024-diesel-l";
  f.activity_type = "diesel";
  f.scope = 1;
  f.region = "GB";
  f.unit = "L";
  f.kg_co2e_per_unit = "2.51279";
  f.valid_from = "2024-01-01";
  f.source = "DESNZ 2024";
  f.builtin = true;
  auto j = to_json(f);
  CHECK(keys_of(j) == std::set<std::string>{"id", "activity_type", "scope",
                                            "region", "unit",
                                            "kg_co2e_per_unit", "valid_from",
                                            "source", "builtin"});
  CHECK(j["id"] == "desnz2024-diesel-l");
  CHECK(j["activity_type"] == "diesel");
  CHECK(j["scope"] == 1);
  CHECK(j["region"] == "GB");
  CHECK(j["unit"] == "L");
  CHECK(dump_exact(j["kg_co2e_per_unit"]) == "2.51279");
  CHECK(j["valid_from"] == "2024-01-01");
  CHECK(j["source"] == "DESNZ 2024");
  CHECK(j["builtin"] == true);
  f.builtin = false;
  CHECK(to_json(f)["builtin"] == false);
}

TEST_CASE("the error body has code, message, optional details and time") {
  auto with = error_body("invalid_state", "batch is completed",
                         json{{"status", "completed"}}, t0);
  CHECK(keys_of(with) == std::set<std::string>{"error"});
  CHECK(keys_of(with["error"]) ==
        std::set<std::string>{"code", "message", "details", "timestamp"});
  CHECK(with["error"]["code"] == "invalid_state");
  CHECK(with["error"]["message"] == "batch is completed");
  CHECK(with["error"]["details"] == json{{"status", "completed"}});
  CHECK(with["error"]["timestamp"] == "2026-11-28T16:04:05.123Z");

  auto without = error_body("not_found", "no such batch", nullptr, t0);
  CHECK(keys_of(without["error"]) ==
        std::set<std::string>{"code", "message", "timestamp"});
}

TEST_CASE("the error body of an input error carries field and row") {
  input_error e{code_validation_error,
                "activities[2].unit",
                "activities[2].unit: unknown unit 'furlong'",
                {{"row", 2}}};
  auto j = error_body(e, t0);
  CHECK(j["error"]["code"] == "validation_error");
  CHECK(j["error"]["message"] == e.message);
  CHECK(j["error"]["details"] ==
        json{{"field", "activities[2].unit"}, {"row", 2}});
  input_error whole{code_invalid_json, "", "not an object", nullptr};
  CHECK_FALSE(error_body(whole, t0)["error"].contains("details"));
}

TEST_CASE("the error body's default timestamp is now") {
  auto before = now_us();
  auto j = error_body("internal", "oops");
  auto t = parse_rfc3339(j["error"]["timestamp"].get<std::string>());
  REQUIRE(t);
  CHECK(*t >= before / 1000 * 1000);
  CHECK(*t <= now_us());
}
