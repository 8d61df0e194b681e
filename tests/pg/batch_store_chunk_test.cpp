// Working through a batch: resolving a chunk's activities and factors,
// recording results exactly once, and finishing.
#include "persistence/batch_store.hpp"

#include <atomic>
#include <thread>

#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;
using persistence::finish_kind;
using persistence::lease_ref;

namespace {

/// A started batch of `ids` for tenant_a.
lease_ref started(batch_store& store, std::vector<std::string> ids,
                  const tenant& t = tenant_a) {
  auto b = store.submit(request(t, std::move(ids), 10)).batch;
  auto c = store.claim(1, 60s);
  REQUIRE(c.size() == 1);
  REQUIRE(c[0].batch_id == b.id);
  lease_ref lease{b.id, c[0].token};
  REQUIRE(store.start(lease));
  return lease;
}

} // namespace

TEST_CASE("recording the same chunk twice under the same token counts it "
          "once") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto lease = started(store, {"a1", "a2", "a3", "a4"});
  std::vector<persistence::item_result_row> chunk{
      ok_row("a1", "0.123456"), ok_row("a2", "1234567.000001"),
      failed_row("a3", "no_emission_factor")};

  auto first = store.record_chunk(lease, tenant_a, chunk);
  CHECK(first.succeeded == 2);
  CHECK(first.failed == 1);
  CHECK(first.emissions_kg_co2e == "1234567.123457");
  CHECK_FALSE(first.cancel_requested);
  auto after_first = q.snapshot(lease.batch_id);
  auto b1 = store.get(tenant_a, lease.batch_id);

  auto second = store.record_chunk(lease, tenant_a, chunk);
  CHECK(second.succeeded == 0);
  CHECK(second.failed == 0);
  CHECK(second.emissions_kg_co2e == "0");
  auto b2 = store.get(tenant_a, lease.batch_id);
  CHECK(b2.processed_activities == b1.processed_activities);
  CHECK(b2.succeeded_activities == 2);
  CHECK(b2.failed_activities == 1);
  CHECK(b2.total_emissions_kg_co2e == "1234567.123457");
  // Items keep their first result and attempt count.
  CHECK(q.text("SELECT json_agg(i ORDER BY activity_id)::text FROM "
               "batch_items i") ==
        q.text("SELECT (" + q.quote(after_first) + "::json -> 1)::text"));

  // A chunk repeating recorded items with different values changes only
  // the still-pending one.
  auto third = store.record_chunk(
      lease, tenant_a, {ok_row("a1", "99"), ok_row("a4", "0.000001")});
  CHECK(third.succeeded == 1);
  CHECK(third.emissions_kg_co2e == "0.000001");
  CHECK(store.get(tenant_a, lease.batch_id).total_emissions_kg_co2e ==
        "1234567.123458");

  // The batch total is the exact sum of its items, and the counters match
  // the item rows.
  CHECK(q.truth("SELECT b.total_emissions_kg_co2e = (SELECT sum("
                "emissions_kg_co2e) FROM batch_items i WHERE i.batch_id = "
                "b.id) FROM batch_jobs b"));
  CHECK(q.truth("SELECT b.succeeded_activities = (SELECT count(*) FROM "
                "batch_items i WHERE i.batch_id = b.id AND status = "
                "'succeeded') AND b.failed_activities = (SELECT count(*) FROM "
                "batch_items i WHERE i.batch_id = b.id AND status = 'failed') "
                "FROM batch_jobs b"));
}

TEST_CASE("results for activities outside the batch are ignored") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto lease = started(store, {"a1"});
  auto other = store.submit(request(tenant_a, {"a1", "zz"}, 1)).batch;
  auto out = store.record_chunk(lease, tenant_a,
                                {ok_row("zz", "5"), ok_row("a1", "1")});
  CHECK(out.succeeded == 1);
  CHECK(out.emissions_kg_co2e == "1");
  CHECK(all_items(store, tenant_a, other.id, item_status::pending).size() == 2);
  CHECK(q.number("SELECT count(*) FROM batch_items WHERE activity_id = 'zz'") ==
        1);
}

