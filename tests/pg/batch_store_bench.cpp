// Throughput of the store's bulk paths. Hidden ([.bench]): ctest never runs
// it and it asserts nothing about speed (STYLE: performance is measured,
// not asserted). Run by hand against a throw-away cluster:
//   build/tests/pg_tests "[.bench]" -s | grep rows/s
// (without OGF_TEST_CLUSTER_DIR the binary starts its own cluster; that
// cluster runs with fsync off, like every test database).
//
// Items by COPY (pqxx::stream_to, one std::tuple per row) were measured
// against the unnest($2::text[]) INSERT that submit uses, interleaved on
// the same cluster: 82-87k vs 84-90k rows/s for a 10,000-item batch on a
// loaded machine (load 7), 163-172k vs 170-181k rows/s at load 3, with 3x
// the client CPU (3.3-4.5 vs ~1 ms). The time is spent server-side (mostly
// the (batch_id, activity_id) primary-key inserts), so submit keeps unnest.
#include "persistence/batch_store.hpp"

#include <algorithm>
#include <cstdlib>
#include <ctime>
#include <iostream>

#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

using clock_type = std::chrono::steady_clock;

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::vector<std::string> activity_ids(int n, const std::string& prefix) {
  std::vector<std::string> ids;
  ids.reserve(n);
  for (int i = 0; i < n; ++i)
    ids.push_back(prefix + "-activity-" + std::to_string(100000 + i));
  return ids;
}

void report(const std::string& what, int rows, const std::vector<double>& s) {
  if (std::getenv("OGF_BENCH_VERBOSE"))
    for (auto x : s)
      std::cout << "  " << x * 1000 << " ms\n";
  auto m = median(s);
  auto best = *std::min_element(s.begin(), s.end());
  std::cout << what << ": " << rows << " rows, median " << m * 1000
            << " ms = " << static_cast<long>(rows / m) << " rows/s (best "
            << static_cast<long>(rows / best) << " rows/s, " << s.size()
            << " runs)\n";
}

} // namespace

TEST_CASE("submit of one 10,000-item batch", "[.bench]") {
  test_database db;
  auto store = make_store(db);
  constexpr int items = 10000;
  std::vector<double> runs, cpu;
  for (int run = 0; run < 11; ++run) {
    auto req =
        request(tenant_a, activity_ids(items, "r" + std::to_string(run)));
    auto c0 = std::clock();
    auto t0 = clock_type::now();
    auto out = store.submit(req);
    runs.push_back(seconds_since(t0));
    cpu.push_back(static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC);
    REQUIRE(out.batch.total_activities == items);
  }
  std::cout << "submit: client CPU median " << median(cpu) * 1000
            << " ms per batch\n";
  sql q{db};
  REQUIRE(q.number("SELECT count(*) FROM batch_items") == 11 * items);
  report("submit (10,000 items)", items, runs);
}

TEST_CASE("resolve_chunk and record_chunk of 500 items", "[.bench]") {
  test_database db;
  auto store = make_store(db);
  constexpr int items = 10000;
  constexpr int chunk = 500;
  auto ids = activity_ids(items, "c");
  // As in production, every activity of the batch exists (its result is
  // written back to it), among other activities of the tenant.
  std::vector<domain::activity> acts;
  // OGF_BENCH_TENANT_ACTIVITIES: how many activities the tenant holds
  // (default 30,000; the batch's 10,000 are the first of them).
  int tenant_activities = 3 * items;
  if (const char* n = std::getenv("OGF_BENCH_TENANT_ACTIVITIES"))
    tenant_activities = std::max(items, std::atoi(n));
  for (const auto& id : activity_ids(tenant_activities, "c")) {
    domain::activity a;
    a.id = id;
    a.activity_type = "electricity";
    a.quantity = "1500.25";
    a.unit = "kWh";
    a.period_start = a.period_end = "2024-01-01";
    acts.push_back(std::move(a));
  }
  store.upsert_activities(tenant_a, acts);
  auto b = store.submit(request(tenant_a, ids, 10)).batch;
  auto c = store.claim(1, std::chrono::minutes(10)).at(0);
  persistence::lease_ref lease{b.id, c.token};
  REQUIRE(store.start(lease));
  std::vector<double> runs, resolves;
  std::string cursor;
  for (int at = 0; at < items; at += chunk) {
    auto r0 = clock_type::now();
    auto resolved = store.resolve_chunk(lease, tenant_a, cursor, chunk);
    resolves.push_back(seconds_since(r0));
    REQUIRE(resolved.size() == static_cast<std::size_t>(chunk));
    REQUIRE(resolved.front().activity_id == ids[at]);
    REQUIRE(resolved.front().found);
    cursor = resolved.back().activity_id;
    std::vector<persistence::item_result_row> rows;
    for (int i = at; i < at + chunk; ++i) {
      rows.push_back(i % 10 == 9 ? failed_row(ids[i], "no_emission_factor")
                                 : ok_row(ids[i], "12.345678", "factor-1", 2));
      // As the engine does: the version read, so the result is written back.
      rows.back().activity_version = resolved[i - at].activity_version;
    }
    auto t0 = clock_type::now();
    auto out = store.record_chunk(lease, tenant_a, rows);
    runs.push_back(seconds_since(t0));
    REQUIRE(out.succeeded + out.failed == chunk);
  }
  // Every succeeded item's result reached its activity.
  sql q{db};
  CHECK(q.number("SELECT count(*) FROM activities WHERE calculated_at IS NOT "
                 "NULL") == items - items / 10);
  report("resolve_chunk (500 items)", chunk, resolves);
  report("record_chunk (500 items)", chunk, runs);
}
