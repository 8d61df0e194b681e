// What the store does with what callers hand it: idempotency keys under
// concurrency, hostile strings, NUL bytes, and how every failure is
// classified for the engine.
#include "persistence/batch_store.hpp"

#include <atomic>
#include <future>
#include <set>
#include <thread>

#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using ogf::testing::test_database;
using persistence::lease_ref;

namespace {

persistence::submit_request keyed(const tenant& t, const std::string& key,
                                  const std::string& hash,
                                  std::vector<std::string> ids = {"a1", "a2"}) {
  auto r = request(t, std::move(ids));
  r.idempotency_key = key;
  r.request_hash = hash;
  return r;
}

} // namespace

TEST_CASE("eight concurrent submits with the same key and body create exactly "
          "one batch") {
  test_database db;
  sql q{db};
  std::atomic<bool> go{false};
  std::vector<std::future<persistence::submit_outcome>> results;
  for (int i = 0; i < 8; ++i)
    results.push_back(std::async(std::launch::async, [&, i] {
      auto store = make_store(db, "api-" + std::to_string(i));
      while (!go)
        std::this_thread::yield();
      return store.submit(keyed(tenant_a, "order-42", "hash-1"));
    }));
  go = true;
  std::set<std::string> ids;
  int replayed = 0;
  for (auto& f : results) {
    auto out = f.get();
    ids.insert(out.batch.id);
    replayed += out.replayed ? 1 : 0;
    CHECK(out.batch.idempotency_key == std::optional<std::string>("order-42"));
    CHECK(out.batch.total_activities == 2);
  }
  CHECK(ids.size() == 1);
  CHECK(replayed == 7);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 1);
  CHECK(q.number("SELECT count(*) FROM batch_items") == 2);
}

TEST_CASE("an idempotency key reused with another body is a conflict, and "
          "another tenant's same key is a new batch") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto first = store.submit(keyed(tenant_a, "k", "hash-1"));
  CHECK_FALSE(first.replayed);

  auto replay = store.submit(keyed(tenant_a, "k", "hash-1", {"other"}));
  CHECK(replay.replayed);
  CHECK(replay.batch.id == first.batch.id);
  CHECK(replay.batch.total_activities == 2); // the original, not the repeat

  CHECK(errc_of([&] { store.submit(keyed(tenant_a, "k", "hash-2")); }) ==
        engine_errc::conflict);

  auto other = store.submit(keyed(tenant_b, "k", "hash-2"));
  CHECK_FALSE(other.replayed);
  CHECK(other.batch.id != first.batch.id);
  auto other_ws = store.submit(keyed(tenant_a2, "k", "hash-1"));
  CHECK_FALSE(other_ws.replayed);

  // Submits without a key never collide.
  auto n1 = store.submit(request(tenant_a, {"x"}));
  auto n2 = store.submit(request(tenant_a, {"x"}));
  CHECK(n1.batch.id != n2.batch.id);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 5);
}

TEST_CASE("an idempotency key older than 24 hours may be used again") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto first = store.submit(keyed(tenant_a, "k", "hash-1")).batch;
  q.exec("UPDATE batch_jobs SET created_at = now() - interval '25 hours'");
  auto again = store.submit(keyed(tenant_a, "k", "hash-2"));
  CHECK_FALSE(again.replayed);
  CHECK(again.batch.id != first.id);
  // The old batch is kept with its key: only the key's uniqueness lapsed.
  CHECK(store.get(tenant_a, first.id).idempotency_key ==
        std::optional<std::string>("k"));
  CHECK(again.batch.idempotency_key == std::optional<std::string>("k"));
  // The key now belongs to the new batch: a repeat replays it, another body
  // is a conflict (the old batch's body no longer counts).
  auto repeat = store.submit(keyed(tenant_a, "k", "hash-2"));
  CHECK(repeat.replayed);
  CHECK(repeat.batch.id == again.batch.id);
  CHECK(errc_of([&] { store.submit(keyed(tenant_a, "k", "hash-1")); }) ==
        engine_errc::conflict);
  // Listing shows both batches with the key.
  domain::batch_filter f;
  auto page = store.list(tenant_a, f);
  REQUIRE(page.batches.size() == 2);
  for (const auto& b : page.batches)
    CHECK(b.idempotency_key == std::optional<std::string>("k"));
  // Expiring again later frees the key once more; all three keep it.
  q.exec("UPDATE batch_jobs SET created_at = now() - interval '25 hours'");
  auto third = store.submit(keyed(tenant_a, "k", "hash-1"));
  CHECK_FALSE(third.replayed);
  CHECK(q.number("SELECT count(*) FROM batch_jobs WHERE idempotency_key = "
                 "'k'") == 3);
}

