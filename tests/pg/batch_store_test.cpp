// The batch store's user-side methods against a real PostgreSQL: submit, get,
// list, items, cancel/retry/delete from every status, activities, factors,
// nodes and health.
#include "persistence/batch_store.hpp"

#include <algorithm>
#include <set>

#include "domain/exact_json.hpp"
#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;

TEST_CASE("submit writes the batch with its fields and one pending item per "
          "activity") {
  test_database db;
  auto store = make_store(db);
  sql q{db};

  auto req = request(tenant_a, {"elec-2", "elec-1", "gas-9"}, 7, 2);
  req.metadata_json = R"({"source":"erp","tags":["a","b"],"n":1.5,"x":null})";
  auto out = store.submit(req);
  const auto& b = out.batch;

  CHECK_FALSE(out.replayed);
  CHECK(b.id.size() == 36);
  CHECK(b.owner == tenant_a);
  CHECK(b.status == batch_status::pending);
  CHECK(b.priority == 7);
  CHECK(b.max_retries == 2);
  CHECK(b.retry_count == 0);
  CHECK(b.total_activities == 3);
  CHECK(b.processed_activities == 0);
  CHECK(b.succeeded_activities == 0);
  CHECK(b.failed_activities == 0);
  CHECK(b.total_emissions_kg_co2e == "0");
  CHECK_FALSE(b.cancel_requested);
  CHECK_FALSE(b.error);
  CHECK_FALSE(b.idempotency_key);
  // Numbers come back with their digits (1.5 as "1.5", not a double).
  CHECK(ogf::domain::dump_exact(b.metadata) ==
        R"({"n":1.5,"source":"erp","tags":["a","b"],"x":null})");
  CHECK(b.created_at > 0);
  CHECK_FALSE(b.started_at);
  CHECK_FALSE(b.completed_at);

  // Durable and identical when read back.
  auto again = make_store(db).get(tenant_a, b.id);
  CHECK(again.metadata == b.metadata);
  CHECK(again.created_at == b.created_at);
  CHECK(again.priority == 7);

  auto items = all_items(store, tenant_a, b.id);
  REQUIRE(items.size() == 3);
  CHECK(items[0].activity_id == "elec-1");
  CHECK(items[1].activity_id == "elec-2");
  CHECK(items[2].activity_id == "gas-9");
  for (const auto& it : items) {
    CHECK(it.status == item_status::pending);
    CHECK(it.attempts == 0);
    CHECK_FALSE(it.emissions_kg_co2e);
    CHECK_FALSE(it.processed_at);
  }
  CHECK(q.number("SELECT count(*) FROM batch_items") == 3);
}

TEST_CASE("a batch is not found for another tenant, another workspace or a "
          "malformed id") {
  test_database db;
  auto store = make_store(db);
  auto b = store.submit(request(tenant_a, {"x"})).batch;

  CHECK(store.get(tenant_a, b.id).id == b.id);
  CHECK(errc_of([&] { store.get(tenant_b, b.id); }) == engine_errc::not_found);
  CHECK(errc_of([&] { store.get(tenant_a2, b.id); }) == engine_errc::not_found);
  CHECK(errc_of([&] { store.get(tenant_a, "not-a-uuid"); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] { store.get(tenant_a, ""); }) == engine_errc::not_found);
  CHECK(errc_of([&] { store.get(tenant_a, b.id + "0"); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] {
          store.get(tenant_a, "00000000-0000-0000-0000-000000000000");
        }) == engine_errc::not_found);
  // Every other id-taking user method scopes the same way.
  CHECK(errc_of([&] { store.items(tenant_b, b.id, {}); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] { store.items(tenant_a, "nope", {}); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] { store.cancel(tenant_b, b.id); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] { store.retry(tenant_b, b.id); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] { store.remove(tenant_b, b.id); }) ==
        engine_errc::not_found);
  CHECK(errc_of([&] {
          store.remove(tenant_a, "'; DROP TABLE batch_jobs; --");
        }) == engine_errc::not_found);
  // ...and changes nothing of the owner's batch.
  CHECK(store.get(tenant_a, b.id).status == batch_status::pending);
}

