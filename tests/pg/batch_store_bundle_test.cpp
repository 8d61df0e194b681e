// Bundles at the store: many small batches claimed in one statement,
// resolved with one resolve_many and recorded (and ended) with one
// record_many, each batch still behind its own lease and fence; and the
// claim's guaranteed / item_budget limits that decide how many are taken.
#include "persistence/batch_store.hpp"

#include <atomic>
#include <map>
#include <set>
#include <thread>

#include "store_test_support.hpp"
#include "support/engine_helpers.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::batches_off_their_items;
using ogf::testing::test_database;
using persistence::batch_write;
using persistence::claim_mode;
using persistence::finish_kind;
using persistence::lease_ref;
using persistence::record_outcome;
using persistence::resolved_row;

namespace {

/// The built-in factor of electricity in the US (migration 002).
const std::string us_electricity = "epa2024-electricity-us";

/// An electricity activity in the US of `quantity` kWh: resolves to the
/// built-in factor 0.375294 kg/kWh.
domain::activity kwh(const std::string& id, const std::string& quantity) {
  domain::activity a;
  a.id = id;
  a.activity_type = "electricity";
  a.quantity = quantity;
  a.unit = "kWh";
  a.region = "US";
  a.period_start = "2025-01-01";
  a.period_end = "2025-01-31";
  return a;
}

/// Submits one batch per request (FIFO: all of priority 5), then claims
/// them all in one claim, started, as the engine's poller does. The leases
/// come back in submission order. Nothing else may be claimable.
std::vector<lease_ref>
bundle_of(batch_store& store,
          const std::vector<persistence::submit_request>& reqs) {
  std::vector<std::string> ids;
  for (const auto& r : reqs)
    ids.push_back(store.submit(r).batch.id);
  auto claimed =
      store.claim(static_cast<int>(reqs.size()) + 5, 60s, claim_mode::start);
  REQUIRE(claimed.size() == reqs.size());
  std::map<std::string, std::int64_t> token_of;
  for (const auto& c : claimed) {
    CHECK(c.started);
    token_of[c.batch_id] = c.token;
  }
  std::vector<lease_ref> out;
  for (const auto& id : ids) {
    REQUIRE(token_of.count(id) == 1);
    out.push_back({id, token_of[id]});
  }
  return out;
}

/// resolve_many's rows, grouped by batch: batch id -> rows in order.
std::map<std::string, std::vector<resolved_row>>
by_batch(const std::vector<resolved_row>& rows) {
  std::map<std::string, std::vector<resolved_row>> out;
  for (const auto& r : rows)
    out[r.batch_id].push_back(r);
  return out;
}

/// Rows of one batch are contiguous and in activity id order ("ordered by
/// batch, then activity id").
void check_grouped_and_ordered(const std::vector<resolved_row>& rows) {
  std::set<std::string> closed;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    INFO("row " << i << ": " << rows[i].batch_id << " / "
                << rows[i].activity_id);
    if (i > 0 && rows[i].batch_id == rows[i - 1].batch_id) {
      CHECK(rows[i - 1].activity_id < rows[i].activity_id);
    } else {
      if (i > 0)
        closed.insert(rows[i - 1].batch_id);
      CHECK(closed.count(rows[i].batch_id) == 0);
    }
  }
}

/// A write of `results` under `lease` that also ends the batch as done.
batch_write finishing(const lease_ref& lease,
                      std::vector<persistence::item_result_row> results) {
  batch_write w;
  w.lease = lease;
  w.results = std::move(results);
  w.finish = finish_kind::done;
  return w;
}

/// Same, without ending the batch.
batch_write recording(const lease_ref& lease,
                      std::vector<persistence::item_result_row> results) {
  batch_write w;
  w.lease = lease;
  w.results = std::move(results);
  return w;
}

/// An ok_row that carries the activity version resolve_many read, so the
/// activity's latest result is written too.
persistence::item_result_row ok_from(const resolved_row& r,
                                     const std::string& kg) {
  auto out = ok_row(r.activity_id, kg, r.factor_id.value_or("<none>"),
                    r.scope.value_or(0));
  out.activity_version = r.activity_version;
  return out;
}

std::int64_t chunk_log_rows(sql& q, const std::string& batch_id) {
  return q.number("SELECT count(*) FROM batch_chunk_log WHERE batch_id = " +
                  q.quote(batch_id) + "::uuid");
}

std::string status_of(sql& q, const std::string& batch_id) {
  return q.text("SELECT status FROM batch_jobs WHERE id = " +
                q.quote(batch_id) + "::uuid");
}

} // namespace

