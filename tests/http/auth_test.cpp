// CONTRACT §4 in keys mode, driven from the route table: every tenant route
// refuses every kind of bad credential the same way, a read key never
// writes, headers cannot move a key to another tenant, and other tenants'
// objects stay invisible. A route added to the table is covered here
// without touching this file. Plus the per-tenant rate limit.
#include <atomic>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>
#include <pqxx/pqxx>

#include "common/api_token.hpp"
#include "domain/api_key.hpp"
#include "http/api_fixture.hpp"
#include "http/routes.hpp"
#include "persistence/batch_store.hpp"
#include "support/engine_fixture.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

/// A key of `owner` with `role`, stored through the store; its token.
std::string make_key(const test_database& db, const domain::tenant& owner,
                     domain::key_role role, std::string* id = nullptr) {
  persistence::store_config sc;
  sc.database_url = db.url();
  persistence::batch_store store{sc};
  auto t = auth::new_token();
  domain::api_key k;
  k.id = t.key_id;
  k.owner = owner;
  k.name = "test";
  k.role = role;
  k.secret_hash = auth::hash_secret(t.secret);
  store.create_api_key(k);
  if (id)
    *id = t.key_id;
  return auth::format_token(t);
}

void revoke_key(const test_database& db, const std::string& id) {
  persistence::store_config sc;
  sc.database_url = db.url();
  persistence::batch_store store{sc};
  REQUIRE(store.revoke_api_key(id));
}

/// Everything a refused write could have changed.
std::string snapshot(const test_database& db) {
  pqxx::connection conn{db.url()};
  pqxx::read_transaction tx{conn};
  auto row = tx.exec1(
      "SELECT (SELECT count(*) FROM batch_jobs)::text || '/' || "
      "(SELECT count(*) FROM activities)::text || '/' || "
      "(SELECT count(*) FROM emission_factors)::text || '/' || "
      "(SELECT count(*) FROM batch_item_ids)::text || '/' || "
      "coalesce((SELECT string_agg(id::text || status || retry_count || "
      "cancel_requested, ',' ORDER BY id) FROM batch_jobs), '')");
  return row[0].as<std::string>();
}

httplib::Headers bearer(const std::string& token) {
  return {{"Authorization", "Bearer " + token}};
}

/// A request for one route of the table: its path with `batch` and
/// `activity` in the `{id}` segment, and a body the route would accept.
struct route_call {
  std::string method;
  std::string path;
  std::string body;
  std::string content_type;
  bool write = false;
};

route_call call_for(const http::route_info& r, const std::string& batch,
                    const std::string& activity) {
  route_call c;
  c.method = r.method;
  c.path = r.path;
  auto at = c.path.find("{id}");
  if (at != std::string::npos)
    c.path.replace(
        at, 4, c.path.rfind("/api/v1/activities", 0) == 0 ? activity : batch);
  c.write = r.method != "GET";
  if (r.method == "POST" && r.path == "/api/v1/batches")
    c.body = json{{"activity_ids", {"a0000", "a0001"}}}.dump();
  else if (r.path == "/api/v1/activities")
    c.body =
        json{{"activities", json::array({activity_row("new-activity", 3)})}}
            .dump();
  else if (r.path == "/api/v1/emission-factors" && r.method == "PUT")
    c.body = json{{"factors", json::array({factor_row("new-factor")})}}.dump();
  else if (c.write)
    c.body = "{}";
  if (!c.body.empty())
    c.content_type = "application/json";
  return c;
}

reply send(api_fixture& api, const route_call& c, httplib::Headers h) {
  return api.send(c.method, c.path, c.body, c.content_type, h);
}

api_options keys_mode(std::chrono::milliseconds ttl = 2000ms) {
  api_options o;
  o.tune = [ttl](http::http_config& hc) {
    hc.auth = http::auth_mode::keys;
    hc.key_cache_ttl = ttl;
  };
  return o;
}