namespace {

const std::vector<std::string> hostile{
    "it's",
    "'; DROP TABLE batch_jobs; --",
    R"(back\slash)",
    R"(trailing\)",
    R"(\\double)",
    "{curly}",
    "}",
    "{",
    R"("quoted")",
    R"(")",
    "a,b,c",
    "NULL",
    "null",
    " spaced ",
    "tab\there",
    "new\nline",
    "ünïcødé—日本語—🙂",
    "$1",
    "%s%n",
    "{\"a\",\"b\"}",
};

} // namespace

TEST_CASE("hostile strings in activity ids, metadata and idempotency keys are "
          "stored and returned verbatim") {
  test_database db;
  auto store = make_store(db);
  sql q{db};

  nlohmann::json meta = nlohmann::json::object();
  for (std::size_t i = 0; i < hostile.size(); ++i)
    meta[hostile[i]] = hostile[(i + 1) % hostile.size()];
  meta["nested"] = {{"list", hostile}};

  for (const auto& key : hostile) {
    INFO("key " << key);
    auto req = keyed(tenant_a, key, "h", hostile);
    req.metadata_json = meta.dump();
    auto out = store.submit(req);
    CHECK_FALSE(out.replayed);
    CHECK(out.batch.idempotency_key == std::optional<std::string>(key));
    CHECK(out.batch.metadata == meta);
    CHECK(out.batch.total_activities ==
          static_cast<std::int64_t>(hostile.size()));
    auto got = store.get(tenant_a, out.batch.id);
    CHECK(got.idempotency_key == std::optional<std::string>(key));
    CHECK(got.metadata == meta);
    std::set<std::string> stored;
    for (const auto& it : all_items(store, tenant_a, out.batch.id))
      stored.insert(it.activity_id);
    CHECK(stored == std::set<std::string>(hostile.begin(), hostile.end()));
    // The same key again is a replay of exactly this batch.
    auto replay = store.submit(req);
    CHECK(replay.replayed);
    CHECK(replay.batch.id == out.batch.id);
  }
  CHECK(q.number("SELECT count(*) FROM batch_jobs") ==
        static_cast<std::int64_t>(hostile.size()));

  // Items keyset pages over hostile ids too.
  auto id = store.list(tenant_a, {}).batches.at(0).id;
  domain::item_filter f;
  f.limit = 3;
  std::multiset<std::string> walked;
  for (;;) {
    auto page = store.items(tenant_a, id, f);
    for (const auto& it : page.items)
      walked.insert(it.activity_id);
    if (!page.next_after)
      break;
    f.after_activity_id = page.next_after;
  }
  CHECK(walked == std::multiset<std::string>(hostile.begin(), hostile.end()));

  // Activities and factors with hostile ids and metadata.
  std::vector<domain::activity> acts;
  for (const auto& h : hostile) {
    domain::activity a;
    a.id = h;
    a.activity_type = h;
    a.quantity = "1";
    a.unit = "kWh";
    a.region = h;
    a.period_start = a.period_end = "2024-01-01";
    a.metadata = {{h, h}};
    acts.push_back(a);
  }
  CHECK(store.upsert_activities(tenant_a, acts) ==
        static_cast<std::int64_t>(hostile.size()));
  for (const auto& a : acts) {
    auto got = store.get_activity(tenant_a, a.id);
    CHECK(got.id == a.id);
    CHECK(got.activity_type == a.activity_type);
    CHECK(got.region == a.region);
    CHECK(got.metadata == a.metadata);
  }
  std::vector<domain::emission_factor> factors;
  for (const auto& h : hostile) {
    domain::emission_factor fa;
    fa.id = h;
    fa.activity_type = "t";
    fa.unit = "kWh";
    fa.kg_co2e_per_unit = "0.5";
    fa.valid_from = "2024-01-01";
    fa.source = h;
    factors.push_back(fa);
  }
  store.upsert_factors(tenant_a, factors);
  std::set<std::string> fids, sources;
  for (const auto& fa : store.list_factors(tenant_a, std::string("t"))) {
    fids.insert(fa.id);
    sources.insert(fa.source);
  }
  CHECK(fids == std::set<std::string>(hostile.begin(), hostile.end()));
  CHECK(sources == fids);

  // Results recorded for hostile ids land on the right items.
  auto lease_batch = store.submit(request(tenant_a, hostile, 10)).batch;
  auto c = store.claim(1, 60s);
  REQUIRE(c.size() == 1);
  REQUIRE(c[0].batch_id == lease_batch.id);
  lease_ref lease{lease_batch.id, c[0].token};
  REQUIRE(store.start(lease));
  auto chunk = store.resolve_chunk(lease, tenant_a, "", 1000);
  REQUIRE(chunk.size() == hostile.size());
  std::vector<persistence::item_result_row> rows;
  for (const auto& r : chunk) {
    CHECK(r.found);
    rows.push_back(failed_row(r.activity_id, r.activity_id));
  }
  auto rec = store.record_chunk(lease, tenant_a, rows);
  CHECK(rec.failed == static_cast<std::int64_t>(hostile.size()));
  for (const auto& it : all_items(store, tenant_a, lease_batch.id))
    CHECK(it.error == std::optional<std::string>(it.activity_id));
  // The tables are all still there.
  CHECK(q.number("SELECT count(*) FROM batch_jobs") > 0);
}