TEST_CASE("list filters by status set, priority and created range, newest "
          "first, and never shows another tenant's batches") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // Six batches of tenant a, one per status, created one minute apart, with
  // priorities 1..6; and one of tenant b.
  std::vector<std::string> ids;
  int minute = 0;
  for (auto st : every_status) {
    auto id = store.submit(request(tenant_a, {"x"}, minute + 1)).batch.id;
    q.exec(std::string("UPDATE batch_jobs SET status = '") +
           domain::to_string(st) +
           "', created_at = timestamptz "
           "'2026-03-01 10:00:00+00' + interval '1 minute' * " +
           std::to_string(minute) + " WHERE id = '" + id + "'");
    ids.push_back(id);
    ++minute;
  }
  store.submit(request(tenant_b, {"x"}, 1));
  auto us = [&](int minute) {
    return q.number("SELECT (extract(epoch FROM timestamptz "
                    "'2026-03-01 10:00:00+00' + interval '1 minute' * " +
                    std::to_string(minute) + ") * 1000000)::bigint");
  };
  auto listed = [&](const domain::batch_filter& f) {
    std::vector<std::string> out;
    for (const auto& b : store.list(tenant_a, f).batches)
      out.push_back(b.id);
    return out;
  };

  domain::batch_filter all;
  all.limit = 100;
  CHECK(listed(all) == std::vector<std::string>{ids[5], ids[4], ids[3], ids[2],
                                                ids[1], ids[0]});

  auto by_status = all;
  by_status.statuses = {batch_status::failed, batch_status::pending};
  CHECK(listed(by_status) == std::vector<std::string>{ids[4], ids[0]});
  by_status.statuses = {batch_status::queued};
  CHECK(listed(by_status) == std::vector<std::string>{ids[1]});

  auto by_priority = all;
  by_priority.priority = 3;
  CHECK(listed(by_priority) == std::vector<std::string>{ids[2]});
  by_priority.priority = 9;
  CHECK(listed(by_priority).empty());

  auto range = all;
  range.created_after = us(1);  // exclusive
  range.created_before = us(4); // exclusive
  CHECK(listed(range) == std::vector<std::string>{ids[3], ids[2]});

  auto combined = range;
  combined.statuses = {batch_status::completed, batch_status::queued};
  CHECK(listed(combined) == std::vector<std::string>{ids[3]});

  // created_at read back is the microsecond value that was written.
  CHECK(store.get(tenant_a, ids[2]).created_at == us(2));

  CHECK(store.list(tenant_b, all).batches.size() == 1);
  CHECK(store.list(tenant_a2, all).batches.empty());
}

TEST_CASE("keyset pages walk every batch exactly once while new batches "
          "arrive between pages") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // 1,000 batches with microsecond-distinct created_at, in groups of three
  // sharing a created_at so the id tie-break is exercised.
  q.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
         " created_at) SELECT 'org-a', 'ws-1', 0, timestamptz "
         "'2026-01-01 00:00:00.000001+00' + (g / 3) * interval '7 "
         "microseconds' FROM generate_series(1, 1000) g");
  std::set<std::string> initial;
  {
    pqxx::work tx{q.connection()};
    for (const auto& r : tx.exec("SELECT id::text FROM batch_jobs"))
      initial.insert(r[0].as<std::string>());
  }
  REQUIRE(initial.size() == 1000);

  domain::batch_filter f;
  f.limit = 7;
  std::vector<domain::batch> seen;
  int pages = 0;
  for (;;) {
    auto page = store.list(tenant_a, f);
    REQUIRE(page.batches.size() <= 7);
    seen.insert(seen.end(), page.batches.begin(), page.batches.end());
    ++pages;
    // A newer batch arrives between every two pages.
    store.submit(request(tenant_a, {"late"}));
    if (!page.next)
      break;
    f.after = page.next;
    REQUIRE(pages < 1000);
  }

  std::set<std::string> unique;
  for (const auto& b : seen)
    CHECK(unique.insert(b.id).second); // no duplicates
  for (const auto& id : initial)
    CHECK(unique.count(id) == 1); // none missing
  for (std::size_t i = 1; i < seen.size(); ++i) {
    const auto& prev = seen[i - 1];
    const auto& cur = seen[i];
    CHECK((prev.created_at > cur.created_at ||
           (prev.created_at == cur.created_at && prev.id > cur.id)));
  }
  // Only the first page could have seen a late batch.
  CHECK(seen.size() <= initial.size() + 1);
}

