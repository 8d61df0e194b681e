// Batches: submit, read, list, items, progress, cancel, retry, delete.
#include <catch2/catch.hpp>

#include "domain/time.hpp"
#include "http/api_fixture.hpp"

using namespace ogf::testing;
using nlohmann::json;
using namespace std::chrono_literals;

namespace {

const char* batch_fields[] = {"id",
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
                              "callback"};

void check_batch_shape(const json& b) {
  for (const char* f : batch_fields) {
    INFO("field " << f);
    CHECK(b.contains(f));
  }
  CHECK(b.size() == std::size(batch_fields));
}

} // namespace

TEST_CASE("a submitted batch answers 201 with a Location, runs to completion "
          "and shows its items and progress") {
  api_fixture api;
  api.upload_activities(3);
  auto r = api.post_json("/api/v1/batches",
                         {{"activity_ids", {"a0000", "a0001", "a0002"}},
                          {"priority", 7},
                          {"max_retries", 2},
                          {"metadata", {{"source", "test"}, {"n", 1}}}});
  REQUIRE(r.status == 201);
  auto b = r.json();
  check_batch_shape(b);
  CHECK(b["org_id"] == "acme");
  CHECK(b["workspace_id"] == "main");
  CHECK(b["priority"] == 7);
  CHECK(b["max_retries"] == 2);
  CHECK(b["total_activities"] == 3);
  CHECK(b["metadata"] == json({{"source", "test"}, {"n", 1}}));
  CHECK(b["idempotency_key"].is_null());
  auto id = b["id"].get<std::string>();
  CHECK(r.header("Location") == "/api/v1/batches/" + id);
  CHECK_FALSE(r.header("X-Request-ID").empty());

  auto done = api.wait_for_status(id, "completed");
  check_batch_shape(done);
  CHECK(done["succeeded_activities"] == 3);
  CHECK(done["processed_activities"] == 3);
  CHECK(done["progress_percent"] == 100.0);
  // (1 + 2 + 3) kWh x 0.375294 kg/kWh (built-in US factor)
  CHECK(done["total_emissions_kg_co2e"].get<double>() ==
        Approx(2.251764).epsilon(1e-9));
  CHECK(done["completed_at"].is_string());

  auto read = api.get(r.header("Location"));
  REQUIRE(read.status == 200);
  CHECK(read.json()["id"] == id);

  auto items = api.get("/api/v1/batches/" + id + "/items");
  REQUIRE(items.status == 200);
  auto body = items.json();
  CHECK(body["next_page_token"].is_null());
  REQUIRE(body["items"].size() == 3);
  auto first = body["items"][0];
  CHECK(first["activity_id"] == "a0000");
  CHECK(first["status"] == "succeeded");
  CHECK(first["scope"] == 2);
  CHECK(first["emissions_kg_co2e"].get<double>() == Approx(0.375294));
  CHECK(first["factor_id"].is_string());
  CHECK(first["error"].is_null());
  CHECK(first["attempts"] == 1);
  CHECK(first["processed_at"].is_string());

  auto progress = api.get("/api/v1/batches/" + id + "/progress");
  REQUIRE(progress.status == 200);
  auto p = progress.json();
  for (const char* f :
       {"batch_id", "status", "total", "processed", "succeeded", "failed",
        "remaining", "percent", "emissions_kg_co2e", "throughput_per_second",
        "eta_seconds", "started_at", "updated_at"}) {
    INFO("progress field " << f);
    CHECK(p.contains(f));
  }
  CHECK(p["batch_id"] == id);
  CHECK(p["status"] == "completed");
  CHECK(p["total"] == 3);
  CHECK(p["processed"] == 3);
  CHECK(p["remaining"] == 0);
  CHECK(p["percent"] == 100.0);
}

