// batch_store's API key methods (declared in batch_store.hpp): the key
// aggregate in a file of its own, with its statements in
// persistence/sql/keys.sql.
#include "persistence/batch_store.hpp"

#include <algorithm>

namespace ogf::persistence {

namespace {

using domain::api_key;

/// True for a key id as tokens carry it: 16 lower-case hex digits. No other
/// id can be stored (the table CHECKs it), so anything else is "no such key"
/// without a round trip.
bool is_key_id(const std::string& id) {
  return id.size() == 16 && std::all_of(id.begin(), id.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f');
         });
}

/// libpq sends text parameters as C strings: a NUL byte would cut the value
/// short (a name "ci\0x" stored as "ci"). Refused before anything is sent.
void require_no_nul(const std::string& value, const char* what) {
  if (value.find('\0') != std::string::npos)
    throw store_exception(engine_errc::validation,
                          std::string(what) + " contains a NUL byte");
}

template <class T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<T>();
}

/// A row of the api_key_columns fragment.
api_key read_api_key(const pqxx::row& r) {
  api_key k;
  k.id = r[0].as<std::string>();
  k.owner = {r[1].as<std::string>(), r[2].as<std::string>()};
  k.name = r[3].as<std::string>();
  auto role = domain::parse_key_role(r[4].as<std::string>());
  if (!role)
    throw store_exception(engine_errc::internal,
                          "stored API key " + k.id + " has an unknown role");
  k.role = *role;
  k.secret_hash = r[5].as<std::string>();
  k.created_at = r[6].as<domain::timestamp_us>();
  k.expires_at = opt<domain::timestamp_us>(r[7]);
  k.revoked_at = opt<domain::timestamp_us>(r[8]);
  return k;
}

std::vector<api_key> read_api_keys(const pqxx::result& rows) {
  std::vector<api_key> out;
  out.reserve(rows.size());
  for (const auto& r : rows)
    out.push_back(read_api_key(r));
  return out;
}

} // namespace

api_key batch_store::create_api_key(const api_key& k) {
  require_no_nul(k.id, "key id");
  require_no_nul(k.owner.org_id, "org id");
  require_no_nul(k.owner.workspace_id, "workspace id");
  require_no_nul(k.name, "key name");
  require_no_nul(k.secret_hash, "secret hash");
  pqxx::work tx{*conn_};
  auto rows = tx.exec_prepared(
      "insert_api_key", k.id, k.owner.org_id, k.owner.workspace_id, k.name,
      std::string(domain::to_string(k.role)), k.secret_hash, k.expires_at);
  if (rows.empty())
    throw store_exception(engine_errc::conflict,
                          "an API key with id " + k.id + " already exists");
  auto stored = read_api_key(rows[0]);
  tx.commit();
  return stored;
}

std::vector<api_key>
batch_store::list_api_keys(const std::optional<std::string>& org_id) {
  pqxx::nontransaction tx{*conn_};
  if (!org_id)
    return read_api_keys(tx.exec_prepared("list_api_keys"));
  require_no_nul(*org_id, "org id");
  return read_api_keys(tx.exec_prepared("list_api_keys_of_org", *org_id));
}

bool batch_store::revoke_api_key(const std::string& id) {
  if (!is_key_id(id))
    return false;
  pqxx::work tx{*conn_};
  auto rows = tx.exec_prepared("revoke_api_key", id);
  tx.commit();
  return !rows.empty();
}

std::optional<api_key> batch_store::find_api_key(const std::string& id) {
  if (!is_key_id(id))
    return std::nullopt;
  pqxx::nontransaction tx{*conn_};
  auto rows = tx.exec_prepared("find_api_key", id);
  if (rows.empty())
    return std::nullopt;
  return read_api_key(rows[0]);
}

} // namespace ogf::persistence