TEST_CASE("offset pages give the same order as keyset pages") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  q.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities,"
         " created_at) SELECT 'org-a', 'ws-1', 0, timestamptz "
         "'2026-01-01+00' + (g / 2) * interval '1 second' "
         "FROM generate_series(1, 100) g");
  domain::batch_filter keyset;
  keyset.limit = 100;
  auto expected = store.list(tenant_a, keyset).batches;
  REQUIRE(expected.size() == 100);
  CHECK_FALSE(store.list(tenant_a, keyset).next);

  std::vector<std::string> by_offset;
  domain::batch_filter f;
  f.limit = 7;
  for (f.offset = 0; f.offset < 110; f.offset += 7) {
    auto page = store.list(tenant_a, f);
    for (const auto& b : page.batches)
      by_offset.push_back(b.id);
    CHECK(page.next.has_value() == (f.offset + 7 < 100));
  }
  REQUIRE(by_offset.size() == 100);
  for (std::size_t i = 0; i < 100; ++i)
    CHECK(by_offset[i] == expected[i].id);

  f.offset = 1000;
  CHECK(store.list(tenant_a, f).batches.empty());
}

TEST_CASE("a malformed page token is a validation error") {
  test_database db;
  auto store = make_store(db);
  domain::batch_filter f;
  f.after = std::make_pair(std::int64_t{1}, std::string("not-a-uuid"));
  CHECK(errc_of([&] { store.list(tenant_a, f); }) == engine_errc::validation);
}

TEST_CASE("items page by activity id and filter by status") {
  test_database db;
  auto store = make_store(db);
  std::vector<std::string> ids;
  for (int i = 0; i < 25; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "a%02d", 24 - i); // submitted in reverse
    ids.push_back(buf);
  }
  auto req = request(tenant_a, ids, 10);
  auto b = store.submit(req).batch;
  auto c = store.claim(1, 60s).at(0);
  persistence::lease_ref lease{b.id, c.token};
  REQUIRE(store.start(lease));
  // Even items succeed, every third fails.
  std::vector<persistence::item_result_row> results;
  for (int i = 0; i < 25; ++i) {
    char buf[8];
    std::snprintf(buf, sizeof buf, "a%02d", i);
    if (i % 2 == 0)
      results.push_back(ok_row(buf, std::to_string(i) + ".5"));
    else if (i % 3 == 0)
      results.push_back(failed_row(buf, "unit_mismatch"));
  }
  store.record_chunk(lease, tenant_a, results);

  domain::item_filter f;
  f.limit = 4;
  std::vector<std::string> walked;
  for (;;) {
    auto page = store.items(tenant_a, b.id, f);
    CHECK(page.items.size() <= 4);
    for (const auto& it : page.items)
      walked.push_back(it.activity_id);
    if (!page.next_after)
      break;
    f.after_activity_id = page.next_after;
  }
  auto sorted = ids;
  std::sort(sorted.begin(), sorted.end());
  CHECK(walked == sorted);

  auto ok = all_items(store, tenant_a, b.id, item_status::succeeded);
  REQUIRE(ok.size() == 13);
  CHECK(ok[0].activity_id == "a00");
  CHECK(ok[1].activity_id == "a02");
  CHECK(ok[1].emissions_kg_co2e == std::optional<std::string>("2.5"));
  CHECK(ok[1].factor_id == std::optional<std::string>("f1"));
  CHECK(ok[1].scope == std::optional<int>(1));
  CHECK(ok[1].attempts == 1);
  CHECK(ok[1].processed_at.has_value());
  CHECK_FALSE(ok[1].error);

  auto bad = all_items(store, tenant_a, b.id, item_status::failed);
  REQUIRE(bad.size() == 4); // 3, 9, 15, 21
  CHECK(bad[0].activity_id == "a03");
  CHECK(bad[0].error == std::optional<std::string>("unit_mismatch"));
  CHECK_FALSE(bad[0].emissions_kg_co2e);

  auto pending = all_items(store, tenant_a, b.id, item_status::pending);
  CHECK(pending.size() == 8);

  domain::item_filter two_failed;
  two_failed.status = item_status::failed;
  two_failed.limit = 2;
  auto p1 = store.items(tenant_a, b.id, two_failed);
  REQUIRE(p1.next_after == std::optional<std::string>("a09"));
  two_failed.after_activity_id = p1.next_after;
  auto p2 = store.items(tenant_a, b.id, two_failed);
  REQUIRE(p2.items.size() == 2);
  CHECK(p2.items[0].activity_id == "a15");
  CHECK_FALSE(p2.next_after);
}