TEST_CASE("an empty chunk under a valid lease records nothing and succeeds") {
  test_database db;
  auto store = make_store(db);
  auto lease = started(store, {"a1"});
  auto out = store.record_chunk(lease, tenant_a, {});
  CHECK(out.succeeded == 0);
  CHECK(out.failed == 0);
  CHECK(out.emissions_kg_co2e == "0");
}

TEST_CASE("record_chunk reports a cancel request to the worker") {
  test_database db;
  auto store = make_store(db);
  auto lease = started(store, {"a1", "a2"});
  store.cancel(tenant_a, lease.batch_id);
  auto out = store.record_chunk(lease, tenant_a, {ok_row("a1", "1")});
  CHECK(out.cancel_requested);
  CHECK(out.succeeded == 1);
}

TEST_CASE("record_chunk on a queued, not yet started batch is lease_lost") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto b = store.submit(request(tenant_a, {"a1"})).batch;
  auto c = store.claim(1, 60s).at(0);
  lease_ref lease{b.id, c.token};
  auto before = q.snapshot(b.id);
  CHECK(errc_of([&] {
          store.record_chunk(lease, tenant_a, {ok_row("a1", "1")});
        }) == engine_errc::lease_lost);
  CHECK(q.snapshot(b.id) == before);
}

TEST_CASE("finish completes a fully succeeded batch and fails one with "
          "failed or unprocessed items") {
  test_database db;
  auto store = make_store(db);

  SECTION("all succeeded") {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a, {ok_row("a1", "1"), ok_row("a2", "2")});
    auto b = store.finish(lease, finish_kind::done);
    CHECK(b.status == batch_status::completed);
    CHECK_FALSE(b.error);
    CHECK(b.completed_at.has_value());
    CHECK(b.started_at.has_value());
    CHECK(b.processed_activities == 2);
  }
  SECTION("one failed") {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a,
                       {ok_row("a1", "1"), failed_row("a2", "unit_mismatch")});
    auto b = store.finish(lease, finish_kind::done);
    CHECK(b.status == batch_status::failed);
    CHECK(b.error == std::optional<std::string>("1 of 2 activities failed"));
  }
  SECTION("one never processed") {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a, {ok_row("a1", "1")});
    auto b = store.finish(lease, finish_kind::done);
    CHECK(b.status == batch_status::failed);
    CHECK(b.error.has_value());
  }
  SECTION("a fatal error") {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a, {ok_row("a1", "1"), ok_row("a2", "2")});
    auto b = store.finish(lease, finish_kind::failed, "database corrupted");
    CHECK(b.status == batch_status::failed);
    CHECK(b.error == std::optional<std::string>("database corrupted"));
    // Results already processed are kept whatever the end state.
    CHECK(b.succeeded_activities == 2);
    CHECK(b.total_emissions_kg_co2e == "3");
  }
  SECTION("cancelled") {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a, {ok_row("a1", "1")});
    store.cancel(tenant_a, lease.batch_id);
    auto b = store.finish(lease, finish_kind::cancelled);
    CHECK(b.status == batch_status::cancelled);
    CHECK_FALSE(b.error);
    CHECK(b.succeeded_activities == 1);
  }
  SECTION("twice") {
    auto lease = started(store, {"a1"});
    store.record_chunk(lease, tenant_a, {ok_row("a1", "1")});
    store.finish(lease, finish_kind::done);
    CHECK(errc_of([&] { store.finish(lease, finish_kind::done); }) ==
          engine_errc::lease_lost);
    CHECK(store.renew({lease}, 60s).lost.size() == 1);
  }
}