/// Uploads activities a0000..a0009 and submits a batch of them with a
/// write key of acme; waits until it ended. Its id.
std::string acme_batch(api_fixture& api, const std::string& token) {
  json rows = json::array();
  for (int i = 0; i < 10; ++i)
    rows.push_back(activity_row("a000" + std::to_string(i), i + 1));
  auto r =
      api.send("POST", "/api/v1/activities", json{{"activities", rows}}.dump(),
               "application/json", bearer(token));
  REQUIRE(r.status == 200);
  auto b = api.send("POST", "/api/v1/batches",
                    json{{"activity_ids", {"a0000", "a0001"}}}.dump(),
                    "application/json", bearer(token));
  INFO(b.body);
  REQUIRE(b.status == 201);
  auto id = b.json()["id"].get<std::string>();
  REQUIRE(wait_until(
      [&] {
        auto g =
            api.send("GET", "/api/v1/batches/" + id, "", "", bearer(token));
        return g.status == 200 && g.json()["status"] == "completed";
      },
      20s, 20ms));
  return id;
}

} // namespace

TEST_CASE("keys mode: every tenant route answers a missing, malformed, "
          "unknown, wrong, revoked or expired key with 401 and "
          "WWW-Authenticate, and writes nothing") {
  api_fixture api{keys_mode(100ms)};
  auto writer = make_key(api.db(), {"acme", "main"}, domain::key_role::write);
  auto batch = acme_batch(api, writer);

  std::string revoked_id, expired_id;
  auto revoked = make_key(api.db(), {"acme", "main"}, domain::key_role::write,
                          &revoked_id);
  revoke_key(api.db(), revoked_id);
  auto expired = make_key(api.db(), {"acme", "main"}, domain::key_role::write,
                          &expired_id);
  {
    pqxx::connection conn{api.db().url()};
    pqxx::work tx{conn};
    tx.exec_params("UPDATE api_keys SET expires_at = now() - interval '1 s' "
                   "WHERE id = $1",
                   expired_id);
    tx.commit();
  }
  auto parsed = auth::parse_token(writer);
  REQUIRE(parsed);
  auto wrong_secret = auth::format_token(
      {parsed->key_id, std::string(64, parsed->secret[0] == 'a' ? 'b' : 'a')});
  auto unknown = auth::format_token(auth::new_token());

  const std::map<std::string, httplib::Headers> bad = {
      {"no Authorization", {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}}},
      {"empty", {{"Authorization", ""}}},
      {"other scheme", {{"Authorization", "Basic " + writer}}},
      {"no scheme", {{"Authorization", writer}}},
      {"truncated", bearer(writer.substr(0, writer.size() - 1))},
      {"garbage", bearer("ogf_not_a_token")},
      {"two headers",
       {{"Authorization", "Bearer " + writer},
        {"Authorization", "Bearer " + writer}}},
      {"unknown key id", bearer(unknown)},
      {"wrong secret", bearer(wrong_secret)},
      {"revoked", bearer(revoked)},
      {"expired", bearer(expired)},
  };
  auto before = snapshot(api.db());
  int checked = 0;
  for (const auto& route : http::routes()) {
    if (!route.tenant_scoped)
      continue;
    auto c = call_for(route, batch, "a0000");
    for (const auto& [what, headers] : bad) {
      INFO(c.method << " " << c.path << " with " << what);
      auto r = send(api, c, headers);
      check_error(r, 401, "unauthenticated");
      CHECK(r.header("WWW-Authenticate") == "Bearer");
      CHECK(r.body.find(parsed->secret) == std::string::npos);
      ++checked;
    }
  }
  CHECK(checked >= 13 * static_cast<int>(bad.size()));
  CHECK(snapshot(api.db()) == before);

  // The same key, well formed, gets through on every route (the refusals
  // above were about the credential, not the request).
  for (const auto& route : http::routes()) {
    if (!route.tenant_scoped || route.method != "GET")
      continue;
    auto c = call_for(route, batch, "a0000");
    if (c.path.find("/events") != std::string::npos)
      continue; // a stream; covered by the write-key test
    INFO(c.path);
    CHECK(send(api, c, bearer(writer)).status == 200);
  }
}

