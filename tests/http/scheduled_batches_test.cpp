// Scheduled batches (CONTRACT §7): run_after on submit, in the batch
// object, in the idempotency fingerprint, and the poller's wake-up when
// the earliest one becomes due.
#include <catch2/catch.hpp>

#include "domain/time.hpp"
#include "http/api_fixture.hpp"
#include "support/test_database.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

std::string rfc3339_in(std::chrono::milliseconds ahead) {
  return ogf::domain::format_rfc3339_ms(ogf::domain::now_us() +
                                        ahead.count() * 1000);
}

std::int64_t us_of(const json& t) {
  auto v = ogf::domain::parse_rfc3339(t.get<std::string>());
  REQUIRE(v);
  return *v;
}

} // namespace

TEST_CASE("a scheduled batch stays pending until its run_after and starts "
          "within a second of it, with a 30 s poll interval") {
  api_fixture api; // poll interval 30 s: only the wake-up can start it
  api.upload_activities(1);
  // Let the first poll (at start) pass.
  std::this_thread::sleep_for(300ms);
  auto at = rfc3339_in(1500ms);
  auto b = api.submit({"a0000"}, acme, {{"run_after", at}});
  CHECK(b["status"] == "pending");
  CHECK(b["run_after"] == at);
  auto id = b["id"].get<std::string>();
  // Still pending a little before it is due.
  std::this_thread::sleep_for(800ms);
  auto early = api.get("/api/v1/batches/" + id).json();
  CHECK(early["status"] == "pending");
  CHECK(early["started_at"].is_null());
  auto done = api.wait_for_status(id, "completed", acme, 10s);
  auto started = us_of(done["started_at"]);
  auto due = us_of(done["run_after"]);
  CHECK(started >= due);
  CHECK(started - due < 1'000'000);
}

TEST_CASE("run_after is in every batch object: submit, get, list, and "
          "the time of the submit when not given") {
  api_fixture api;
  auto far =
      api.post_json("/api/v1/batches", {{"activity_ids", {"x"}},
                                        {"run_after", rfc3339_in(24h * 300)}});
  REQUIRE(far.status == 201);
  // An offset is accepted; the batch shows the instant in UTC.
  auto at = ogf::domain::now_us() + std::int64_t{86400} * 1000000;
  at -= at % 1000000;
  auto plus_two =
      ogf::domain::format_rfc3339_ms(at + std::int64_t{7200} * 1000000);
  auto local = api.post_json(
      "/api/v1/batches", {{"activity_ids", {"y"}},
                          {"run_after", plus_two.substr(0, 19) + "+02:00"}});
  REQUIRE(local.status == 201);
  CHECK(local.json()["run_after"] == ogf::domain::format_rfc3339_ms(at));
  auto plain = api.submit({"z"});
  REQUIRE(plain["run_after"].is_string());
  auto created = us_of(plain["created_at"]);
  auto run_after = us_of(plain["run_after"]);
  CHECK(run_after <= created);
  CHECK(created - run_after < 60'000'000);
  auto id = far.json()["id"].get<std::string>();
  auto got = api.get("/api/v1/batches/" + id).json();
  CHECK(got["run_after"] == far.json()["run_after"]);
  CHECK(got["status"] == "pending");
  auto list = api.get("/api/v1/batches").json()["batches"];
  REQUIRE(list.size() >= 2);
  for (const auto& b : list)
    CHECK(b["run_after"].is_string());
}

TEST_CASE("a bad run_after answers 400 validation_error naming the field") {
  api_fixture api;
  for (json bad :
       {json("tomorrow"), json("2030-01-01T00:00:00"), json("2030-01-01"),
        json("2030-02-30T00:00:00Z"), json(1893456000), json(true),
        json::object(), json(rfc3339_in(24h * 367))}) {
    INFO(bad.dump());
    auto r = api.post_json("/api/v1/batches",
                           {{"activity_ids", {"x"}}, {"run_after", bad}});
    check_error(r, 400, "validation_error", "run_after");
  }
  // null takes the default: now.
  auto r = api.post_json("/api/v1/batches",
                         {{"activity_ids", {"x"}}, {"run_after", nullptr}});
  CHECK(r.status == 201);
  CHECK(api.get("/api/v1/batches").json()["batches"].size() == 1);
}

TEST_CASE("an idempotent resubmit with another run_after is 422, with the "
          "same instant spelt otherwise 200") {
  api_fixture api;
  auto at = ogf::domain::now_us() + std::int64_t{3600} * 1000000;
  // Whole seconds, so that both spellings name the same instant.
  at -= at % 1000000;
  auto utc = ogf::domain::format_rfc3339_ms(at);
  auto first = api.post_json("/api/v1/batches",
                             {{"activity_ids", {"x"}}, {"run_after", utc}},
                             acme, {{"Idempotency-Key", "nightly"}});
  REQUIRE(first.status == 201);
  // The same instant, written with an offset and without milliseconds.
  auto plus_one =
      ogf::domain::format_rfc3339_ms(at + std::int64_t{3600} * 1000000);
  auto spelt = plus_one.substr(0, 19) + "+01:00";
  auto again = api.post_json("/api/v1/batches",
                             {{"activity_ids", {"x"}}, {"run_after", spelt}},
                             acme, {{"Idempotency-Key", "nightly"}});
  CHECK(again.status == 200);
  CHECK(again.json()["id"] == first.json()["id"]);
  auto later = ogf::domain::format_rfc3339_ms(at + 60'000'000);
  auto moved = api.post_json("/api/v1/batches",
                             {{"activity_ids", {"x"}}, {"run_after", later}},
                             acme, {{"Idempotency-Key", "nightly"}});
  check_error(moved, 422, "idempotency_key_reused");
  auto dropped = api.post_json("/api/v1/batches", {{"activity_ids", {"x"}}},
                               acme, {{"Idempotency-Key", "nightly"}});
  check_error(dropped, 422, "idempotency_key_reused");
  CHECK(api.get("/api/v1/batches").json()["batches"].size() == 1);
}