TEST_CASE("an empty batch completes") {
  test_database db;
  auto store = make_store(db);
  auto lease = started(store, {});
  CHECK(store.resolve_chunk(lease, tenant_a, "", 10).empty());
  CHECK(store.finish(lease, finish_kind::done).status ==
        batch_status::completed);
}

namespace {

void add_factor(sql& q, const std::string& org, const std::string& id,
                const std::string& type, const std::string& region,
                const std::string& unit, int value, const std::string& from,
                int scope = 1) {
  auto tenant_cols =
      org.empty() ? std::string("NULL, NULL") : q.quote(org) + ", 'ws-1'";
  q.exec("INSERT INTO emission_factors (org_id, workspace_id, id,"
         " activity_type, scope, region, unit, kg_co2e_per_unit, valid_from)"
         " VALUES (" +
         tenant_cols + ", " + q.quote(id) + ", " + q.quote(type) + ", " +
         std::to_string(scope) + ", " + q.quote(region) + ", " + q.quote(unit) +
         ", " + std::to_string(value) + ", " + q.quote(from) + ")");
}

domain::activity act(std::string id, std::string type, std::string unit,
                     std::string region = "GLOBAL",
                     std::string start = "2023-06-01") {
  domain::activity a;
  a.id = std::move(id);
  a.activity_type = std::move(type);
  a.quantity = "12.5";
  a.unit = std::move(unit);
  a.region = std::move(region);
  a.period_start = start;
  a.period_end = start;
  return a;
}

} // namespace