TEST_CASE("keys mode: a read key reads, and gets 403 forbidden on every "
          "write route without anything written") {
  api_fixture api{keys_mode()};
  auto writer = make_key(api.db(), {"acme", "main"}, domain::key_role::write);
  auto reader = make_key(api.db(), {"acme", "main"}, domain::key_role::read);
  auto batch = acme_batch(api, writer);
  auto before = snapshot(api.db());
  int writes = 0, reads = 0;
  for (const auto& route : http::routes()) {
    if (!route.tenant_scoped)
      continue;
    auto c = call_for(route, batch, "a0000");
    INFO(c.method << " " << c.path);
    if (c.write) {
      check_error(send(api, c, bearer(reader)), 403, "forbidden");
      ++writes;
    } else if (c.path.find("/events") == std::string::npos) {
      CHECK(send(api, c, bearer(reader)).status == 200);
      ++reads;
    }
  }
  CHECK(writes >= 6);
  CHECK(reads >= 6);
  CHECK(snapshot(api.db()) == before);
  // HEAD is a read.
  CHECK(api.send("HEAD", "/api/v1/batches/" + batch, "", "", bearer(reader))
            .status == 200);
}

TEST_CASE("keys mode: tenant headers that differ from the key's tenant get "
          "403 on every route, and matching ones are accepted") {
  api_fixture api{keys_mode()};
  auto writer = make_key(api.db(), {"acme", "main"}, domain::key_role::write);
  auto batch = acme_batch(api, writer);
  auto before = snapshot(api.db());
  const std::vector<httplib::Headers> mismatched = {
      {{"X-Org-ID", "globex"}},
      {{"X-Workspace-ID", "other"}},
      {{"X-Org-ID", "globex"}, {"X-Workspace-ID", "main"}},
      {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "Main"}},
      {{"X-Org-ID", "acme"}, {"X-Org-ID", "acme"}},
      {{"X-Org-ID", "bad org!"}},
  };
  for (const auto& route : http::routes()) {
    if (!route.tenant_scoped)
      continue;
    auto c = call_for(route, batch, "a0000");
    for (auto h : mismatched) {
      h.emplace("Authorization", "Bearer " + writer);
      INFO(c.method << " " << c.path);
      check_error(send(api, c, h), 403, "forbidden");
    }
  }
  CHECK(snapshot(api.db()) == before);
  auto h = bearer(writer);
  h.emplace("X-Org-ID", "acme");
  h.emplace("X-Workspace-ID", "main");
  CHECK(api.send("GET", "/api/v1/batches/" + batch, "", "", h).status == 200);
}

TEST_CASE("keys mode: a valid key of another tenant sees 404 for every "
          "route naming an object, and nothing of the first tenant in "
          "lists") {
  api_fixture api{keys_mode()};
  auto acme_key = make_key(api.db(), {"acme", "main"}, domain::key_role::write);
  auto globex_key =
      make_key(api.db(), {"globex", "main"}, domain::key_role::write);
  auto batch = acme_batch(api, acme_key);
  auto before = snapshot(api.db());
  int checked = 0;
  for (const auto& route : http::routes()) {
    if (!route.tenant_scoped || route.path.find("{id}") == std::string::npos)
      continue;
    auto c = call_for(route, batch, "a0000");
    INFO(c.method << " " << c.path);
    check_error(send(api, c, bearer(globex_key)), 404, "not_found");
    ++checked;
  }
  CHECK(checked >= 8);
  CHECK(snapshot(api.db()) == before);
  auto list = api.send("GET", "/api/v1/batches", "", "", bearer(globex_key));
  REQUIRE(list.status == 200);
  CHECK(list.json()["batches"].empty());
}

TEST_CASE("keys mode: a write key acts for its own tenant without tenant "
          "headers, and health and metrics need no key") {
  api_fixture api{keys_mode()};
  auto writer = make_key(api.db(), {"acme", "main"}, domain::key_role::write);
  auto batch = acme_batch(api, writer);
  auto got =
      api.send("GET", "/api/v1/batches/" + batch, "", "", bearer(writer));
  REQUIRE(got.status == 200);
  CHECK(got.json()["org_id"] == "acme");
  CHECK(got.json()["workspace_id"] == "main");
  CHECK(api.send("GET", "/api/v1/health", "", "", {}).status == 200);
  CHECK(api.send("GET", "/metrics", "", "", {}).status == 200);
  // The scheme is case-insensitive; an unknown route is 404 before auth.
  CHECK(api.send("GET", "/api/v1/batches", "", "",
                 {{"Authorization", "bearer " + writer}})
            .status == 200);
  check_error(api.send("GET", "/api/v1/nothing", "", "", {}), 404, "not_found");
  // Deleting with the key removes the tenant's batch.
  CHECK(api.send("DELETE", "/api/v1/batches/" + batch, "", "", bearer(writer))
            .status == 204);
}