TEST_CASE("a NUL byte is refused as a validation error and writes nothing") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  const std::string nul("ab\0cd", 5);
  const std::string nul_tail("abcd\0", 5);

  SECTION("in an activity id") {
    CHECK(errc_of([&] {
            store.submit(request(tenant_a, {"ok", nul}));
          }) == engine_errc::validation);
  }
  SECTION("in an idempotency key") {
    auto req = keyed(tenant_a, nul, "h");
    CHECK(errc_of([&] { store.submit(req); }) == engine_errc::validation);
    req.idempotency_key = nul_tail;
    CHECK(errc_of([&] { store.submit(req); }) == engine_errc::validation);
  }
  SECTION("in the metadata") {
    auto req = request(tenant_a, {"ok"});
    req.metadata_json = std::string("{\"a\":\"b\"}\0junk", 14);
    CHECK(errc_of([&] { store.submit(req); }) == engine_errc::validation);
    req.metadata_json = std::string("{\"a\":\"b\0c\"}", 11);
    CHECK(errc_of([&] { store.submit(req); }) == engine_errc::validation);
    // JSON's own escape for NUL: jsonb cannot store it.
    req.metadata_json = R"({"a":"b\u0000c"})";
    CHECK(errc_of([&] { store.submit(req); }) == engine_errc::validation);
  }
  SECTION("in an activity") {
    domain::activity a;
    a.id = nul;
    a.activity_type = "t";
    a.quantity = "1";
    a.unit = "kWh";
    a.period_start = a.period_end = "2024-01-01";
    CHECK(errc_of([&] { store.upsert_activities(tenant_a, {a}); }) ==
          engine_errc::validation);
    a.id = "fine";
    a.activity_type = nul_tail;
    CHECK(errc_of([&] { store.upsert_activities(tenant_a, {a}); }) ==
          engine_errc::validation);
    a.activity_type = "t";
    a.metadata = {{"k", nul}};
    CHECK(errc_of([&] { store.upsert_activities(tenant_a, {a}); }) ==
          engine_errc::validation);
    CHECK(q.number("SELECT count(*) FROM activities") == 0);
  }
  SECTION("in a factor") {
    domain::emission_factor fa;
    fa.id = "f";
    fa.activity_type = "t";
    fa.unit = "kWh";
    fa.kg_co2e_per_unit = "1";
    fa.valid_from = "2024-01-01";
    fa.source = nul_tail;
    CHECK(errc_of([&] { store.upsert_factors(tenant_a, {fa}); }) ==
          engine_errc::validation);
    // Only the built-in factors of migration 002 remain.
    CHECK(
        q.number(
            "SELECT count(*) FROM emission_factors WHERE org_id IS NOT NULL") ==
        0);
  }
  SECTION("in a tenant or a lookup id") {
    CHECK(errc_of([&] {
            store.submit(request({nul_tail, "ws"}, {"ok"}));
          }) == engine_errc::validation);
    // Truncated at the NUL, this lookup would find activity "ab".
    domain::activity ab;
    ab.id = "ab";
    ab.activity_type = "t";
    ab.quantity = "1";
    ab.unit = "kWh";
    ab.period_start = ab.period_end = "2024-01-01";
    store.upsert_activities(tenant_a, {ab});
    CHECK(errc_of([&] { store.get_activity(tenant_a, nul); }) ==
          engine_errc::validation);
    CHECK(errc_of([&] { store.list_factors(tenant_a, nul); }) ==
          engine_errc::validation);
  }
  SECTION("in a recorded result") {
    auto b = store.submit(request(tenant_a, {"a1"}, 10)).batch;
    auto c = store.claim(1, 60s).at(0);
    lease_ref lease{b.id, c.token};
    REQUIRE(store.start(lease));
    auto before = q.snapshot(b.id);
    CHECK(errc_of([&] {
            store.record_chunk(lease, tenant_a, {failed_row("a1", nul_tail)});
          }) == engine_errc::validation);
    CHECK(q.snapshot(b.id) == before);
    // The store is still usable after the refusal.
    CHECK(store.record_chunk(lease, tenant_a, {ok_row("a1", "1")}).succeeded ==
          1);
    return;
  }
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 0);
  CHECK(q.number("SELECT count(*) FROM batch_items") == 0);
  // The store is still usable after the refusal.
  CHECK(store.submit(request(tenant_a, {"ok"})).batch.total_activities == 1);
}