TEST_CASE("a bundle of small batches is resolved in one call and recorded "
          "and finished in one transaction, and recording it again counts "
          "nothing twice") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a,
                          {kwh("p1", "1"), kwh("p2", "2.5"), kwh("p3", "10"),
                           kwh("p4", "0.000001"), kwh("p5", "1234567")});
  // p1 is in two batches: each batch records its own result for it.
  auto leases = bundle_of(
      store, {request(tenant_a, {"p2", "p1"}), request(tenant_a, {"p3"}),
              request(tenant_a, {"p5", "p1", "p4"}), request(tenant_a, {})});

  auto rows = store.resolve_many(leases, 5);
  REQUIRE(rows.size() == 6);
  check_grouped_and_ordered(rows);
  auto per = by_batch(rows);
  CHECK(per.size() == 3); // the empty batch has no rows
  REQUIRE(per[leases[0].batch_id].size() == 2);
  REQUIRE(per[leases[1].batch_id].size() == 1);
  REQUIRE(per[leases[2].batch_id].size() == 3);
  std::map<std::string, std::string> quantity{{"p1", "1"},
                                              {"p2", "2.5"},
                                              {"p3", "10"},
                                              {"p4", "0.000001"},
                                              {"p5", "1234567"}};
  for (const auto& r : rows) {
    INFO(r.batch_id << " / " << r.activity_id);
    CHECK(r.found);
    CHECK(r.quantity == quantity[r.activity_id]);
    CHECK(r.unit == "kWh");
    CHECK(r.factor_id == std::optional<std::string>(us_electricity));
    CHECK(r.kg_co2e_per_unit == std::optional<std::string>("0.375294"));
    CHECK(r.activity_version > 0);
  }
  CHECK(per[leases[0].batch_id][0].activity_id == "p1");
  CHECK(per[leases[2].batch_id][2].activity_id == "p5");

  // Emissions as a processor would compute them (quantity × 0.375294).
  std::map<std::string, std::string> kg{{"p1", "0.375294"},
                                        {"p2", "0.938235"},
                                        {"p3", "3.75294"},
                                        {"p4", "0.000000375294"},
                                        {"p5", "463325.587698"}};
  std::vector<batch_write> writes;
  for (const auto& lease : leases) {
    std::vector<persistence::item_result_row> results;
    for (const auto& r : per[lease.batch_id])
      results.push_back(ok_from(r, kg[r.activity_id]));
    writes.push_back(finishing(lease, results));
  }
  auto outcomes = store.record_many(writes);
  REQUIRE(outcomes.size() == 4);
  const std::vector<std::string> totals{"1.313529", "3.75294",
                                        "463325.962992375294", "0"};
  const std::vector<std::int64_t> counts{2, 1, 3, 0};
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("batch " << i);
    const auto& out = outcomes[i];
    CHECK(out.batch_id == leases[i].batch_id);
    CHECK(out.held);
    CHECK(out.succeeded == counts[i]);
    CHECK(out.failed == 0);
    CHECK(out.emissions_kg_co2e == totals[i]);
    CHECK_FALSE(out.cancel_requested);
    REQUIRE(out.finished);
    CHECK(out.finished->id == leases[i].batch_id);
    CHECK(out.finished->status == batch_status::completed);
    CHECK_FALSE(out.finished->error);
    CHECK(out.finished->completed_at);
    CHECK(out.finished->processed_activities == counts[i]);
    CHECK(out.finished->succeeded_activities == counts[i]);
    CHECK(out.finished->total_emissions_kg_co2e == totals[i]);

    auto b = store.get(tenant_a, leases[i].batch_id);
    CHECK(b.status == batch_status::completed);
    CHECK(b.total_emissions_kg_co2e == totals[i]);
    CHECK(b.processed_activities == counts[i]);
    // The lease ended with the batch.
    CHECK(q.text("SELECT coalesce(lease_owner, '<none>') FROM batch_jobs "
                 "WHERE id = " +
                 q.quote(leases[i].batch_id) + "::uuid") == "<none>");
  }
  // One chunk log row per batch that had items, under its own token.
  for (std::size_t i = 0; i < 3; ++i) {
    INFO("batch " << i);
    CHECK(chunk_log_rows(q, leases[i].batch_id) == 1);
    CHECK(q.text("SELECT node_id || '@' || lease_token || ':' || items FROM "
                 "batch_chunk_log WHERE batch_id = " +
                 q.quote(leases[i].batch_id) + "::uuid") ==
          "node-a@" + std::to_string(leases[i].token) + ":" +
              std::to_string(counts[i]));
  }
  CHECK(chunk_log_rows(q, leases[3].batch_id) <= 1);
  // One result row per item, of attempt 0, under the batch's token.
  CHECK(q.number("SELECT count(*) FROM batch_results") == 6);
  CHECK(q.number("SELECT count(*) FROM batch_results r JOIN batch_jobs b ON "
                 "b.id = r.batch_id WHERE r.attempt = 0 AND r.status = "
                 "'succeeded' AND r.lease_token = b.lease_token") == 6);
  CHECK(q.number("SELECT count(*) FROM batch_items WHERE status = "
                 "'succeeded' AND attempts = 1") == 6);
  // The activities' latest results are the ones just recorded.
  CHECK(q.text("SELECT emissions_kg_co2e::text FROM activities WHERE id = "
               "'p5'") == "463325.587698");
  CHECK(batches_off_their_items(db) == 0);

  // The same bundle recorded again (a late duplicate): every lease ended
  // with its batch, so nothing is written and nothing counted twice.
  std::vector<std::string> before;
  for (const auto& l : leases)
    before.push_back(q.snapshot(l.batch_id));
  auto again = store.record_many(writes);
  REQUIRE(again.size() == 4);
  for (std::size_t i = 0; i < 4; ++i) {
    INFO("batch " << i);
    CHECK(again[i].batch_id == leases[i].batch_id);
    CHECK_FALSE(again[i].held);
    CHECK(again[i].succeeded == 0);
    CHECK(again[i].failed == 0);
    CHECK(again[i].emissions_kg_co2e == "0");
    CHECK_FALSE(again[i].finished);
    CHECK(q.snapshot(leases[i].batch_id) == before[i]);
  }
  CHECK(q.number("SELECT count(*) FROM batch_results") == 6);
  CHECK(store.resolve_many(leases, 5).empty());
}