TEST_CASE("keys mode: a revoked key stops working within the cache TTL, and "
          "a key created after a failed try works within it") {
  api_fixture api{keys_mode(300ms)};
  std::string id;
  auto key = make_key(api.db(), {"acme", "main"}, domain::key_role::read, &id);
  auto get = [&](const std::string& token) {
    return api.send("GET", "/api/v1/batches", "", "", bearer(token)).status;
  };
  REQUIRE(get(key) == 200); // now cached
  revoke_key(api.db(), id);
  auto revoked_at = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return get(key) == 401; }, 5s, 20ms));
  auto took = std::chrono::steady_clock::now() - revoked_at;
  CHECK(took < 5s);
  // Still refused afterwards (not a fluke of one request).
  CHECK(get(key) == 401);

  // "No such key" is cached too, for the TTL only: a key tried before it
  // existed works soon after it is made.
  auto fresh = auth::new_token();
  auto fresh_text = auth::format_token(fresh);
  REQUIRE(get(fresh_text) == 401); // unknown: cached as none
  {
    persistence::store_config sc;
    sc.database_url = api.db().url();
    persistence::batch_store store{sc};
    domain::api_key k;
    k.id = fresh.key_id;
    k.owner = {"acme", "main"};
    k.role = domain::key_role::read;
    k.secret_hash = auth::hash_secret(fresh.secret);
    store.create_api_key(k);
  }
  auto created_at = std::chrono::steady_clock::now();
  REQUIRE(wait_until([&] { return get(fresh_text) == 200; }, 5s, 20ms));
  CHECK(std::chrono::steady_clock::now() - created_at < 300ms + 1s);
}

TEST_CASE("keys mode: an event stream opened with a key ends within 5 s of "
          "the key's revocation") {
  auto o = keys_mode(300ms);
  // Slow chunks: the batch stays unfinished far longer than the test.
  o.chunk_delay = 2s;
  o.chunk_size = 1;
  api_fixture api{o};
  std::string id;
  auto key = make_key(api.db(), {"acme", "main"}, domain::key_role::write, &id);
  json rows = json::array();
  for (int i = 0; i < 20; ++i)
    rows.push_back(activity_row("s" + std::to_string(i)));
  REQUIRE(api.send("POST", "/api/v1/activities",
                   json{{"activities", rows}}.dump(), "application/json",
                   bearer(key))
              .status == 200);
  json ids = json::array();
  for (int i = 0; i < 20; ++i)
    ids.push_back("s" + std::to_string(i));
  auto b =
      api.send("POST", "/api/v1/batches", json{{"activity_ids", ids}}.dump(),
               "application/json", bearer(key));
  REQUIRE(b.status == 201);
  auto batch = b.json()["id"].get<std::string>();

  std::string streamed;
  std::thread reader([&] {
    streamed =
        raw_exchange(api.port(),
                     "GET /api/v1/batches/" + batch +
                         "/events HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Authorization: Bearer " +
                         key + "\r\n\r\n",
                     false, 20s);
  });
  std::this_thread::sleep_for(1500ms); // the stream is open and waiting
  revoke_key(api.db(), id);
  auto revoked_at = std::chrono::steady_clock::now();
  reader.join();
  auto took = std::chrono::steady_clock::now() - revoked_at;
  INFO(streamed);
  CHECK(streamed.rfind("HTTP/1.1 200", 0) == 0);
  CHECK(streamed.find("event: done") == std::string::npos);
  CHECK(took < 5s);
  // The batch itself goes on; the key is what ended.
  pqxx::connection conn{api.db().url()};
  pqxx::read_transaction tx{conn};
  CHECK(tx.exec_params1("SELECT status FROM batch_jobs WHERE id = $1", batch)[0]
            .as<std::string>() != "completed");
}