TEST_CASE("cancel ends pending and queued batches at once, asks processing "
          "ones to stop, and refuses terminal ones") {
  auto status = GENERATE(from_range(every_status));
  DYNAMIC_SECTION("from " << domain::to_string(status)) {
    test_database db;
    auto store = make_store(db);
    sql q{db};
    auto d = drive_to(store, status);
    auto before = q.snapshot(d.id);

    switch (status) {
    case batch_status::pending:
    case batch_status::queued: {
      auto out = store.cancel(tenant_a, d.id);
      CHECK(out.immediate);
      CHECK(out.batch.status == batch_status::cancelled);
      CHECK(out.batch.completed_at.has_value());
      auto b = store.get(tenant_a, d.id);
      CHECK(b.status == batch_status::cancelled);
      // A cancelled batch is never claimed, and a queued one's holder can
      // no longer start it.
      CHECK(store.claim(10, 60s).empty());
      if (status == batch_status::queued) {
        CHECK_FALSE(store.start(d.lease));
        CHECK(q.text("SELECT coalesce(lease_owner, '') FROM batch_jobs") == "");
      }
      CHECK(store.queue_depth() == 0);
      break;
    }
    case batch_status::processing: {
      auto out = store.cancel(tenant_a, d.id);
      CHECK_FALSE(out.immediate);
      CHECK(out.batch.status == batch_status::processing);
      CHECK(out.batch.cancel_requested);
      CHECK_FALSE(out.batch.completed_at);
      // The worker learns it on its next renewal and still holds the lease.
      auto renewed = store.renew({d.lease}, 60s);
      CHECK(renewed.lost.empty());
      CHECK(renewed.cancel_requested == std::vector<std::string>{d.id});
      auto done = store.finish(d.lease, persistence::finish_kind::cancelled);
      CHECK(done.status == batch_status::cancelled);
      break;
    }
    default: {
      CHECK(errc_of([&] { store.cancel(tenant_a, d.id); }) ==
            engine_errc::invalid_state);
      CHECK(q.snapshot(d.id) == before);
      break;
    }
    }
  }
}

TEST_CASE("retry takes failed and cancelled batches back to pending, keeping "
          "succeeded results, and refuses every other status") {
  auto status = GENERATE(from_range(every_status));
  DYNAMIC_SECTION("from " << domain::to_string(status)) {
    test_database db;
    auto store = make_store(db);
    sql q{db};
    auto d = drive_to(store, status);
    auto before_batch = store.get(tenant_a, d.id);
    auto before = q.snapshot(d.id);

    if (status == batch_status::failed || status == batch_status::cancelled) {
      auto b = store.retry(tenant_a, d.id);
      CHECK(b.status == batch_status::pending);
      CHECK(b.retry_count == before_batch.retry_count + 1);
      CHECK(b.succeeded_activities == 1);
      CHECK(b.failed_activities == 0);
      CHECK(b.processed_activities == 1);
      CHECK(b.total_emissions_kg_co2e == "1.5");
      CHECK_FALSE(b.cancel_requested);
      CHECK_FALSE(b.error);
      CHECK_FALSE(b.completed_at);
      CHECK(b.metadata == before_batch.metadata);

      auto items = all_items(store, tenant_a, d.id);
      REQUIRE(items.size() == 3);
      CHECK(items[0].status == item_status::succeeded);
      CHECK(items[0].emissions_kg_co2e == std::optional<std::string>("1.5"));
      CHECK(items[1].status == item_status::pending);
      CHECK_FALSE(items[1].error);
      CHECK(items[2].status == item_status::pending);

      // Claimable again at once; the next attempt processes only the rest.
      auto c = store.claim(1, 60s);
      REQUIRE(c.size() == 1);
      persistence::lease_ref lease{d.id, c[0].token};
      CHECK(lease.token > d.lease.token);
      REQUIRE(store.start(lease));
      auto chunk = store.resolve_chunk(lease, tenant_a, "", 100);
      REQUIRE(chunk.size() == 2);
      CHECK(chunk[0].activity_id == "a2");
      CHECK(chunk[1].activity_id == "a3");
      store.record_chunk(lease, tenant_a,
                         {ok_row("a2", "2.25"), ok_row("a3", "3")});
      auto done = store.finish(lease, persistence::finish_kind::done);
      CHECK(done.status == batch_status::completed);
      CHECK(done.succeeded_activities == 3);
      CHECK(done.total_emissions_kg_co2e == "6.75");
      CHECK(done.retry_count == 1);
    } else {
      CHECK(errc_of([&] { store.retry(tenant_a, d.id); }) ==
            engine_errc::invalid_state);
      CHECK(q.snapshot(d.id) == before);
    }
  }
}