TEST_CASE("resolve_chunk picks each activity's factor by the CONTRACT's "
          "preference order") {
  test_database db;
  auto store = make_store(db);
  sql q{db};

  // own: tenant's own GLOBAL factor beats a built-in exact-region one.
  add_factor(q, "", "own-builtin", "t_own", "DE", "kWh", 1, "2020-01-01");
  add_factor(q, "org-a", "own-mine", "t_own", "GLOBAL", "kWh", 2, "2020-01-01");
  add_factor(q, "org-b", "own-theirs", "t_own", "DE", "kWh", 3, "2023-01-01");
  // region: exact region with an older valid_from beats a newer GLOBAL.
  add_factor(q, "", "reg-global", "t_reg", "GLOBAL", "kWh", 1, "2023-01-01");
  add_factor(q, "", "reg-de", "t_reg", "DE", "kWh", 2, "2019-01-01");
  add_factor(q, "", "reg-fr", "t_reg", "FR", "kWh", 3, "2023-01-01");
  // valid_from: latest not after period_start (2023-06-01).
  add_factor(q, "", "vf-2020", "t_vf", "GLOBAL", "kWh", 1, "2020-01-01");
  add_factor(q, "", "vf-2022", "t_vf", "GLOBAL", "kWh", 2, "2022-01-01");
  add_factor(q, "", "vf-2023-06", "t_vf", "GLOBAL", "kWh", 3, "2023-06-01");
  add_factor(q, "", "vf-2024", "t_vf", "GLOBAL", "kWh", 4, "2024-01-01");
  // ...and the earliest when every candidate starts later.
  add_factor(q, "", "late-2025", "t_late", "GLOBAL", "kWh", 1, "2025-01-01");
  add_factor(q, "", "late-2024", "t_late", "GLOBAL", "kWh", 2, "2024-01-01");
  // unit: own unit beats another unit of the same dimension; valid_from
  // comes before unit.
  add_factor(q, "", "unit-kwh", "t_unit", "GLOBAL", "kWh", 1, "2021-01-01");
  add_factor(q, "", "unit-mwh", "t_unit", "GLOBAL", "MWh", 2, "2021-01-01");
  add_factor(q, "", "unit-gj-newer", "t_unit2", "GLOBAL", "GJ", 1,
             "2022-01-01");
  add_factor(q, "", "unit-mwh-older", "t_unit2", "GLOBAL", "MWh", 2,
             "2021-01-01");
  // id: the smallest id when all else ties.
  add_factor(q, "", "id-b", "t_id", "GLOBAL", "kWh", 1, "2021-01-01");
  add_factor(q, "", "id-a", "t_id", "GLOBAL", "kWh", 2, "2021-01-01");
  add_factor(q, "", "id-c", "t_id", "GLOBAL", "kWh", 3, "2021-01-01");
  // Only another dimension: any_factor but no factor.
  add_factor(q, "", "mass-only", "t_dim", "GLOBAL", "kg", 1, "2021-01-01");
  // Only another region: no candidate at all.
  add_factor(q, "", "elsewhere", "t_region_only", "FR", "kWh", 1, "2021-01-01");

  store.upsert_activities(
      tenant_a,
      {act("c-own", "t_own", "kWh", "DE"), act("d-reg", "t_reg", "kWh", "DE"),
       act("e-vf", "t_vf", "kWh"), act("f-late", "t_late", "kWh"),
       act("g-unit", "t_unit", "MWh"), act("h-unit2", "t_unit2", "MWh"),
       act("i-id", "t_id", "kWh"), act("j-dim", "t_dim", "kWh"),
       act("k-none", "t_nothing", "kWh"),
       act("l-region", "t_region_only", "kWh", "DE")});
  // Another tenant's activity with the same id as a missing one.
  store.upsert_activities(tenant_b, {act("b-missing", "t_own", "kWh", "DE")});

  auto lease = started(store, {"l-region", "k-none", "j-dim", "i-id", "h-unit2",
                               "g-unit", "f-late", "e-vf", "d-reg", "c-own",
                               "b-missing", "a-before"});
  auto rows = store.resolve_chunk(lease, tenant_a, "a-before", 100);
  REQUIRE(rows.size() == 11);
  std::vector<std::string> order;
  for (const auto& r : rows)
    order.push_back(r.activity_id);
  CHECK(order == std::vector<std::string>{"b-missing", "c-own", "d-reg", "e-vf",
                                          "f-late", "g-unit", "h-unit2", "i-id",
                                          "j-dim", "k-none", "l-region"});
  auto factor = [&](std::size_t i) {
    return rows[i].factor_id.value_or("<none>");
  };

  CHECK_FALSE(rows[0].found);
  CHECK_FALSE(rows[0].factor_id);
  CHECK_FALSE(rows[0].any_factor);

  CHECK(rows[1].found);
  CHECK(rows[1].quantity == "12.5");
  CHECK(rows[1].unit == "kWh");
  CHECK(factor(1) == "own-mine");
  CHECK(rows[1].kg_co2e_per_unit == std::optional<std::string>("2"));
  CHECK(rows[1].factor_unit == std::optional<std::string>("kWh"));
  CHECK(rows[1].scope == std::optional<int>(1));
  CHECK(rows[1].any_factor);
  CHECK(factor(2) == "reg-de");
  CHECK(factor(3) == "vf-2023-06");
  CHECK(factor(4) == "late-2024");
  CHECK(factor(5) == "unit-mwh");
  CHECK(rows[5].factor_unit == std::optional<std::string>("MWh"));
  CHECK(factor(6) == "unit-gj-newer");
  CHECK(rows[6].factor_unit == std::optional<std::string>("GJ"));
  CHECK(factor(7) == "id-a");

  CHECK(rows[8].found);
  CHECK(rows[8].any_factor);
  CHECK_FALSE(rows[8].factor_id);
  CHECK_FALSE(rows[8].factor_unit);

  CHECK(rows[9].found);
  CHECK_FALSE(rows[9].any_factor);
  CHECK_FALSE(rows[9].factor_id);

  CHECK(rows[10].found);
  CHECK_FALSE(rows[10].any_factor);
  CHECK_FALSE(rows[10].factor_id);

  // Tenant b's activity of the same id is resolved with b's own factor,
  // never with tenant a's.
  auto lease_b = started(store, {"b-missing"}, tenant_b);
  auto rb = store.resolve_chunk(lease_b, tenant_b, "", 10);
  REQUIRE(rb.size() == 1);
  CHECK(rb[0].found);
  CHECK(rb[0].factor_id == std::optional<std::string>("own-theirs"));
}

