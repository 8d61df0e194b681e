// The store must not depend on the defaults of the database it is pointed
// at (--database-url may name any PostgreSQL 15 database): date output
// style and transaction isolation are set per connection.
#include "persistence/batch_store.hpp"

#include <future>
#include <set>
#include <thread>

#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;

namespace {

void alter_database(const test_database& db, const std::string& setting) {
  pqxx::connection admin{test_database::admin_url()};
  pqxx::nontransaction tx{admin};
  tx.exec("ALTER DATABASE " + db.name() + " SET " + setting);
}

} // namespace

TEST_CASE("dates read back as YYYY-MM-DD whatever the database's DateStyle") {
  test_database db;
  alter_database(db, "DateStyle = 'SQL, DMY'");
  auto store = make_store(db);
  domain::activity a;
  a.id = "a1";
  a.activity_type = "diesel";
  a.quantity = "1";
  a.unit = "L";
  a.period_start = "2024-02-03";
  a.period_end = "2024-11-30";
  store.upsert_activities(tenant_a, {a});
  auto got = store.get_activity(tenant_a, "a1");
  CHECK(got.period_start == "2024-02-03");
  CHECK(got.period_end == "2024-11-30");

  domain::emission_factor f;
  f.id = "f1";
  f.activity_type = "test_fuel"; // no built-in factor has this type
  f.unit = "L";
  f.kg_co2e_per_unit = "2.5";
  f.valid_from = "2023-04-05";
  store.upsert_factors(tenant_a, {f});
  auto factors = store.list_factors(tenant_a, std::string("test_fuel"));
  REQUIRE(factors.size() == 1);
  CHECK(factors[0].valid_from == "2023-04-05");
}

TEST_CASE("idempotent submits and concurrent claims hold when the database "
          "defaults to serializable transactions") {
  test_database db;
  alter_database(db, "default_transaction_isolation = 'serializable'");
  {
    sql q{db};
    CHECK(q.text("SHOW default_transaction_isolation") == "serializable");
    q.exec("INSERT INTO batch_jobs (org_id, workspace_id, total_activities) "
           "SELECT 'org-a', 'ws-1', 0 FROM generate_series(1, 300)");
  }

  std::atomic<bool> go{false};
  std::vector<std::future<std::string>> submits;
  for (int i = 0; i < 8; ++i)
    submits.push_back(std::async(std::launch::async, [&] {
      auto store = make_store(db);
      auto req = request(tenant_b, {"a1"});
      req.idempotency_key = "k";
      req.request_hash = "h";
      while (!go)
        std::this_thread::yield();
      return store.submit(req).batch.id;
    }));
  std::vector<std::future<std::vector<std::string>>> claimers;
  for (int n = 0; n < 4; ++n)
    claimers.push_back(std::async(std::launch::async, [&, n] {
      auto store = make_store(db, "node-" + std::to_string(n));
      std::vector<std::string> got;
      while (!go)
        std::this_thread::yield();
      for (;;) {
        auto c = store.claim(10, 60s);
        if (c.empty())
          break;
        for (const auto& x : c)
          got.push_back(x.batch_id);
      }
      return got;
    }));
  go = true;

  std::set<std::string> submitted;
  for (auto& f : submits) {
    std::string id;
    auto code = errc_of([&] { id = f.get(); });
    CHECK(code == engine_errc::none);
    submitted.insert(id);
  }
  CHECK(submitted.size() == 1);
  std::multiset<std::string> claimed;
  for (auto& f : claimers) {
    std::vector<std::string> got;
    auto code = errc_of([&] { got = f.get(); });
    CHECK(code == engine_errc::none);
    claimed.insert(got.begin(), got.end());
  }
  // The submit may have committed after every claimer had stopped.
  for (const auto& c : make_store(db).claim(10, 60s))
    claimed.insert(c.batch_id);
  // The 300 batches plus the submitted one, each exactly once.
  CHECK(claimed.size() == 301);
  CHECK(std::set<std::string>(claimed.begin(), claimed.end()).size() == 301);
}