TEST_CASE("delete removes pending and terminal batches with their items and "
          "refuses queued and processing ones") {
  auto status = GENERATE(from_range(every_status));
  DYNAMIC_SECTION("from " << domain::to_string(status)) {
    test_database db;
    auto store = make_store(db);
    sql q{db};
    auto d = drive_to(store, status);
    auto keep = store.submit(request(tenant_a, {"k1", "k2"}, 1)).batch;
    auto before = q.snapshot(d.id);

    if (status == batch_status::queued || status == batch_status::processing) {
      CHECK(errc_of([&] { store.remove(tenant_a, d.id); }) ==
            engine_errc::invalid_state);
      CHECK(q.snapshot(d.id) == before);
    } else {
      store.remove(tenant_a, d.id);
      CHECK(errc_of([&] { store.get(tenant_a, d.id); }) ==
            engine_errc::not_found);
      // The tables themselves, not the batch_items view (which joins the
      // batch): ids and results have no foreign key to cascade them.
      CHECK(q.number("SELECT count(*) FROM batch_item_ids WHERE batch_id = '" +
                     d.id + "'") == 0);
      CHECK(q.number("SELECT count(*) FROM batch_results WHERE batch_id = '" +
                     d.id + "'") == 0);
      CHECK(q.number("SELECT count(*) FROM batch_chunk_log WHERE batch_id = '" +
                     d.id + "'") == 0);
      CHECK(errc_of([&] { store.remove(tenant_a, d.id); }) ==
            engine_errc::not_found);
    }
    // Other batches are untouched.
    CHECK(all_items(store, tenant_a, keep.id).size() == 2);
  }
}

namespace {

domain::activity make_activity(std::string id, std::string type,
                               std::string quantity, std::string unit,
                               std::string region = "GLOBAL",
                               std::string start = "2024-01-01",
                               std::string end = "2024-12-31") {
  domain::activity a;
  a.id = std::move(id);
  a.activity_type = std::move(type);
  a.quantity = std::move(quantity);
  a.unit = std::move(unit);
  a.region = std::move(region);
  a.period_start = std::move(start);
  a.period_end = std::move(end);
  return a;
}

} // namespace