TEST_CASE("database refusals are classified as validation errors, not as "
          "conflicts or bugs") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  // Out-of-range values the HTTP layer should have caught.
  CHECK(errc_of([&] { store.submit(request(tenant_a, {"x"}, 11)); }) ==
        engine_errc::validation);
  CHECK(errc_of([&] { store.submit(request(tenant_a, {"x"}, 5, 11)); }) ==
        engine_errc::validation);
  auto bad_json = request(tenant_a, {"x"});
  bad_json.metadata_json = "{not json";
  CHECK(errc_of([&] { store.submit(bad_json); }) == engine_errc::validation);
  // Duplicate activity ids in one batch: a bad request, not an idempotency
  // conflict (which the HTTP layer maps to 422 idempotency_key_reused).
  CHECK(errc_of([&] {
          store.submit(request(tenant_a, {"x", "y", "x"}));
        }) == engine_errc::validation);
  // Duplicate ids in one upsert.
  domain::activity a;
  a.id = "dup";
  a.activity_type = "t";
  a.quantity = "1";
  a.unit = "kWh";
  a.period_start = a.period_end = "2024-01-01";
  CHECK(errc_of([&] {
          store.upsert_activities(tenant_a, {a, a});
        }) == engine_errc::validation);
  domain::emission_factor fa;
  fa.id = "dup";
  fa.activity_type = "t";
  fa.unit = "kWh";
  fa.kg_co2e_per_unit = "1";
  fa.valid_from = "2024-01-01";
  CHECK(errc_of([&] {
          store.upsert_factors(tenant_a, {fa, fa});
        }) == engine_errc::validation);
  // Bytes that are not UTF-8.
  CHECK(errc_of([&] {
          store.submit(request(tenant_a, {"ok", "bad\xff"}));
        }) == engine_errc::validation);
  // A value too large for an index entry (ids are limited long before).
  std::string huge;
  std::uint32_t seed = 12345;
  for (int i = 0; i < 20000; ++i) {
    seed = seed * 1103515245u + 12345u;
    huge += static_cast<char>('!' + (seed >> 16) % 90); // incompressible
  }
  std::string why;
  bool reconnect = false;
  auto code = engine_errc::none;
  try {
    store.submit(request(tenant_a, {huge}));
  } catch (...) {
    code = classify_exception(std::current_exception(), why, reconnect);
  }
  INFO(why);
  CHECK(code == engine_errc::validation);
  CHECK(q.number("SELECT count(*) FROM batch_jobs") == 0);
  CHECK(q.number("SELECT count(*) FROM activities") == 0);
  // Only the built-in factors of migration 002 remain.
  CHECK(q.number(
            "SELECT count(*) FROM emission_factors WHERE org_id IS NOT NULL") ==
        0);
}