TEST_CASE("submit defaults priority 5, max_retries to the server default and "
          "metadata to {}") {
  api_fixture api;
  auto b = api.submit({"x1"});
  CHECK(b["priority"] == 5);
  CHECK(b["max_retries"] == 3);
  CHECK(b["metadata"] == json::object());
  CHECK(b["status"] == "pending");
  CHECK(b["retry_count"] == 0);
  CHECK(b["cancel_requested"] == false);
  // Unknown activities fail permanently with activity_not_found.
  auto done = api.wait_for_status(b["id"], "failed");
  auto items = api.get("/api/v1/batches/" + done["id"].get<std::string>() +
                       "/items?status=failed")
                   .json();
  REQUIRE(items["items"].size() == 1);
  CHECK(items["items"][0]["error"] == "activity_not_found");
}

TEST_CASE("listing batches walks every page with page_token and with "
          "offset, newest first, without repeats") {
  api_fixture api;
  std::vector<std::string> ids; // oldest first
  for (int i = 0; i < 7; ++i)
    ids.push_back(api.submit({"x" + std::to_string(i)})["id"]);
  std::vector<std::string> newest_first(ids.rbegin(), ids.rend());

  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  for (;;) {
    auto path = "/api/v1/batches?limit=3" +
                (token.empty() ? "" : "&page_token=" + token);
    auto r = api.get(path);
    REQUIRE(r.status == 200);
    auto body = r.json();
    ++pages;
    for (const auto& b : body["batches"])
      seen.push_back(b["id"]);
    if (body["next_page_token"].is_null())
      break;
    token = body["next_page_token"];
    REQUIRE(pages < 10);
  }
  CHECK(pages == 3);
  CHECK(seen == newest_first);

  seen.clear();
  for (int offset = 0; offset < 9; offset += 3) {
    auto r =
        api.get("/api/v1/batches?limit=3&offset=" + std::to_string(offset));
    REQUIRE(r.status == 200);
    auto body = r.json();
    for (const auto& b : body["batches"])
      seen.push_back(b["id"]);
  }
  CHECK(seen == newest_first);
  // Default limit 20 takes all seven.
  auto all = api.get("/api/v1/batches").json();
  CHECK(all["batches"].size() == 7);
  CHECK(all["next_page_token"].is_null());
}

TEST_CASE("every list filter narrows the batches") {
  api_fixture api;
  api.upload_activities(1);
  auto done = api.submit({"a0000"}, acme, {{"priority", 9}});
  std::this_thread::sleep_for(5ms);
  auto boundary = ogf::domain::format_rfc3339_ms(ogf::domain::now_us());
  std::this_thread::sleep_for(5ms);
  auto failed = api.submit({"missing"}, acme, {{"priority", 2}});
  api.wait_for_status(done["id"], "completed");
  api.wait_for_status(failed["id"], "failed");
  auto ids_of = [&](const std::string& query) {
    auto r = api.get("/api/v1/batches?" + query);
    INFO(query << " -> " << r.body);
    REQUIRE(r.status == 200);
    std::vector<std::string> out;
    auto body = r.json();
    for (const auto& b : body["batches"])
      out.push_back(b["id"]);
    return out;
  };
  using ids = std::vector<std::string>;
  CHECK(ids_of("status=completed") == ids{done["id"]});
  CHECK(ids_of("status=failed") == ids{failed["id"]});
  CHECK(ids_of("status=completed,failed") == ids{failed["id"], done["id"]});
  CHECK(ids_of("status=completed&status=failed") ==
        ids{failed["id"], done["id"]});
  CHECK(ids_of("status=pending").empty());
  CHECK(ids_of("priority=9") == ids{done["id"]});
  CHECK(ids_of("priority=2&status=failed") == ids{failed["id"]});
  CHECK(ids_of("priority=5").empty());
  CHECK(ids_of("created_before=" + boundary) == ids{done["id"]});
  CHECK(ids_of("created_after=" + boundary) == ids{failed["id"]});
  CHECK(ids_of("created_after=2000-01-01T00:00:00Z&created_before="
               "2000-01-02T00:00:00Z")
            .empty());
}