TEST_CASE("a bundle recorded twice before it ends counts each item once") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a, {kwh("d1", "1"), kwh("d2", "2")});
  auto leases = bundle_of(
      store, {request(tenant_a, {"d1", "d2"}), request(tenant_a, {"d1"})});
  std::vector<batch_write> writes{
      recording(leases[0], {ok_row("d1", "0.1"), failed_row("d2", "x")}),
      recording(leases[1], {ok_row("d1", "0.2")})};

  auto first = store.record_many(writes);
  REQUIRE(first.size() == 2);
  CHECK(first[0].held);
  CHECK(first[0].succeeded == 1);
  CHECK(first[0].failed == 1);
  CHECK(first[0].emissions_kg_co2e == "0.1");
  CHECK_FALSE(first[0].finished);
  CHECK(first[1].succeeded == 1);
  CHECK(first[1].emissions_kg_co2e == "0.2");
  CHECK(status_of(q, leases[0].batch_id) == "processing");

  auto second = store.record_many(writes);
  REQUIRE(second.size() == 2);
  for (const auto& out : second) {
    CHECK(out.held); // still leased: written under the fence, nothing new
    CHECK(out.succeeded == 0);
    CHECK(out.failed == 0);
    CHECK(out.emissions_kg_co2e == "0");
  }
  // Nothing left pending, so a resolve gives nothing.
  CHECK(store.resolve_many(leases, 5).empty());
  // The items' sums in the chunk log are the items, however often written.
  CHECK(q.number("SELECT coalesce(sum(items), 0) FROM batch_chunk_log") == 3);

  // Ending the bundle needs no results.
  auto ended =
      store.record_many({finishing(leases[0], {}), finishing(leases[1], {})});
  REQUIRE(ended.size() == 2);
  REQUIRE(ended[0].finished);
  CHECK(ended[0].finished->status == batch_status::failed);
  CHECK(ended[0].finished->error ==
        std::optional<std::string>("1 of 2 activities failed"));
  CHECK(ended[0].finished->total_emissions_kg_co2e == "0.1");
  REQUIRE(ended[1].finished);
  CHECK(ended[1].finished->status == batch_status::completed);
  CHECK(ended[1].finished->total_emissions_kg_co2e == "0.2");
  CHECK(q.number("SELECT count(*) FROM batch_results") == 3);
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("resolve_many gives at most limit_per_batch pending items of each "
          "batch") {
  test_database db;
  auto store = make_store(db);
  std::vector<std::string> seven;
  for (int i = 0; i < 7; ++i)
    seven.push_back("m" + std::to_string(i));
  auto leases = bundle_of(
      store, {request(tenant_a, seven), request(tenant_a, {"n1", "n2"})});
  auto rows = store.resolve_many(leases, 5);
  check_grouped_and_ordered(rows);
  auto per = by_batch(rows);
  REQUIRE(per[leases[0].batch_id].size() == 5);
  CHECK(per[leases[0].batch_id].front().activity_id == "m0");
  CHECK(per[leases[0].batch_id].back().activity_id == "m4");
  CHECK(per[leases[1].batch_id].size() == 2);
  for (const auto& r : rows)
    CHECK_FALSE(r.found); // no such activities: resolved as not found

  // Recorded items are no longer pending: the next call gives the rest.
  store.record_many(
      {recording(leases[0], {failed_row("m0", "x"), failed_row("m1", "x")})});
  auto next = by_batch(store.resolve_many(leases, 5));
  REQUIRE(next[leases[0].batch_id].size() == 5);
  CHECK(next[leases[0].batch_id].front().activity_id == "m2");
  CHECK(next[leases[0].batch_id].back().activity_id == "m6");
  CHECK(store.resolve_many({}, 5).empty());
}