TEST_CASE("activities upsert by tenant-scoped id and read back exactly") {
  test_database db;
  auto store = make_store(db);
  auto a = make_activity("meter-1", "electricity", "1234.567890123", "kWh",
                         "US-CA", "2024-01-01", "2024-01-31");
  a.metadata = {{"site", "plant 7"}, {"n", 3}};
  auto b = make_activity("truck-1", "diesel", "0", "L");
  CHECK(store.upsert_activities(tenant_a, {a, b}) == 2);

  auto got = store.get_activity(tenant_a, "meter-1");
  CHECK(got.id == "meter-1");
  CHECK(got.activity_type == "electricity");
  CHECK(got.quantity == "1234.567890123");
  CHECK(got.unit == "kWh");
  CHECK(got.region == "US-CA");
  CHECK(got.period_start == "2024-01-01");
  CHECK(got.period_end == "2024-01-31");
  CHECK(got.metadata == a.metadata);
  CHECK_FALSE(got.emissions_kg_co2e);
  CHECK_FALSE(got.calculated_at);

  // Same id, other tenant: a different activity; reads are scoped.
  CHECK(errc_of([&] { store.get_activity(tenant_b, "meter-1"); }) ==
        engine_errc::not_found);
  auto other = make_activity("meter-1", "natural_gas", "5", "m3");
  CHECK(store.upsert_activities(tenant_b, {other}) == 1);
  CHECK(store.get_activity(tenant_b, "meter-1").activity_type == "natural_gas");
  CHECK(store.get_activity(tenant_a, "meter-1").activity_type == "electricity");

  // Upserting again replaces the fields.
  a.quantity = "10";
  a.unit = "MWh";
  CHECK(store.upsert_activities(tenant_a, {a}) == 1);
  got = store.get_activity(tenant_a, "meter-1");
  CHECK(got.quantity == "10");
  CHECK(got.unit == "MWh");

  // Invalid rows write nothing (all-or-nothing).
  auto bad_unit = make_activity("zz-1", "electricity", "1", "furlong");
  auto fine = make_activity("zz-2", "electricity", "1", "kWh");
  CHECK(errc_of([&] {
          store.upsert_activities(tenant_a, {fine, bad_unit});
        }) == engine_errc::validation);
  auto negative = make_activity("zz-3", "electricity", "-1", "kWh");
  CHECK(errc_of([&] {
          store.upsert_activities(tenant_a, {fine, negative});
        }) == engine_errc::validation);
  auto bad_date = make_activity("zz-4", "electricity", "1", "kWh", "GLOBAL",
                                "2024-13-01", "2024-12-31");
  CHECK(errc_of([&] {
          store.upsert_activities(tenant_a, {fine, bad_date});
        }) == engine_errc::validation);
  CHECK(errc_of([&] { store.get_activity(tenant_a, "zz-2"); }) ==
        engine_errc::not_found);
}

TEST_CASE("a processed activity carries its latest result") {
  test_database db;
  auto store = make_store(db);
  store.upsert_activities(tenant_a, {make_activity("a1", "diesel", "2", "L")});
  // Same activity id in another tenant and another workspace.
  store.upsert_activities(tenant_b, {make_activity("a1", "diesel", "2", "L")});
  store.upsert_activities(tenant_a2, {make_activity("a1", "diesel", "2", "L")});
  auto b = store.submit(request(tenant_a, {"a1"})).batch;
  auto c = store.claim(1, 60s).at(0);
  persistence::lease_ref lease{b.id, c.token};
  REQUIRE(store.start(lease));
  auto resolved = store.resolve_chunk(lease, tenant_a, "", 10);
  REQUIRE(resolved.size() == 1);
  auto row = ok_row("a1", "5.360000", "diesel-l", 1);
  row.activity_version = resolved[0].activity_version;
  store.record_chunk(lease, tenant_a, {row});
  auto a = store.get_activity(tenant_a, "a1");
  CHECK(a.emissions_kg_co2e == std::optional<std::string>("5.360000"));
  CHECK(a.factor_id == std::optional<std::string>("diesel-l"));
  CHECK(a.scope == std::optional<int>(1));
  CHECK(a.calculated_at.has_value());
  CHECK_FALSE(store.get_activity(tenant_b, "a1").emissions_kg_co2e);
  CHECK_FALSE(store.get_activity(tenant_a2, "a1").emissions_kg_co2e);
  // Changing the activity clears the stale result.
  store.upsert_activities(tenant_a, {make_activity("a1", "diesel", "3", "L")});
  CHECK_FALSE(store.get_activity(tenant_a, "a1").emissions_kg_co2e);
}

namespace {

domain::emission_factor make_factor(std::string id, std::string type,
                                    std::string unit, std::string value,
                                    std::string region = "GLOBAL",
                                    std::string from = "2020-01-01",
                                    int scope = 1) {
  domain::emission_factor f;
  f.id = std::move(id);
  f.activity_type = std::move(type);
  f.unit = std::move(unit);
  f.kg_co2e_per_unit = std::move(value);
  f.region = std::move(region);
  f.valid_from = std::move(from);
  f.scope = scope;
  f.source = "test";
  f.builtin = false;
  return f;
}

} // namespace