TEST_CASE("rate limit: a tenant over its rate gets 429 rate_limited with "
          "Retry-After, and another tenant and health are not limited") {
  api_options o;
  o.tune = [](http::http_config& hc) { hc.tenant_rate_limit = 5; };
  api_fixture api{o};
  int ok = 0, limited = 0;
  for (int i = 0; i < 40; ++i) {
    auto r = api.get("/api/v1/batches", acme);
    if (r.status == 200) {
      ++ok;
    } else {
      check_error(r, 429, "rate_limited");
      auto wait = std::stoi(r.header("Retry-After"));
      CHECK(wait >= 1);
      CHECK(wait <= 2);
      ++limited;
    }
  }
  // Burst 10, refilled at 5/s over the loop's fraction of a second.
  CHECK(ok >= 10);
  CHECK(ok <= 20);
  CHECK(limited >= 20);
  CHECK(api.get("/api/v1/batches", globex).status == 200);
  CHECK(api.send("GET", "/api/v1/health", "", "", {}).status == 200);
  // Tokens come back: after a second acme is served again.
  std::this_thread::sleep_for(1100ms);
  CHECK(api.get("/api/v1/batches", acme).status == 200);
}
TEST_CASE("quota: 16 concurrent submits at --max-pending-batches 10 leave "
          "exactly 10 batches, the others get 429 quota_exceeded, and "
          "another tenant and health are unaffected") {
  api_options o;
  // Slow chunks: the admitted batches stay unfinished for the whole test.
  o.chunk_delay = 2s;
  o.chunk_size = 1;
  o.tune_engine = [](engine_config& ec) { ec.max_pending_batches = 10; };
  api_fixture api{o};
  api.upload_activities(4, acme);
  api.upload_activities(4, globex);
  std::atomic<int> created{0}, refused{0}, other{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < 16; ++i)
    clients.emplace_back([&] {
      auto r =
          api.post_json("/api/v1/batches",
                        {{"activity_ids", {"a0000", "a0001", "a0002"}}}, acme);
      if (r.status == 201) {
        ++created;
      } else if (r.status == 429 &&
                 r.json()["error"]["code"] == "quota_exceeded" &&
                 !r.header("Retry-After").empty()) {
        ++refused;
      } else {
        ++other;
      }
    });
  for (auto& t : clients)
    t.join();
  CHECK(created == 10);
  CHECK(refused == 6);
  CHECK(other == 0);
  pqxx::connection conn{api.db().url()};
  pqxx::read_transaction tx{conn};
  CHECK(tx.exec1("SELECT count(*) FROM batch_jobs WHERE org_id = 'acme'")[0]
            .as<int>() == 10);
  // One more is refused; another tenant is not; health is fine.
  check_error(
      api.post_json("/api/v1/batches", {{"activity_ids", {"a0000"}}}, acme),
      429, "quota_exceeded");
  CHECK(api.post_json("/api/v1/batches", {{"activity_ids", {"a0000"}}}, globex)
            .status == 201);
  CHECK(api.send("GET", "/api/v1/health", "", "", {}).status == 200);
  // A deleted pending batch (or a cancelled one) frees its place.
  auto list = api.get("/api/v1/batches?status=pending&limit=1", acme).json();
  REQUIRE(list["batches"].size() == 1);
  auto id = list["batches"][0]["id"].get<std::string>();
  CHECK(api.post_json("/api/v1/batches/" + id + "/cancel", json::object(), acme)
            .status == 200);
  CHECK(api.post_json("/api/v1/batches", {{"activity_ids", {"a0000"}}}, acme)
            .status == 201);
}

TEST_CASE("keys mode: a request with a large body and no valid key is "
          "answered 401 before its body is sent") {
  api_fixture api{keys_mode()};
  auto writer = make_key(api.db(), {"acme", "main"}, domain::key_role::read);
  // 4 MiB announced, nothing sent: the answer must not wait for the body.
  for (const std::string& auth :
       {std::string{}, std::string("Authorization: Bearer ogf_nope\r\n"),
        "Authorization: Bearer " + writer + "\r\n"}) {
    auto answer = raw_exchange(
        api.port(),
        "POST /api/v1/activities HTTP/1.1\r\nHost: x\r\n"
        "Content-Type: application/json\r\nContent-Length: 4194304\r\n" +
            auth + "\r\n",
        false, 5s);
    INFO(answer);
    // No key or a bad one: 401; a read key on a write route: 403.
    CHECK(answer.rfind(auth.find(writer) != std::string::npos ? "HTTP/1.1 403"
                                                              : "HTTP/1.1 401",
                       0) == 0);
  }
}