TEST_CASE("a batch of a bundle that a user cancels before the bundle is "
          "recorded ends cancelled and the others complete") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a, {kwh("c1", "1"), kwh("c2", "2"),
                                     kwh("c3", "3"), kwh("c4", "4")});
  auto leases =
      bundle_of(store, {request(tenant_a, {"c1", "c2"}),
                        request(tenant_a, {"c3"}), request(tenant_a, {"c4"})});
  auto per = by_batch(store.resolve_many(leases, 5));
  REQUIRE(per.size() == 3);

  // The user's cancel of a processing batch is a request (202).
  auto c = store.cancel(tenant_a, leases[1].batch_id);
  REQUIRE_FALSE(c.immediate);
  REQUIRE(c.batch.cancel_requested);

  std::vector<batch_write> writes{
      finishing(leases[0], {ok_row("c1", "0.5"), ok_row("c2", "0.25")}),
      finishing(leases[1], {ok_row("c3", "7")}),
      finishing(leases[2], {ok_row("c4", "0.125")})};

  SECTION("the cancel is heard only when the bundle is recorded") {
    auto outcomes = store.record_many(writes);
    REQUIRE(outcomes.size() == 3);
    CHECK(outcomes[1].batch_id == leases[1].batch_id);
    CHECK(outcomes[1].held);
    CHECK(outcomes[1].cancel_requested);
    REQUIRE(outcomes[1].finished);
    CHECK(outcomes[1].finished->status == batch_status::cancelled);
    CHECK_FALSE(outcomes[1].finished->error);
    // Whatever the bundle wrote for it, its counters say the same.
    CHECK(outcomes[1].finished->succeeded_activities == outcomes[1].succeeded);
    CHECK(outcomes[1].finished->total_emissions_kg_co2e ==
          outcomes[1].emissions_kg_co2e);
    for (std::size_t i : {0, 2}) {
      INFO("batch " << i);
      CHECK(outcomes[i].held);
      CHECK_FALSE(outcomes[i].cancel_requested);
      REQUIRE(outcomes[i].finished);
      CHECK(outcomes[i].finished->status == batch_status::completed);
    }
    CHECK(outcomes[0].finished->total_emissions_kg_co2e == "0.75");
    CHECK(outcomes[2].finished->total_emissions_kg_co2e == "0.125");
  }
  SECTION("the worker ends the cancelled batch alone, before the bundle is "
          "recorded") {
    auto ended = store.finish(leases[1], finish_kind::cancelled);
    CHECK(ended.status == batch_status::cancelled);
    auto before = q.snapshot(leases[1].batch_id);
    auto outcomes = store.record_many(writes);
    REQUIRE(outcomes.size() == 3);
    CHECK_FALSE(outcomes[1].held);
    CHECK(outcomes[1].succeeded == 0);
    CHECK_FALSE(outcomes[1].finished);
    CHECK(q.snapshot(leases[1].batch_id) == before);
    CHECK(outcomes[0].finished->status == batch_status::completed);
    CHECK(outcomes[0].finished->total_emissions_kg_co2e == "0.75");
    CHECK(outcomes[2].finished->status == batch_status::completed);
    CHECK(outcomes[2].finished->total_emissions_kg_co2e == "0.125");
  }
  CHECK(status_of(q, leases[0].batch_id) == "completed");
  CHECK(status_of(q, leases[1].batch_id) == "cancelled");
  CHECK(status_of(q, leases[2].batch_id) == "completed");
  CHECK(store.get(tenant_a, leases[1].batch_id).status ==
        batch_status::cancelled);
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("a batch of a bundle whose lease another node took over is left "
          "out of the bundle's writes and the others complete") {
  test_database db;
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  sql q{db};
  a.upsert_activities(tenant_a,
                      {kwh("l1", "1"), kwh("l2", "2"), kwh("l3", "3")});
  auto leases =
      bundle_of(a, {request(tenant_a, {"l1"}), request(tenant_a, {"l2", "l3"}),
                    request(tenant_a, {"l3"})});
  auto rows = a.resolve_many(leases, 5);
  REQUIRE(rows.size() == 4);

  // Node a stalls; the middle batch's lease runs out and node b takes it.
  const auto& lost = leases[1];
  q.expire_lease(lost.batch_id);
  auto taken = b.claim(5, 60s, claim_mode::start);
  REQUIRE(taken.size() == 1);
  CHECK(taken[0].batch_id == lost.batch_id);
  CHECK(taken[0].reclaimed);
  REQUIRE(taken[0].token > lost.token);
  lease_ref new_lease{lost.batch_id, taken[0].token};
  auto before = q.snapshot(lost.batch_id);

  // Node a's next resolve no longer sees it.
  auto again = by_batch(a.resolve_many(leases, 5));
  CHECK(again.count(lost.batch_id) == 0);
  CHECK(again[leases[0].batch_id].size() == 1);
  CHECK(again[leases[2].batch_id].size() == 1);

  auto outcomes = a.record_many(
      {finishing(leases[0], {ok_row("l1", "1.1")}),
       finishing(lost, {ok_row("l2", "2.2"), ok_row("l3", "3.3")}),
       finishing(leases[2], {ok_row("l3", "3.3")})});
  REQUIRE(outcomes.size() == 3);
  CHECK(outcomes[1].batch_id == lost.batch_id);
  CHECK_FALSE(outcomes[1].held);
  CHECK(outcomes[1].succeeded == 0);
  CHECK(outcomes[1].failed == 0);
  CHECK(outcomes[1].emissions_kg_co2e == "0");
  CHECK_FALSE(outcomes[1].finished);
  CHECK(q.snapshot(lost.batch_id) == before);
  CHECK(q.number("SELECT count(*) FROM batch_results WHERE batch_id = " +
                 q.quote(lost.batch_id) + "::uuid") == 0);
  for (std::size_t i : {0, 2}) {
    INFO("batch " << i);
    CHECK(outcomes[i].held);
    REQUIRE(outcomes[i].finished);
    CHECK(outcomes[i].finished->status == batch_status::completed);
  }
  CHECK(outcomes[0].finished->total_emissions_kg_co2e == "1.1");
  CHECK(outcomes[2].finished->total_emissions_kg_co2e == "3.3");

  // The new holder processes it normally, from scratch.
  auto its_rows = b.resolve_many({new_lease}, 5);
  REQUIRE(its_rows.size() == 2);
  auto done = b.record_many(
      {finishing(new_lease, {ok_row("l2", "2.5"), ok_row("l3", "3.5")})});
  REQUIRE(done.size() == 1);
  REQUIRE(done[0].finished);
  CHECK(done[0].finished->status == batch_status::completed);
  CHECK(done[0].finished->total_emissions_kg_co2e == "6.0"); // 2.5 + 3.5
  CHECK(q.text("SELECT string_agg(node_id || '@' || lease_token, ',') FROM "
               "batch_chunk_log WHERE batch_id = " +
               q.quote(lost.batch_id) + "::uuid") ==
        "node-b@" + std::to_string(new_lease.token));
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("a batch of a bundle whose items fail ends failed with its own "
          "error and counts, and the others complete") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a, {kwh("g1", "1"), kwh("g3", "3"),
                                     kwh("g4", "4"), kwh("g5", "5")});
  // An activity of a type no factor exists for.
  auto odd = kwh("g6", "6");
  odd.activity_type = "no_such_type";
  store.upsert_activities(tenant_a, {odd});
  auto leases = bundle_of(
      store, {request(tenant_a, {"g1", "g2"}), request(tenant_a, {"g3"}),
              request(tenant_a, {"g4", "g5"}), request(tenant_a, {"g6"}),
              request(tenant_a, {"g5"})});
  auto per = by_batch(store.resolve_many(leases, 5));
  REQUIRE(per[leases[0].batch_id].size() == 2);
  CHECK(per[leases[0].batch_id][0].found);
  CHECK_FALSE(per[leases[0].batch_id][1].found); // g2 does not exist
  REQUIRE(per[leases[3].batch_id].size() == 1);
  CHECK(per[leases[3].batch_id][0].found);
  CHECK_FALSE(per[leases[3].batch_id][0].factor_id);
  CHECK_FALSE(per[leases[3].batch_id][0].any_factor);

  auto fatal = finishing(leases[4], {ok_row("g5", "1.875")});
  fatal.finish = finish_kind::failed;
  fatal.finish_error = "processor crashed";
  auto outcomes = store.record_many(
      {finishing(leases[0], {ok_row("g1", "0.375294"),
                             failed_row("g2", "activity_not_found")}),
       finishing(leases[1], {ok_row("g3", "1.125882")}),
       // g5 was not computed: the batch cannot complete.
       finishing(leases[2], {ok_row("g4", "1.501176")}),
       finishing(leases[3], {failed_row("g6", "no_emission_factor")}), fatal});
  REQUIRE(outcomes.size() == 5);

  REQUIRE(outcomes[0].finished);
  CHECK(outcomes[0].succeeded == 1);
  CHECK(outcomes[0].failed == 1);
  CHECK(outcomes[0].emissions_kg_co2e == "0.375294");
  CHECK(outcomes[0].finished->status == batch_status::failed);
  CHECK(outcomes[0].finished->error ==
        std::optional<std::string>("1 of 2 activities failed"));
  CHECK(outcomes[0].finished->processed_activities == 2);
  CHECK(outcomes[0].finished->succeeded_activities == 1);
  CHECK(outcomes[0].finished->failed_activities == 1);
  CHECK(outcomes[0].finished->total_emissions_kg_co2e == "0.375294");

  REQUIRE(outcomes[1].finished);
  CHECK(outcomes[1].finished->status == batch_status::completed);
  CHECK(outcomes[1].finished->total_emissions_kg_co2e == "1.125882");

  REQUIRE(outcomes[2].finished);
  CHECK(outcomes[2].finished->status == batch_status::failed);
  CHECK(outcomes[2].finished->error ==
        std::optional<std::string>("not every activity was processed"));
  CHECK(outcomes[2].finished->processed_activities == 1);
  CHECK(outcomes[2].finished->total_emissions_kg_co2e == "1.501176");

  REQUIRE(outcomes[3].finished);
  CHECK(outcomes[3].failed == 1);
  CHECK(outcomes[3].finished->status == batch_status::failed);
  CHECK(outcomes[3].finished->error ==
        std::optional<std::string>("1 of 1 activities failed"));
  CHECK(outcomes[3].finished->total_emissions_kg_co2e == "0");

  REQUIRE(outcomes[4].finished);
  CHECK(outcomes[4].finished->status == batch_status::failed);
  CHECK(outcomes[4].finished->error ==
        std::optional<std::string>("processor crashed"));
  CHECK(outcomes[4].finished->succeeded_activities == 1);
  CHECK(outcomes[4].finished->total_emissions_kg_co2e == "1.875");

  auto items = all_items(store, tenant_a, leases[0].batch_id);
  REQUIRE(items.size() == 2);
  CHECK(items[1].activity_id == "g2");
  CHECK(items[1].status == item_status::failed);
  CHECK(items[1].error == std::optional<std::string>("activity_not_found"));
  CHECK_FALSE(items[1].emissions_kg_co2e);
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("a bundle mixing tenants resolves and records each batch against "
          "its own tenant's activities") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // The same ids in three tenants, with different quantities.
  store.upsert_activities(tenant_a, {kwh("x1", "1"), kwh("x2", "2")});
  store.upsert_activities(tenant_b,
                          {kwh("x1", "10"), kwh("x2", "20"), kwh("x3", "30")});
  store.upsert_activities(tenant_a2, {kwh("x1", "100"), kwh("x2", "200")});
  auto leases = bundle_of(store, {request(tenant_a, {"x1", "x2", "x3"}),
                                  request(tenant_b, {"x1", "x2", "x3"}),
                                  request(tenant_a2, {"x1", "x2"})});

  auto rows = store.resolve_many(leases, 5);
  REQUIRE(rows.size() == 8);
  check_grouped_and_ordered(rows);
  auto per = by_batch(rows);
  auto quantities = [&](const lease_ref& l) {
    std::vector<std::string> out;
    for (const auto& r : per[l.batch_id])
      out.push_back(r.found ? r.activity_id + "=" + r.quantity
                            : r.activity_id + "=<not found>");
    return out;
  };
  CHECK(quantities(leases[0]) ==
        std::vector<std::string>{"x1=1", "x2=2", "x3=<not found>"});
  CHECK(quantities(leases[1]) ==
        std::vector<std::string>{"x1=10", "x2=20", "x3=30"});
  CHECK(quantities(leases[2]) == std::vector<std::string>{"x1=100", "x2=200"});

  // Results as the processor would compute them from these inputs
  // (quantity × 0.375294); a missing activity fails.
  std::vector<batch_write> writes;
  for (const auto& l : leases) {
    std::vector<persistence::item_result_row> results;
    for (const auto& r : per[l.batch_id]) {
      if (!r.found) {
        results.push_back(failed_row(r.activity_id, "activity_not_found"));
        continue;
      }
      auto micro = std::stoll(r.quantity) * 375294;
      auto kg = std::to_string(micro / 1000000) + "." +
                std::string(6 - std::to_string(micro % 1000000).size(), '0') +
                std::to_string(micro % 1000000);
      results.push_back(ok_from(r, kg));
    }
    writes.push_back(finishing(l, results));
  }
  auto outcomes = store.record_many(writes);
  REQUIRE(outcomes.size() == 3);
  REQUIRE(outcomes[0].finished);
  CHECK(outcomes[0].finished->status == batch_status::failed);
  CHECK(outcomes[0].finished->total_emissions_kg_co2e == "1.125882");
  CHECK(outcomes[0].finished->failed_activities == 1);
  REQUIRE(outcomes[1].finished);
  CHECK(outcomes[1].finished->status == batch_status::completed);
  CHECK(outcomes[1].finished->total_emissions_kg_co2e == "22.517640");
  REQUIRE(outcomes[2].finished);
  CHECK(outcomes[2].finished->status == batch_status::completed);
  CHECK(outcomes[2].finished->total_emissions_kg_co2e == "112.588200");
  CHECK(store.get(tenant_b, leases[1].batch_id).total_emissions_kg_co2e ==
        "22.517640");
  CHECK(store.get(tenant_a2, leases[2].batch_id).total_emissions_kg_co2e ==
        "112.588200");

  // Each tenant's activity carries the result of its own quantity.
  CHECK(q.text("SELECT string_agg(org_id || '/' || workspace_id || '/' || id "
               "|| '=' || coalesce(emissions_kg_co2e::text, '<null>'), ',' "
               "ORDER BY org_id, workspace_id, id) FROM activities WHERE id "
               "LIKE 'x%'") ==
        "org-a/ws-1/x1=0.375294,org-a/ws-1/x2=0.750588,"
        "org-a/ws-2/x1=37.529400,org-a/ws-2/x2=75.058800,"
        "org-b/ws-1/x1=3.752940,org-b/ws-1/x2=7.505880,"
        "org-b/ws-1/x3=11.258820");
  CHECK(batches_off_their_items(db) == 0);
}