TEST_CASE("resolve_chunk walks pending items after the cursor, a limit at a "
          "time") {
  test_database db;
  auto store = make_store(db);
  std::vector<std::string> ids;
  for (int i = 0; i < 10; ++i)
    ids.push_back("act-" + std::to_string(i));
  auto lease = started(store, ids);
  store.record_chunk(lease, tenant_a,
                     {ok_row("act-2", "1"), failed_row("act-5", "x")});

  std::vector<std::string> walked;
  std::string cursor;
  for (int guard = 0; guard < 20; ++guard) {
    auto rows = store.resolve_chunk(lease, tenant_a, cursor, 3);
    if (rows.empty())
      break;
    CHECK(rows.size() <= 3);
    for (const auto& r : rows)
      walked.push_back(r.activity_id);
    cursor = rows.back().activity_id;
  }
  CHECK(walked == std::vector<std::string>{"act-0", "act-1", "act-3", "act-4",
                                           "act-6", "act-7", "act-8", "act-9"});
}

TEST_CASE("the same chunk recorded concurrently under one token is counted "
          "once") {
  test_database db;
  sql q{db};
  std::vector<std::string> ids;
  for (int i = 0; i < 200; ++i)
    ids.push_back("act-" + std::to_string(1000 + i));
  lease_ref lease;
  {
    auto store = make_store(db);
    lease = started(store, ids);
  }
  std::vector<persistence::item_result_row> chunk;
  for (std::size_t i = 0; i < ids.size(); ++i)
    chunk.push_back(
        i % 7 == 0 ? failed_row(ids[i], "unit_mismatch")
                   : ok_row(ids[i], "0.00000" + std::to_string(1 + i % 9)));
  std::atomic<bool> go{false};
  std::atomic<std::int64_t> counted{0};
  std::vector<std::thread> workers;
  for (int w = 0; w < 6; ++w)
    workers.emplace_back([&] {
      auto store = make_store(db, "node-a");
      while (!go)
        std::this_thread::yield();
      auto out = store.record_chunk(lease, tenant_a, chunk);
      counted += out.succeeded + out.failed;
    });
  go = true;
  for (auto& t : workers)
    t.join();
  CHECK(counted == 200);
  CHECK(q.number("SELECT processed_activities FROM batch_jobs") == 200);
  CHECK(q.number("SELECT count(*) FROM batch_items WHERE attempts = 1") == 200);
  CHECK(q.truth("SELECT b.total_emissions_kg_co2e = (SELECT sum("
                "emissions_kg_co2e) FROM batch_items) FROM batch_jobs b"));
  CHECK(q.number("SELECT sum(items) FROM batch_chunk_log") == 200);
}

TEST_CASE("a failed item adds no emissions, so the batch total stays the sum "
          "of its items across a retry") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto lease = started(store, {"a1", "a2"});
  auto bad = failed_row("a2", "unit_mismatch");
  bad.emissions_kg_co2e = "7.5"; // a worker computed it, then failed the item
  auto out = store.record_chunk(lease, tenant_a, {ok_row("a1", "1"), bad});
  CHECK(out.emissions_kg_co2e == "1");
  CHECK(store.finish(lease, finish_kind::done).total_emissions_kg_co2e == "1");
  auto retried = store.retry(tenant_a, lease.batch_id);
  CHECK(retried.total_emissions_kg_co2e == "1");
  CHECK(q.truth("SELECT b.total_emissions_kg_co2e = (SELECT coalesce(sum("
                "emissions_kg_co2e), 0) FROM batch_items) FROM batch_jobs b"));
}