TEST_CASE("a tenant's factor may share a built-in id without changing the "
          "built-in row, and is visible only to that tenant") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // Replace the shipped built-in set (migration 002) by two known rows.
  q.exec("DELETE FROM emission_factors");
  q.exec("INSERT INTO emission_factors (id, activity_type, scope, region,"
         " unit, kg_co2e_per_unit, valid_from, source) VALUES"
         " ('grid-us', 'electricity', 2, 'US', 'kWh', 0.385, '2023-01-01',"
         "  'EPA eGRID'),"
         " ('diesel-l', 'diesel', 1, 'GLOBAL', 'L', 2.68, '2023-01-01',"
         "  'DEFRA')");
  auto before = q.text("SELECT json_agg(f ORDER BY id)::text FROM "
                       "emission_factors f WHERE org_id IS NULL");

  auto own = make_factor("grid-us", "electricity", "MWh", "400.5", "US",
                         "2024-01-01", 2);
  CHECK(store.upsert_factors(tenant_a, {own}) == 1);
  CHECK(q.text("SELECT json_agg(f ORDER BY id)::text FROM emission_factors f "
               "WHERE org_id IS NULL") == before);

  auto mine = store.list_factors(tenant_a, std::nullopt);
  REQUIRE(mine.size() == 3);
  // Ordered by activity type, built-in first, then id.
  CHECK(mine[0].id == "diesel-l");
  CHECK(mine[0].builtin);
  CHECK(mine[1].id == "grid-us");
  CHECK(mine[1].builtin);
  CHECK(mine[1].unit == "kWh");
  CHECK(mine[1].kg_co2e_per_unit == "0.385");
  CHECK(mine[1].source == "EPA eGRID");
  CHECK(mine[2].id == "grid-us");
  CHECK_FALSE(mine[2].builtin);
  CHECK(mine[2].unit == "MWh");
  CHECK(mine[2].kg_co2e_per_unit == "400.5");
  CHECK(mine[2].valid_from == "2024-01-01");
  CHECK(mine[2].scope == 2);
  CHECK(mine[2].region == "US");

  auto electricity = store.list_factors(tenant_a, std::string("electricity"));
  CHECK(electricity.size() == 2);
  CHECK(store.list_factors(tenant_a, std::string("steam")).empty());

  // Other tenants see only the built-ins.
  CHECK(store.list_factors(tenant_b, std::nullopt).size() == 2);
  CHECK(store.list_factors(tenant_a2, std::nullopt).size() == 2);

  // Upsert by id replaces the tenant's own row only.
  own.kg_co2e_per_unit = "390";
  CHECK(store.upsert_factors(tenant_a, {own}) == 1);
  CHECK(q.text("SELECT kg_co2e_per_unit::text FROM emission_factors WHERE "
               "org_id = 'org-a' AND id = 'grid-us'") == "390");
  CHECK(q.number("SELECT count(*) FROM emission_factors") == 3);
  CHECK(q.text("SELECT json_agg(f ORDER BY id)::text FROM emission_factors f "
               "WHERE org_id IS NULL") == before);

  // All-or-nothing: one bad row (scope 4) writes nothing.
  auto good = make_factor("new-1", "steam", "GJ", "60");
  auto bad =
      make_factor("new-2", "steam", "GJ", "60", "GLOBAL", "2020-01-01", 4);
  CHECK(errc_of([&] {
          store.upsert_factors(tenant_a, {good, bad});
        }) == engine_errc::validation);
  CHECK(q.number("SELECT count(*) FROM emission_factors") == 3);
}