namespace {

/// A batch of `size` activities (none of which exist: the claim does not
/// care), of `priority`.
std::string queued_batch(batch_store& store, int size, int priority) {
  std::vector<std::string> ids;
  for (int i = 0; i < size; ++i)
    ids.push_back("q" + std::to_string(i));
  return store.submit(request(tenant_a, ids, priority)).batch.id;
}

/// Names of the claimed batches, in claim order (priority, then FIFO),
/// whatever order the claim returned them in.
std::vector<std::string>
names_of(const std::vector<persistence::claimed_batch>& claimed,
         const std::vector<std::pair<std::string, std::string>>& order) {
  std::set<std::string> got;
  for (const auto& c : claimed)
    got.insert(c.batch_id);
  std::vector<std::string> out;
  for (const auto& [name, id] : order)
    if (got.count(id))
      out.push_back(name);
  return out;
}

} // namespace

TEST_CASE("a claim with a budget takes the guaranteed batches whatever "
          "their size, then further ones in claim order while their "
          "activities fit the budget, and stops at the first that does not") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // Claim order is priority first, then submission: s1 L1 s2 s3 s4 s5.
  std::vector<std::pair<std::string, std::string>> order;
  auto s4 = queued_batch(store, 1, 5);
  auto s2 = queued_batch(store, 3, 7);
  auto L1 = queued_batch(store, 20, 8);
  auto s5 = queued_batch(store, 2, 4);
  auto s1 = queued_batch(store, 2, 9);
  auto s3 = queued_batch(store, 4, 6);
  order = {{"s1", s1}, {"L1", L1}, {"s2", s2},
           {"s3", s3}, {"s4", s4}, {"s5", s5}};
  auto untouched = [&] {
    return q.number("SELECT count(*) FROM batch_jobs WHERE status = 'pending'"
                    " AND lease_owner IS NULL AND lease_token = 0");
  };

  SECTION("nothing guaranteed: the prefix that fits, never skipping ahead") {
    // s1 (2) fits, L1 (2 + 20) does not: the claim stops there, although
    // s2 and s3 would fit on their own.
    auto got = store.claim(10, 60s, claim_mode::start, 0, 9);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1"});
    CHECK(untouched() == 5);
  }
  SECTION("nothing guaranteed, a budget that holds everything, n caps it") {
    auto got = store.claim(3, 60s, claim_mode::start, 0, 1000);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1", "L1", "s2"});
    CHECK(untouched() == 3);
  }
  SECTION("a guaranteed batch is taken even past the budget") {
    // guaranteed 1, budget 1: s1 (2 activities) is over the budget alone.
    auto got = store.claim(10, 60s, claim_mode::start, 1, 1);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1"});
    CHECK(untouched() == 5);
  }
  SECTION("guaranteed = n and budget 0 is the claim without bundles") {
    auto got = store.claim(3, 60s, claim_mode::start, 3, 0);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1", "L1", "s2"});
    for (const auto& c : got) {
      CHECK(c.started);
      CHECK(c.token == 1);
    }
    auto by_default = store.claim(2, 60s, claim_mode::start);
    CHECK(names_of(by_default, order) == std::vector<std::string>{"s3", "s4"});
    CHECK(untouched() == 1);
  }
  SECTION("the default arguments claim as before: n batches, any size") {
    auto got = store.claim(2, 60s);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1", "L1"});
    CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = "
                   "'queued'") == 2);
  }
  SECTION("every claimed batch carries its size") {
    auto got = store.claim(10, 60s, claim_mode::start, 0, 1000);
    REQUIRE(got.size() == 6);
    std::map<std::string, std::int64_t> size;
    for (const auto& c : got)
      size[c.batch_id] = c.total_activities;
    CHECK(size[L1] == 20);
    CHECK(size[s3] == 4);
    CHECK(size[s4] == 1);
  }
}