TEST_CASE("a statement that times out waiting for a lock is unavailable and "
          "the store keeps working") {
  test_database db;
  persistence::store_config cfg{db.url(), "node-a"};
  cfg.statement_timeout = 200ms;
  persistence::batch_store store{cfg};
  auto b = store.submit(request(tenant_a, {"x"})).batch;

  pqxx::connection blocker{db.url()};
  pqxx::work hold{blocker};
  hold.exec("SELECT 1 FROM batch_jobs FOR UPDATE");
  std::string message;
  bool reconnect = true;
  engine_errc code = engine_errc::none;
  try {
    store.cancel(tenant_a, b.id);
  } catch (...) {
    code = classify_exception(std::current_exception(), message, reconnect);
  }
  CHECK(code == engine_errc::unavailable);
  CHECK(is_transient(code));
  CHECK_FALSE(reconnect);
  hold.abort();
  CHECK(store.cancel(tenant_a, b.id).immediate);
}

TEST_CASE("a lost connection is unavailable, asks for a reconnect, and the "
          "store works again after reconnect") {
  test_database db;
  auto store = make_store(db);
  auto b = store.submit(request(tenant_a, {"x"})).batch;
  {
    pqxx::connection admin{db.url()};
    pqxx::work tx{admin};
    tx.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
            "application_name = 'offgridflow-batch' AND pid <> "
            "pg_backend_pid() AND datname = current_database()");
    tx.commit();
  }
  std::string message;
  bool reconnect = false;
  engine_errc code = engine_errc::none;
  try {
    store.get(tenant_a, b.id);
  } catch (...) {
    code = classify_exception(std::current_exception(), message, reconnect);
  }
  CHECK(code == engine_errc::unavailable);
  CHECK(reconnect);
  store.reconnect();
  CHECK(store.connected());
  CHECK(store.get(tenant_a, b.id).id == b.id);
  CHECK(store.ping() < 5s);
}

TEST_CASE("store errors keep their own classification") {
  std::string message;
  bool reconnect = true;
  auto code = classify_exception(std::make_exception_ptr(store_exception(
                                     engine_errc::lease_lost, "lease lost")),
                                 message, reconnect);
  CHECK(code == engine_errc::lease_lost);
  CHECK(message == "lease lost");
  CHECK_FALSE(reconnect);
  code = classify_exception(std::make_exception_ptr(std::logic_error("oops")),
                            message, reconnect);
  CHECK(code == engine_errc::internal);
  code = classify_exception(std::make_exception_ptr(42), message, reconnect);
  CHECK(code == engine_errc::internal);
  for (auto c : {engine_errc::none, engine_errc::not_found,
                 engine_errc::invalid_state, engine_errc::conflict,
                 engine_errc::lease_lost, engine_errc::unavailable,
                 engine_errc::validation, engine_errc::internal})
    CHECK(std::string(to_string(c)) != "");
}

TEST_CASE("a store pointed at an unreachable database fails as unavailable") {
  std::string message;
  bool reconnect = false;
  engine_errc code = engine_errc::none;
  try {
    persistence::batch_store store{persistence::store_config{
        "host=/nonexistent/ogf-socket-dir dbname=none connect_timeout=2",
        "node-a"}};
  } catch (...) {
    code = classify_exception(std::current_exception(), message, reconnect);
  }
  CHECK(code == engine_errc::unavailable);
  CHECK(is_transient(code));
  CHECK(reconnect);
}
