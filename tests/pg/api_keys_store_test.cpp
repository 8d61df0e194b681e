// The store's API key methods against a real PostgreSQL: create, find,
// list (all, by org), revoke, and what the table refuses.
#include "persistence/batch_store.hpp"

#include "common/api_token.hpp"
#include "domain/time.hpp"
#include "store_test_support.hpp"

using namespace ogf;
using namespace ogf::store_test;
using domain::api_key;
using domain::key_role;
using ogf::testing::test_database;

namespace {

/// A key as `keys create` makes one, with a fresh token.
api_key new_key(const tenant& t, key_role role = key_role::write,
                const std::string& name = "ci") {
  auto token = auth::new_token();
  api_key k;
  k.id = token.key_id;
  k.owner = t;
  k.name = name;
  k.role = role;
  k.secret_hash = auth::hash_secret(token.secret);
  return k;
}

constexpr domain::timestamp_us one_hour_us = 3600LL * 1000 * 1000;

} // namespace

TEST_CASE("a created API key is found again with every field as stored") {
  test_database db;
  auto store = make_store(db);
  auto k = new_key(tenant_a, key_role::read, "reporting");
  k.expires_at = domain::now_us() + 90 * 24 * one_hour_us + 123;

  auto before = domain::now_us();
  auto created = store.create_api_key(k);
  CHECK(created.id == k.id);
  CHECK(created.owner == tenant_a);
  CHECK(created.name == "reporting");
  CHECK(created.role == key_role::read);
  CHECK(created.secret_hash == k.secret_hash);
  // created_at comes from the database, to the microsecond.
  CHECK(created.created_at >= before - 5 * 1000 * 1000);
  CHECK(created.created_at <= domain::now_us() + 5 * 1000 * 1000);
  CHECK(created.expires_at == k.expires_at);
  CHECK_FALSE(created.revoked_at);

  auto found = store.find_api_key(k.id);
  REQUIRE(found);
  CHECK(found->id == k.id);
  CHECK(found->owner == tenant_a);
  CHECK(found->name == "reporting");
  CHECK(found->role == key_role::read);
  CHECK(found->secret_hash == k.secret_hash);
  CHECK(found->created_at == created.created_at);
  CHECK(found->expires_at == k.expires_at);
  CHECK_FALSE(found->revoked_at);
}

TEST_CASE("a key without expiry and with an empty name is stored as such") {
  test_database db;
  auto store = make_store(db);
  auto k = new_key(tenant_b, key_role::write, "");
  store.create_api_key(k);
  auto found = store.find_api_key(k.id);
  REQUIRE(found);
  CHECK(found->name.empty());
  CHECK(found->role == key_role::write);
  CHECK_FALSE(found->expires_at);
}

TEST_CASE("finding an unknown or malformed key id gives nothing") {
  test_database db;
  auto store = make_store(db);
  store.create_api_key(new_key(tenant_a));
  CHECK_FALSE(store.find_api_key("0123456789abcdef"));
  for (const std::string& bad : std::vector<std::string>{
           "", "0123456789ABCDEF", "0123456789abcde", "0123456789abcdef0",
           "' OR 1=1 --xxxxx", std::string("0123456789abcde\0", 16)}) {
    INFO(bad);
    CHECK_FALSE(store.find_api_key(bad));
    CHECK_FALSE(store.revoke_api_key(bad));
  }
}

TEST_CASE("keys are listed oldest first, all of them or one org's") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  std::vector<api_key> made;
  for (const auto* t : {&tenant_a, &tenant_b, &tenant_a2, &tenant_b})
    made.push_back(store.create_api_key(new_key(*t)));
  // Creation times as a clock would give them, one hour apart, the first
  // two at the same instant (ordered by id then).
  q.exec("UPDATE api_keys SET created_at = CASE id"
         " WHEN " +
         q.quote(made[0].id) +
         " THEN timestamptz '2026-01-01 10:00:00+00'"
         " WHEN " +
         q.quote(made[1].id) +
         " THEN timestamptz '2026-01-01 10:00:00+00'"
         " WHEN " +
         q.quote(made[2].id) +
         " THEN timestamptz '2026-01-01 11:00:00+00'"
         " ELSE timestamptz '2026-01-01 12:00:00+00' END");
  auto ids = [](const std::vector<api_key>& keys) {
    std::vector<std::string> out;
    for (const auto& k : keys)
      out.push_back(k.id);
    return out;
  };
  auto first_two = std::minmax(made[0].id, made[1].id);
  CHECK(ids(store.list_api_keys(std::nullopt)) ==
        std::vector<std::string>{first_two.first, first_two.second, made[2].id,
                                 made[3].id});
  // org-a holds tenant_a's and tenant_a2's keys.
  auto of_a = store.list_api_keys(std::string("org-a"));
  CHECK(ids(of_a) == std::vector<std::string>{made[0].id, made[2].id});
  CHECK(of_a[0].created_at == *domain::parse_rfc3339("2026-01-01T10:00:00Z"));
  CHECK(of_a[1].owner == tenant_a2);
  CHECK(ids(store.list_api_keys(std::string("org-b"))) ==
        std::vector<std::string>{made[1].id, made[3].id});
  CHECK(store.list_api_keys(std::string("org-none")).empty());
}