TEST_CASE("the budget of a claim counts the guaranteed batches' activities "
          "too, so a bundle claim never takes more work than its budget "
          "beyond the guaranteed batches") {
  // The poller asks for guaranteed = free workers and budget = free
  // workers × chunk_size: the running sum over everything it takes stays
  // within what its workers can start now (nothing is released unworked).
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto s4 = queued_batch(store, 1, 5);
  auto s2 = queued_batch(store, 3, 7);
  auto L1 = queued_batch(store, 20, 8);
  auto s5 = queued_batch(store, 2, 4);
  auto s1 = queued_batch(store, 2, 9);
  auto s3 = queued_batch(store, 4, 6);
  std::vector<std::pair<std::string, std::string>> order{
      {"s1", s1}, {"L1", L1}, {"s2", s2}, {"s3", s3}, {"s4", s4}, {"s5", s5}};

  SECTION("a large guaranteed batch uses the budget up") {
    // s1 + L1 = 22 > 15: nothing after the guaranteed two.
    auto got = store.claim(10, 60s, claim_mode::start, 2, 15);
    CHECK(names_of(got, order) == std::vector<std::string>{"s1", "L1"});
  }
  SECTION("small guaranteed batches leave the rest of the budget") {
    // 2 + 20 + 3 + 4 + 1 = 30 fits, + 2 = 32 does not.
    auto got = store.claim(10, 60s, claim_mode::start, 2, 30);
    CHECK(names_of(got, order) ==
          std::vector<std::string>{"s1", "L1", "s2", "s3", "s4"});
  }
}