TEST_CASE("owner_of names a batch's tenant, and an unknown or malformed id "
          "is not_found") {
  test_database db;
  auto store = make_store(db);
  auto b = store.submit(request(tenant_b, {"x"})).batch;
  CHECK(store.owner_of(b.id) == tenant_b);
  CHECK(errc_of([&] {
          store.owner_of("00000000-0000-0000-0000-000000000000");
        }) == engine_errc::not_found);
  CHECK(errc_of([&] { store.owner_of("nope"); }) == engine_errc::not_found);
}

TEST_CASE("the last chunk can finish the batch in the same transaction") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto lease = started(store, {"a1", "a2"});
  auto first = store.record_chunk(lease, tenant_a, {ok_row("a1", "1.5")});
  CHECK_FALSE(first.finished);
  auto last = store.record_chunk(lease, tenant_a, {ok_row("a2", "2.25")}, true);
  REQUIRE(last.finished);
  CHECK(last.finished->status == batch_status::completed);
  CHECK(last.finished->total_emissions_kg_co2e == "3.75");
  CHECK(last.finished->completed_at);
  CHECK(q.text("SELECT status FROM batch_jobs") == "completed");
  // The lease is gone with the end: a late write is refused.
  CHECK(errc_of([&] {
          store.record_chunk(lease, tenant_a, {ok_row("a2", "9")}, true);
        }) == engine_errc::lease_lost);

  // A last chunk with a failed item ends the batch failed.
  auto lease2 = started(store, {"b1"});
  auto out = store.record_chunk(lease2, tenant_a,
                                {failed_row("b1", "no_emission_factor")}, true);
  REQUIRE(out.finished);
  CHECK(out.finished->status == batch_status::failed);
  CHECK(out.finished->error);
}

TEST_CASE("a cancel requested before the last chunk is recorded ends the batch "
          "cancelled, keeping the recorded results") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto lease = started(store, {"a1", "a2"});
  auto rows = store.resolve_chunk(lease, tenant_a, "", 500);
  REQUIRE(rows.size() == 2);
  // The user's cancel lands between resolve and the final record: 202.
  auto c = store.cancel(tenant_a, lease.batch_id);
  REQUIRE_FALSE(c.immediate);
  REQUIRE(c.batch.cancel_requested);

  auto out = store.record_chunk(
      lease, tenant_a, {ok_row("a1", "1.5"), ok_row("a2", "2.25")}, true);
  CHECK(out.cancel_requested);
  REQUIRE(out.finished);
  CHECK(out.finished->status == batch_status::cancelled);
  CHECK_FALSE(out.finished->error);
  CHECK(out.finished->completed_at);
  // The results recorded with the last chunk are kept.
  CHECK(out.finished->succeeded_activities == 2);
  CHECK(out.finished->total_emissions_kg_co2e == "3.75");
  auto b = store.get(tenant_a, lease.batch_id);
  CHECK(b.status == batch_status::cancelled);
  CHECK(b.succeeded_activities == 2);
  CHECK(all_items(store, tenant_a, lease.batch_id, item_status::succeeded)
            .size() == 2);
  CHECK(errc_of([&] { store.finish(lease, finish_kind::done); }) ==
        engine_errc::lease_lost);
}

TEST_CASE("a batch a user asked to cancel ends cancelled whatever the worker "
          "finishes it as") {
  test_database db;
  auto store = make_store(db);
  for (auto kind : {finish_kind::done, finish_kind::failed}) {
    auto lease = started(store, {"a1", "a2"});
    store.record_chunk(lease, tenant_a,
                       {ok_row("a1", "1"), failed_row("a2", "unit_mismatch")});
    REQUIRE_FALSE(store.cancel(tenant_a, lease.batch_id).immediate);
    auto b = store.finish(lease, kind, "internal error");
    CHECK(b.status == batch_status::cancelled);
    CHECK_FALSE(b.error);
    CHECK(b.succeeded_activities == 1);
    CHECK(b.failed_activities == 1);
  }
}