TEST_CASE("bad list and items query values answer 400 naming the parameter") {
  api_fixture api;
  auto b = api.submit({"x"});
  std::string items =
      "/api/v1/batches/" + b["id"].get<std::string>() + "/items?";
  struct bad {
    std::string path;
    std::string code;
    std::string field;
  };
  std::vector<bad> cases = {
      {"/api/v1/batches?limit=0", "validation_error", "limit"},
      {"/api/v1/batches?limit=101", "validation_error", "limit"},
      {"/api/v1/batches?limit=ten", "validation_error", "limit"},
      {"/api/v1/batches?limit=-1", "validation_error", "limit"},
      {"/api/v1/batches?priority=0", "validation_error", "priority"},
      {"/api/v1/batches?priority=11", "validation_error", "priority"},
      {"/api/v1/batches?status=done", "validation_error", "status"},
      {"/api/v1/batches?status=", "validation_error", "status"},
      {"/api/v1/batches?created_after=yesterday", "validation_error",
       "created_after"},
      {"/api/v1/batches?created_before=2026-13-01T00:00:00Z",
       "validation_error", "created_before"},
      {"/api/v1/batches?page_token=garbage", "validation_error", "page_token"},
      {"/api/v1/batches?offset=-1", "validation_error", "offset"},
      {"/api/v1/batches?offset=x", "validation_error", "offset"},
      {"/api/v1/batches?limit=5&limit=6", "validation_error", "limit"},
      {"/api/v1/batches?stauts=failed", "unknown_field", "stauts"},
      {items + "status=queued", "validation_error", "status"},
      {items + "limit=0", "validation_error", "limit"},
      {items + "limit=1001", "validation_error", "limit"},
      {items + "page_token=%%%", "validation_error", "page_token"},
      {items + "offset=1", "unknown_field", "offset"},
  };
  // A batch-list token is not an items token, and the other way round.
  auto list = api.get("/api/v1/batches?limit=1");
  api.submit({"y"});
  auto token = api.get("/api/v1/batches?limit=1").json()["next_page_token"];
  REQUIRE(token.is_string());
  cases.push_back({items + "page_token=" + token.get<std::string>(),
                   "validation_error", "page_token"});
  auto offset_and_token =
      "/api/v1/batches?offset=1&page_token=" + token.get<std::string>();
  auto r = api.get(offset_and_token);
  CHECK(r.status == 400);
  for (const auto& c : cases) {
    INFO(c.path);
    check_error(api.get(c.path), 400, c.code, c.field);
  }
}

TEST_CASE("items page through by activity id and filter by status") {
  api_fixture api;
  api.upload_activities(5);
  auto ids = activity_ids(5);
  ids.push_back("zz-missing");
  auto b = api.submit(ids);
  std::string id = b["id"];
  api.wait_for_status(id, "failed");
  std::vector<std::string> seen;
  std::string token;
  for (int page = 0; page < 10; ++page) {
    auto r = api.get("/api/v1/batches/" + id + "/items?limit=2" +
                     (token.empty() ? "" : "&page_token=" + token));
    REQUIRE(r.status == 200);
    auto body = r.json();
    CHECK(body["items"].size() <= 2);
    for (const auto& item : body["items"])
      seen.push_back(item["activity_id"]);
    if (body["next_page_token"].is_null())
      break;
    token = body["next_page_token"];
  }
  CHECK(seen == ids);
  auto succeeded =
      api.get("/api/v1/batches/" + id + "/items?status=succeeded").json();
  CHECK(succeeded["items"].size() == 5);
  auto failed =
      api.get("/api/v1/batches/" + id + "/items?status=failed").json();
  REQUIRE(failed["items"].size() == 1);
  CHECK(failed["items"][0]["activity_id"] == "zz-missing");
  CHECK(failed["items"][0]["emissions_kg_co2e"].is_null());
  auto pending =
      api.get("/api/v1/batches/" + id + "/items?status=pending").json();
  CHECK(pending["items"].empty());
}