TEST_CASE("a retry of a failed bundle batch makes only its failed items "
          "pending, and recording them completes it with exact totals") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  store.upsert_activities(tenant_a, {kwh("r1", "1"), kwh("r4", "4")});
  auto leases = bundle_of(store, {request(tenant_a, {"r1", "r2", "r3"}),
                                  request(tenant_a, {"r4"})});
  auto per = by_batch(store.resolve_many(leases, 5));
  REQUIRE(per[leases[0].batch_id].size() == 3);
  auto outcomes = store.record_many(
      {finishing(leases[0], {ok_row("r1", "0.375294"),
                             failed_row("r2", "activity_not_found"),
                             failed_row("r3", "activity_not_found")}),
       finishing(leases[1], {ok_row("r4", "1.501176")})});
  REQUIRE(outcomes.size() == 2);
  REQUIRE(outcomes[0].finished);
  CHECK(outcomes[0].finished->status == batch_status::failed);
  CHECK(outcomes[0].finished->error ==
        std::optional<std::string>("2 of 3 activities failed"));
  REQUIRE(outcomes[1].finished);
  CHECK(outcomes[1].finished->status == batch_status::completed);

  // The missing activities appear; the user retries the failed batch.
  store.upsert_activities(tenant_a, {kwh("r2", "2"), kwh("r3", "3")});
  auto retried = store.retry(tenant_a, leases[0].batch_id);
  CHECK(retried.status == batch_status::pending);
  CHECK(retried.retry_count == 1);
  CHECK(retried.processed_activities == 1);
  CHECK(retried.succeeded_activities == 1);
  CHECK(retried.failed_activities == 0);
  CHECK(retried.total_emissions_kg_co2e == "0.375294");
  CHECK(all_items(store, tenant_a, leases[0].batch_id, item_status::pending)
            .size() == 2);
  CHECK(batches_off_their_items(db) == 0);

  auto claimed = store.claim(5, 60s, claim_mode::start);
  REQUIRE(claimed.size() == 1);
  REQUIRE(claimed[0].batch_id == leases[0].batch_id);
  CHECK(claimed[0].token > leases[0].token);
  lease_ref lease{leases[0].batch_id, claimed[0].token};
  // The old lease is fenced off.
  CHECK(store.resolve_many({leases[0]}, 5).empty());

  auto rows = store.resolve_many({lease}, 5);
  REQUIRE(rows.size() == 2);
  CHECK(rows[0].activity_id == "r2");
  CHECK(rows[0].quantity == "2");
  CHECK(rows[1].activity_id == "r3");
  CHECK(rows[1].quantity == "3");
  auto out = store.record_many({finishing(
      lease, {ok_from(rows[0], "0.750588"), ok_from(rows[1], "1.125882")})});
  REQUIRE(out.size() == 1);
  CHECK(out[0].held);
  CHECK(out[0].succeeded == 2);
  CHECK(out[0].emissions_kg_co2e == "1.876470");
  REQUIRE(out[0].finished);
  CHECK(out[0].finished->status == batch_status::completed);
  CHECK(out[0].finished->processed_activities == 3);
  CHECK(out[0].finished->succeeded_activities == 3);
  CHECK(out[0].finished->failed_activities == 0);
  CHECK(out[0].finished->total_emissions_kg_co2e == "2.251764");

  std::map<std::string, int> attempts;
  for (const auto& i : all_items(store, tenant_a, lease.batch_id)) {
    CHECK(i.status == item_status::succeeded);
    attempts[i.activity_id] = i.attempts;
  }
  CHECK(attempts ==
        std::map<std::string, int>{{"r1", 1}, {"r2", 2}, {"r3", 2}});
  // Every result is kept, one per item and attempt.
  CHECK(q.text("SELECT string_agg(activity_id || '@' || attempt || ':' || "
               "status, ',' ORDER BY activity_id, attempt) FROM "
               "batch_results WHERE batch_id = " +
               q.quote(lease.batch_id) + "::uuid") ==
        "r1@0:succeeded,r2@0:failed,r2@1:succeeded,r3@0:failed,"
        "r3@1:succeeded");
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("two nodes recording bundles that share activities at the same "
          "time never deadlock") {
  // The same activity in batches of different bundles is common (a
  // tenant's activities are submitted again and again), and each bundle
  // writes its items' activities' latest results, locking those rows. Two
  // bundles holding the same activities in a different batch order must
  // still lock them in one global order, or PostgreSQL aborts one of them
  // as a deadlock (and the worker retries, defers, and in the end fails
  // batches that did nothing wrong).
  test_database db;
  sql q{db};
  // A tenant of realistic size, so that the activities are reached
  // through their primary key (as in production) rather than a scan.
  q.exec("INSERT INTO activities (org_id, workspace_id, id, activity_type, "
         "quantity, unit, region, period_start, period_end) SELECT 'org-a', "
         "'ws-1', 'other' || g, 'electricity', 1, 'kWh', 'US', '2025-01-01', "
         "'2025-01-31' FROM generate_series(1, 20000) g");
  q.exec("ANALYZE activities");
  std::vector<domain::activity> acts;
  std::vector<std::string> low, high;
  for (int i = 0; i < 10; ++i) {
    auto id = "s" + std::to_string(i);
    acts.push_back(kwh(id, std::to_string(i + 1)));
    (i < 5 ? low : high).push_back(id);
  }
  auto a = make_store(db, "node-a");
  auto b = make_store(db, "node-b");
  a.upsert_activities(tenant_a, acts);

  // Node a's bundle is X (s0-s4) then Y (s5-s9); node b's is Z (s5-s9)
  // then W (s0-s4).
  auto bundle = [&](batch_store& s, const std::vector<std::string>& first,
                    const std::vector<std::string>& second) {
    auto x = s.submit(request(tenant_a, first)).batch.id;
    auto y = s.submit(request(tenant_a, second)).batch.id;
    auto got = s.claim(2, 60s, claim_mode::start);
    REQUIRE(got.size() == 2);
    std::map<std::string, std::int64_t> token;
    for (const auto& c : got)
      token[c.batch_id] = c.token;
    std::vector<lease_ref> leases;
    for (const auto& id : {x, y}) {
      REQUIRE(token.count(id) == 1);
      leases.push_back({id, token[id]});
    }
    auto per = by_batch(s.resolve_many(leases, 10));
    std::vector<batch_write> writes;
    for (const auto& l : leases) {
      std::vector<persistence::item_result_row> results;
      for (const auto& r : per[l.batch_id])
        results.push_back(ok_from(r, r.quantity));
      REQUIRE(results.size() == 5);
      writes.push_back(finishing(l, results));
    }
    return writes;
  };
  auto wa = bundle(a, low, high);
  auto wb = bundle(b, high, low);

  // Make the two transactions overlap for certain: a third session holds
  // s4, so node a's record waits holding what it locked before s4, and
  // node b's record runs until it waits too.
  pqxx::connection blocker_conn{db.url()};
  pqxx::work blocker{blocker_conn};
  blocker.exec("SELECT 1 FROM activities WHERE org_id = 'org-a' AND "
               "workspace_id = 'ws-1' AND id = 's4' FOR UPDATE");
  auto waiting = [&] {
    return q.number("SELECT count(*) FROM pg_stat_activity WHERE datname = "
                    "current_database() AND wait_event_type = 'Lock'");
  };
  engine_errc ea = engine_errc::none, eb = engine_errc::none;
  std::string what_a, what_b;
  std::atomic<int> finished{0};
  auto record = [&finished](batch_store& s, const std::vector<batch_write>& w,
                            engine_errc& e, std::string& what) {
    try {
      s.record_many(w);
    } catch (const std::exception& ex) {
      what = ex.what();
      e = errc_of([&] { throw; });
    }
    ++finished;
  };
  std::thread ta([&] { record(a, wa, ea, what_a); });
  // Node a's record waits behind the blocker (or, writing no activity row
  // in its transaction, is simply done).
  bool a_ready =
      eventually([&] { return waiting() >= 1 || finished >= 1; }, 10s);
  std::thread tb([&] { record(b, wb, eb, what_b); });
  bool b_ready = eventually([&] { return waiting() + finished >= 2; }, 10s);
  blocker.commit();
  ta.join();
  tb.join();
  CHECK(a_ready);
  CHECK(b_ready);

  INFO("node a: " << (what_a.empty() ? "ok" : what_a));
  INFO("node b: " << (what_b.empty() ? "ok" : what_b));
  CHECK(ea == engine_errc::none);
  CHECK(eb == engine_errc::none);
  CHECK(q.number("SELECT deadlocks FROM pg_stat_database WHERE datname = "
                 "current_database()") == 0);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE status = "
                 "'completed'") == 4);
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("a bundle write naming an item twice records and counts it once") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto leases = bundle_of(
      store, {request(tenant_a, {"t1", "t2"}), request(tenant_a, {"t1"})});
  auto out = store.record_many(
      {finishing(leases[0],
                 {ok_row("t1", "1"), ok_row("t1", "2"), ok_row("t2", "4")}),
       finishing(leases[1], {failed_row("t1", "x"), ok_row("t1", "8")})});
  REQUIRE(out.size() == 2);
  CHECK(out[0].succeeded == 2);
  CHECK(out[1].succeeded + out[1].failed == 1);
  REQUIRE(out[0].finished);
  CHECK(out[0].finished->processed_activities == 2);
  CHECK(q.number("SELECT count(*) FROM batch_results") == 3);
  CHECK(batches_off_their_items(db) == 0);
}

