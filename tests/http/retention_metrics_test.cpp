// Retention's metrics on GET /metrics: what this node pruned, by kind, and
// when its last round ended; a batch pruned is gone from the API too.
#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "http/api_fixture.hpp"

using namespace ogf::testing;
using namespace std::chrono_literals;

TEST_CASE("metrics count the batches, items and results retention deleted, "
          "and the API no longer finds them") {
  api_options opts;
  opts.tune_engine = [](ogf::engine_config& ec) {
    ec.retention = 24h * 30;
    ec.retention_interval = 100ms;
  };
  api_fixture api{opts};
  api.upload_activities(3);
  std::string old_id = api.submit({"a0000", "a0001", "a0002"})["id"];
  std::string new_id = api.submit({"a0000"})["id"];
  api.wait_for_status(old_id, "completed");
  api.wait_for_status(new_id, "completed");
  // The first batch ended 31 days ago; the second just now.
  {
    pqxx::connection c{api.db().url()};
    pqxx::work tx{c};
    tx.exec_params("UPDATE batch_jobs SET completed_at = now() - interval "
                   "'31 days' WHERE id = $1::uuid",
                   old_id);
    tx.commit();
  }
  REQUIRE(wait_until(
      [&] { return api.get("/api/v1/batches/" + old_id).status == 404; }, 20s));
  CHECK(api.get("/api/v1/batches/" + new_id).status == 200);
  // The counters arrive with the next stats read of a scrape.
  REQUIRE(wait_until([&] {
    return api.get("/metrics", tenant_ids{})
               .body.find("ogf_retention_pruned_total{kind=\"batches\"} 1") !=
           std::string::npos;
  }));
  auto r = api.get("/metrics", tenant_ids{});
  REQUIRE(r.status == 200);
  const auto& text = r.body;
  INFO(text);
  CHECK(text.find("ogf_retention_pruned_total{kind=\"items\"} 3") !=
        std::string::npos);
  CHECK(text.find("ogf_retention_pruned_total{kind=\"results\"} 3") !=
        std::string::npos);
  CHECK(text.find("ogf_retention_rounds_skipped_total 0") != std::string::npos);
  CHECK(text.find("ogf_retention_last_prune_timestamp_seconds ") !=
        std::string::npos);
  CHECK(text.find("ogf_retention_last_prune_timestamp_seconds 0\n") ==
        std::string::npos);
}