TEST_CASE("cancel answers 200 for a pending batch and 202 for a processing "
          "one, which then ends cancelled") {
  api_options opts;
  opts.workers = 1;
  opts.chunk_size = 5;
  opts.chunk_delay = 200ms;
  api_fixture api{opts};
  api.upload_activities(100);
  auto running = api.submit(activity_ids(100));
  std::string running_id = running["id"];
  api.wait_for_status(running_id, "processing");
  // The only worker is busy: this one stays pending.
  auto waiting = api.submit(activity_ids(5));
  std::string waiting_id = waiting["id"];

  auto r = api.post_json("/api/v1/batches/" + waiting_id + "/cancel",
                         json::object());
  REQUIRE(r.status == 200);
  CHECK(r.json()["status"] == "cancelled");

  auto started = std::chrono::steady_clock::now();
  r = api.send("POST", "/api/v1/batches/" + running_id + "/cancel", "", "",
               acme.headers());
  REQUIRE(r.status == 202);
  CHECK(r.json()["cancel_requested"] == true);
  auto ended = api.wait_for_status(running_id, "cancelled", acme, 5s);
  // CONTRACT: within 2 s; the slack is for a loaded test machine.
  CHECK(std::chrono::steady_clock::now() - started < 4s);
  CHECK(ended["processed_activities"].get<int>() < 100);

  // Terminal now: cancel again is refused with the status.
  auto again = api.send("POST", "/api/v1/batches/" + running_id + "/cancel", "",
                        "", acme.headers());
  check_error(again, 409, "invalid_state");
  CHECK(again.json()["error"]["details"]["status"] == "cancelled");
}

TEST_CASE("retry of a failed batch answers 200 and takes it back to pending "
          "with retry_count + 1, keeping the succeeded items") {
  api_fixture api;
  api.upload_activities(2);
  auto b = api.submit({"a0000", "a0001", "a0002"});
  std::string id = b["id"];
  api.wait_for_status(id, "failed");
  api.upload_activities(3); // a0002 exists now
  auto r = api.post_json("/api/v1/batches/" + id + "/retry", json::object());
  REQUIRE(r.status == 200);
  auto retried = r.json();
  CHECK(retried["retry_count"] == 1);
  CHECK((retried["status"] == "pending" || retried["status"] == "queued" ||
         retried["status"] == "processing" ||
         retried["status"] == "completed"));
  auto done = api.wait_for_status(id, "completed");
  CHECK(done["succeeded_activities"] == 3);
  CHECK(done["retry_count"] == 1);
  // Completed batches cannot be retried.
  auto again =
      api.post_json("/api/v1/batches/" + id + "/retry", json::object());
  check_error(again, 409, "invalid_state");
  CHECK(again.json()["error"]["details"]["status"] == "completed");
}

TEST_CASE("delete answers 204 for pending and terminal batches, 409 for a "
          "processing one, and 404 afterwards") {
  api_options opts;
  opts.workers = 1;
  opts.chunk_size = 5;
  opts.chunk_delay = 200ms;
  api_fixture api{opts};
  api.upload_activities(100);
  auto running = api.submit(activity_ids(100));
  std::string running_id = running["id"];
  api.wait_for_status(running_id, "processing");
  auto waiting = api.submit({"a0000"});
  std::string waiting_id = waiting["id"];

  auto refused = api.del("/api/v1/batches/" + running_id);
  check_error(refused, 409, "invalid_state");
  CHECK(refused.json()["error"]["details"]["status"] == "processing");

  auto r = api.del("/api/v1/batches/" + waiting_id);
  CHECK(r.status == 204);
  CHECK(r.body.empty());
  check_error(api.get("/api/v1/batches/" + waiting_id), 404, "not_found");
  check_error(api.get("/api/v1/batches/" + waiting_id + "/items"), 404,
              "not_found");

  REQUIRE(api.send("POST", "/api/v1/batches/" + running_id + "/cancel", "", "",
                   acme.headers())
              .status == 202);
  api.wait_for_status(running_id, "cancelled");
  CHECK(api.del("/api/v1/batches/" + running_id).status == 204);
  check_error(api.del("/api/v1/batches/" + running_id), 404, "not_found");
  CHECK(api.get("/api/v1/batches").json()["batches"].empty());
}