TEST_CASE("revoking a key sets revoked_at once, revoking again keeps the "
          "first time, and an unknown id is refused") {
  test_database db;
  auto store = make_store(db);
  sql q{db};
  auto k = store.create_api_key(new_key(tenant_a));
  auto other = store.create_api_key(new_key(tenant_a));

  CHECK(store.revoke_api_key(k.id));
  auto first = store.find_api_key(k.id);
  REQUIRE(first);
  REQUIRE(first->revoked_at);
  CHECK(*first->revoked_at >= first->created_at);
  CHECK_FALSE(domain::key_usable(*first, domain::now_us()));

  CHECK(store.revoke_api_key(k.id));
  auto second = store.find_api_key(k.id);
  REQUIRE(second);
  CHECK(second->revoked_at == first->revoked_at);

  CHECK_FALSE(store.revoke_api_key("ffffffffffffffff"));
  // The other key is untouched; revoked keys are still listed.
  CHECK_FALSE(store.find_api_key(other.id)->revoked_at);
  CHECK(store.list_api_keys(std::nullopt).size() == 2);
  CHECK(q.number(
            "SELECT count(*) FROM api_keys WHERE revoked_at IS NOT NULL") == 1);
}

TEST_CASE("an expired key is kept and found, and reads as not usable") {
  test_database db;
  auto store = make_store(db);
  auto k = new_key(tenant_a);
  k.expires_at = domain::now_us() - one_hour_us;
  store.create_api_key(k);
  auto found = store.find_api_key(k.id);
  REQUIRE(found);
  CHECK(found->expires_at == k.expires_at);
  CHECK_FALSE(found->revoked_at);
  CHECK_FALSE(domain::key_usable(*found, domain::now_us()));
  CHECK(store.list_api_keys(std::nullopt).size() == 1);
}

TEST_CASE("a key id that is taken is refused with a clear error and the "
          "stored key stays as it was") {
  test_database db;
  auto store = make_store(db);
  auto k = store.create_api_key(new_key(tenant_a, key_role::read, "first"));
  auto clash = new_key(tenant_b, key_role::write, "second");
  clash.id = k.id;
  try {
    store.create_api_key(clash);
    FAIL("a second key with the same id must be refused");
  } catch (const store_exception& e) {
    CHECK(e.code == engine_errc::conflict);
    CHECK(std::string(e.what()) ==
          "an API key with id " + k.id + " already exists");
  }
  auto stored = store.find_api_key(k.id);
  REQUIRE(stored);
  CHECK(stored->owner == tenant_a);
  CHECK(stored->name == "first");
  CHECK(stored->secret_hash == k.secret_hash);
}

TEST_CASE("the table refuses malformed key values") {
  test_database db;
  auto store = make_store(db);
  auto bad = [&](auto change) {
    auto k = new_key(tenant_a);
    change(k);
    return errc_of([&] { store.create_api_key(k); });
  };
  CHECK(bad([](api_key& k) { k.id = "ABCDEF0123456789"; }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.owner.org_id = "bad org"; }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.owner.workspace_id = ""; }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.owner.org_id = std::string(65, 'o'); }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.name = std::string(201, 'n'); }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.name = std::string("a\0b", 3); }) ==
        engine_errc::validation);
  CHECK(bad([](api_key& k) { k.secret_hash = "secret"; }) ==
        engine_errc::validation);
  CHECK(store.list_api_keys(std::nullopt).empty());
}