TEST_CASE("heartbeat records the node, ping measures a round trip and queue "
          "depth counts due pending batches") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.heartbeat("host-1", 42, "0.1.0");
  CHECK(q.text("SELECT host || ':' || pid || ':' || version FROM "
               "scheduler_nodes WHERE node_id = 'node-a'") ==
        "host-1:42:0.1.0");
  auto first = q.text("SELECT heartbeat_at::text FROM scheduler_nodes");
  q.exec("UPDATE scheduler_nodes SET heartbeat_at = heartbeat_at - "
         "interval '1 minute'");
  store.heartbeat("host-2", 43, "0.1.1");
  CHECK(q.number("SELECT count(*) FROM scheduler_nodes") == 1);
  CHECK(q.truth("SELECT heartbeat_at > now() - interval '10 seconds' AND host "
                "= 'host-2' AND pid = 43 FROM scheduler_nodes"));
  (void)first;

  auto latency = store.ping();
  CHECK(latency.count() >= 0);
  CHECK(latency < std::chrono::seconds(5));

  CHECK(store.queue_depth() == 0);
  store.submit(request(tenant_a, {"x"}));
  store.submit(request(tenant_b, {"x"}));
  auto later = store.submit(request(tenant_a, {"y"})).batch;
  CHECK(store.queue_depth() == 3);
  q.exec("UPDATE batch_jobs SET run_after = now() + interval '1 hour' WHERE "
         "id = '" +
         later.id + "'");
  CHECK(store.queue_depth() == 2);
  store.claim(1, 60s);
  CHECK(store.queue_depth() == 1);
}

TEST_CASE("an activity re-uploaded while its batch runs keeps no result "
          "computed from its old inputs") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a, {make_activity("a1", "diesel", "1", "L"),
                                     make_activity("a2", "diesel", "1", "L")});
  auto b = store.submit(request(tenant_a, {"a1", "a2"})).batch;
  auto c = store.claim(1, 60s).at(0);
  persistence::lease_ref lease{b.id, c.token};
  REQUIRE(store.start(lease));
  auto resolved = store.resolve_chunk(lease, tenant_a, "", 10);
  REQUIRE(resolved.size() == 2);
  CHECK(resolved[0].quantity == "1");
  CHECK(resolved[0].activity_version > 0);

  // a1 is uploaded again with another quantity after its inputs were read.
  store.upsert_activities(tenant_a, {make_activity("a1", "diesel", "2", "L")});
  std::vector<persistence::item_result_row> rows;
  for (const auto& r : resolved) {
    rows.push_back(ok_row(r.activity_id, "2.680000", "diesel-l", 1));
    rows.back().activity_version = r.activity_version;
  }
  auto out = store.record_chunk(lease, tenant_a, rows, true);
  CHECK(out.succeeded == 2);

  // a1 shows its new quantity and no result: the one computed from
  // quantity 1 is not passed off as the result of quantity 2.
  auto a1 = store.get_activity(tenant_a, "a1");
  CHECK(a1.quantity == "2");
  CHECK_FALSE(a1.emissions_kg_co2e);
  CHECK_FALSE(a1.calculated_at);
  CHECK_FALSE(a1.factor_id);
  // a2 did not change: it gets its result, calculated after its update.
  auto a2 = store.get_activity(tenant_a, "a2");
  CHECK(a2.emissions_kg_co2e == std::optional<std::string>("2.680000"));
  CHECK(q.truth("SELECT calculated_at >= updated_at FROM activities "
                "WHERE id = 'a2'"));
  // No activity anywhere carries a result older than its last change.
  CHECK(q.number("SELECT count(*) FROM activities "
                 "WHERE calculated_at < updated_at") == 0);
  // The batch item keeps the result of the inputs the batch read.
  auto items = all_items(store, tenant_a, b.id);
  REQUIRE(items.size() == 2);
  CHECK(items[0].emissions_kg_co2e == std::optional<std::string>("2.680000"));
  CHECK(store.get(tenant_a, b.id).total_emissions_kg_co2e == "5.360000");

  // The next batch computes it from the new inputs.
  auto b2 = store.submit(request(tenant_a, {"a1"})).batch;
  auto c2 = store.claim(1, 60s).at(0);
  persistence::lease_ref lease2{b2.id, c2.token};
  REQUIRE(store.start(lease2));
  auto again = store.resolve_chunk(lease2, tenant_a, "", 10);
  REQUIRE(again.size() == 1);
  CHECK(again[0].quantity == "2");
  CHECK(again[0].activity_version > resolved[0].activity_version);
  auto row = ok_row("a1", "5.360000", "diesel-l", 1);
  row.activity_version = again[0].activity_version;
  store.record_chunk(lease2, tenant_a, {row}, true);
  CHECK(store.get_activity(tenant_a, "a1").emissions_kg_co2e ==
        std::optional<std::string>("5.360000"));
}