TEST_CASE("the same bundle recorded and finished concurrently by six "
          "connections counts every item once and ends every batch once") {
  test_database db;
  sql q{db};
  std::vector<lease_ref> leases;
  std::vector<batch_write> writes;
  {
    auto store = make_store(db);
    std::vector<persistence::submit_request> reqs;
    for (int k = 0; k < 20; ++k) {
      std::vector<std::string> ids;
      for (int i = 0; i <= k % 5; ++i)
        ids.push_back("c" + std::to_string(k) + "_" + std::to_string(i));
      reqs.push_back(request(tenant_a, ids));
    }
    leases = bundle_of(store, reqs);
    for (std::size_t k = 0; k < leases.size(); ++k) {
      std::vector<persistence::item_result_row> results;
      for (const auto& id : reqs[k].activity_ids)
        results.push_back(k % 7 == 3 ? failed_row(id, "unit_mismatch")
                                     : ok_row(id, "0.000001"));
      writes.push_back(finishing(leases[k], results));
    }
  }
  std::atomic<bool> go{false};
  std::atomic<std::int64_t> counted{0}, ended{0}, errors{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 6; ++t)
    threads.emplace_back([&] {
      auto store = make_store(db, "node-a");
      while (!go)
        std::this_thread::yield();
      if (errc_of([&] {
            for (const auto& out : store.record_many(writes)) {
              counted += out.succeeded + out.failed;
              ended += out.finished ? 1 : 0;
            }
          }) != engine_errc::none)
        ++errors;
    });
  go = true;
  for (auto& t : threads)
    t.join();
  CHECK(errors == 0);
  CHECK(counted == 60); // 4 × (1 + 2 + 3 + 4 + 5)
  CHECK(ended == 20);
  CHECK(q.number("SELECT count(*) FROM batch_results") == 60);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE completed_at IS "
                 "NULL") == 0);
  CHECK(q.number("SELECT coalesce(sum(items), 0) FROM batch_chunk_log") == 60);
  CHECK(batches_off_their_items(db) == 0);
}
