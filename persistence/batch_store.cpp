#include "persistence/batch_store.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <random>
#include <unordered_map>

#include <poll.h>

#include "domain/exact_json.hpp"
#include "persistence/named_queries.hpp"

namespace ogf::persistence {

namespace {

using domain::batch;
using domain::tenant;
using std::chrono::milliseconds;

/// The statements of persistence/sql/*.sql, parsed once per process.
const std::vector<named_query>& store_queries() {
  static const auto queries = parse_named_queries(embedded_sql_files());
  return queries;
}

bool is_uuid(const std::string& s) {
  if (s.size() != 36)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (s[i] != '-')
        return false;
    } else if (!std::isxdigit(static_cast<unsigned char>(s[i]))) {
      return false;
    }
  }
  return true;
}

void require_uuid(const std::string& id) {
  if (!is_uuid(id))
    throw store_exception(engine_errc::not_found, "batch not found");
}

template <class T>
std::optional<T> opt(const pqxx::field& f) {
  if (f.is_null())
    return std::nullopt;
  return f.as<T>();
}

/// Metadata as PostgreSQL's jsonb text gives it back, every number with its
/// digits (jsonb keeps numeric precision; a double would not).
nlohmann::json read_metadata(const pqxx::field& f) {
  auto parsed = domain::parse_json_exact(f.as<std::string>());
  if (!parsed)
    throw store_exception(engine_errc::internal,
                          "stored metadata " + parsed.error().message);
  return std::move(*parsed);
}

batch read_batch(const pqxx::row& r) {
  batch b;
  b.id = r[0].as<std::string>();
  b.owner = {r[1].as<std::string>(), r[2].as<std::string>()};
  b.status = domain::parse_batch_status(r[3].as<std::string>())
                 .value_or(domain::batch_status::failed);
  b.priority = r[4].as<int>();
  b.max_retries = r[5].as<int>();
  b.retry_count = r[6].as<int>();
  b.total_activities = r[7].as<std::int64_t>();
  b.processed_activities = r[8].as<std::int64_t>();
  b.succeeded_activities = r[9].as<std::int64_t>();
  b.failed_activities = r[10].as<std::int64_t>();
  b.total_emissions_kg_co2e = r[11].as<std::string>();
  b.cancel_requested = r[12].as<bool>();
  b.error = opt<std::string>(r[13]);
  b.metadata = read_metadata(r[14]);
  b.idempotency_key = opt<std::string>(r[15]);
  b.created_at = r[16].as<std::int64_t>();
  b.updated_at = r[17].as<std::int64_t>();
  b.started_at = opt<std::int64_t>(r[18]);
  b.completed_at = opt<std::int64_t>(r[19]);
  b.run_after = r[20].as<std::int64_t>();
  // By name: the fragment's other columns may grow around these.
  if (const auto url = r["callback_url"]; !url.is_null()) {
    domain::batch_callback cb;
    cb.url = url.as<std::string>();
    // Until the batch ends, its callback waits for that end; the columns
    // still describe the previous end's delivery (after a retry).
    if (domain::is_terminal(b.status)) {
      cb.status = r["callback_status"].as<std::string>();
      cb.attempts = r["callback_attempts"].as<int>();
      cb.last_error = opt<std::string>(r["callback_last_error"]);
    }
    b.callback = std::move(cb);
  }
  return b;
}

} // namespace

domain::batch read_batch_row(const pqxx::row& r) {
  return read_batch(r);
}

namespace {

void append_escaped(std::string& out, const std::string& v) {
  out += '"';
  for (char c : v) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  out += '"';
}

std::string uuid_array(const std::vector<lease_ref>& leases) {
  std::vector<std::string> ids;
  for (const auto& l : leases)
    ids.push_back(l.batch_id);
  return to_pg_array(ids);
}

std::string token_array(const std::vector<lease_ref>& leases) {
  std::string out = "{";
  for (std::size_t i = 0; i < leases.size(); ++i) {
    if (i > 0)
      out += ',';
    out += std::to_string(leases[i].token);
  }
  return out + "}";
}

/// libpq sends text parameters as C strings: a NUL byte would silently cut
/// the value short (an idempotency key "k\0x" stored as "k", a lookup of
/// "ab\0cd" finding "ab"). PostgreSQL text cannot hold NUL anyway, so such
/// a value is refused before anything is sent.
void check_param(const std::string& value) {
  if (value.find('\0') != std::string::npos)
    throw store_exception(engine_errc::validation, "text contains a NUL byte");
}

void check_param(const std::optional<std::string>& value) {
  if (value)
    check_param(*value);
}

template <class T>
void check_param(const T&) {}

/// Every statement runs through these: parameters checked, then executed.
template <class... Args>
pqxx::result exec_checked(pqxx::transaction_base& tx, const char* name,
                          const Args&... args) {
  (check_param(args), ...);
  return tx.exec_prepared(name, args...);
}

template <class... Args>
pqxx::row exec_checked1(pqxx::transaction_base& tx, const char* name,
                        const Args&... args) {
  (check_param(args), ...);
  return tx.exec_prepared1(name, args...);
}

/// Whether the batch exists for this tenant, and its status; distinguishes
/// not_found from invalid_state after a refused conditional update.
[[noreturn]] void explain_refusal(pqxx::transaction_base& tx, const tenant& t,
                                  const std::string& id) {
  auto rows = exec_checked(tx, "status_of", id, t.org_id, t.workspace_id);
  if (rows.empty())
    throw store_exception(engine_errc::not_found, "batch not found");
  throw store_exception(engine_errc::invalid_state,
                        rows[0][0].as<std::string>());
}

} // namespace

void check_deadline(const deadline& d) {
  if (d.passed())
    throw store_exception(engine_errc::unavailable, deadline_passed_message);
}

std::string to_pg_array(const std::vector<std::string>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    append_escaped(out, values[i]);
  }
  return out + "}";
}

std::string to_pg_array(const std::vector<std::optional<std::string>>& values) {
  std::string out = "{";
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0)
      out += ',';
    if (values[i])
      append_escaped(out, *values[i]);
    else
      out += "NULL";
  }
  return out + "}";
}

/// A read of one statement runs without BEGIN / SET TRANSACTION READ ONLY /
/// ROLLBACK around it (autocommit: one statement sees one snapshot
/// anyway): one round trip instead of four. Every chunk is resolved by
/// such a read (on the 2-core pipeline benchmark the gain was within the
/// run-to-run noise: the CPU goes to the statements themselves).
using single_read = pqxx::nontransaction;

batch_store::batch_store(store_config cfg) : cfg_(std::move(cfg)) {
  connect();
}

void batch_store::connect() {
  conn_ = std::make_unique<pqxx::connection>(cfg_.database_url);
  {
    pqxx::nontransaction tx{*conn_};
    tx.exec("SET statement_timeout = " +
            std::to_string(cfg_.statement_timeout.count()));
    if (cfg_.lock_timeout.count() > 0)
      tx.exec("SET lock_timeout = " +
              std::to_string(cfg_.lock_timeout.count()));
    tx.exec_params("SELECT set_config('application_name', $1, false)",
                   cfg_.application_name);
    // The database (or PGDATESTYLE / PGOPTIONS in the environment) may set
    // other defaults; the store relies on these two:
    // - dates are read as text and must come out as YYYY-MM-DD;
    // - the idempotent submit (ON CONFLICT DO NOTHING, then reading the
    //   winner's row) and the SKIP LOCKED claim need each statement to see
    //   rows committed meanwhile: READ COMMITTED. Under REPEATABLE READ or
    //   SERIALIZABLE they fail with serialization errors or miss the row.
    // Every statement of the store is written as index lookups. A prepared
    // statement's generic plan is kept until the table's statistics change,
    // and one planned while a table was nearly empty (a fresh database:
    // the first chunks are recorded before the first bulk upload) scanned
    // the whole table in every record_chunk once it had grown - pipeline
    // of 10-item batches 4x slower until autovacuum's next ANALYZE, up to a
    // minute later. Seq scans stay possible where no index applies.
    tx.exec("SET enable_seqscan = off");
    // JIT compiles a statement whose estimate passes jit_above_cost: 100 to
    // 300 ms of compiling for statements that run in a millisecond. The
    // claim's estimate passes it when its small tables (batch_claim_queues)
    // have no statistics yet; no statement here is worth compiling.
    tx.exec("SET jit = off");
    tx.exec("SET DateStyle = 'ISO, YMD'");
    tx.exec("SET default_transaction_isolation = 'read committed'");
    // Read by the quota trigger of batch_jobs (migration 006) on every
    // insert; unset, it only counts.
    if (cfg_.max_pending_batches > 0)
      tx.exec_params("SELECT set_config('ogf.max_pending_batches', $1, false)",
                     std::to_string(cfg_.max_pending_batches));
  }
  prepare_all();
}

void batch_store::reconnect() {
  conn_.reset();
  connect();
}

bool batch_store::connected() const {
  return conn_ && conn_->is_open();
}

bool batch_store::usable() {
  if (!connected())
    return false;
  try {
    // libpq's socket is non-blocking: get_notifs (PQconsumeInput) only
    // takes what already arrived. A server ending the connection sends a
    // FATAL and then closes: the first read takes the message (libpq files
    // it as a notice), the next one meets EOF, marks the connection bad and
    // throws. An idle healthy connection has nothing to read: one poll.
    for (int round = 0; round < 4; ++round) {
      pollfd p{conn_->sock(), POLLIN, 0};
      if (::poll(&p, 1, 0) <= 0)
        break;
      conn_->get_notifs();
      if (!connected())
        return false;
    }
  } catch (const std::exception&) {
    return false;
  }
  return connected();
}

void batch_store::prepare_all() {
  for (const auto& q : store_queries())
    conn_->prepare(q.name, q.sql);
}

bool batch_store::notify_due() {
  // NOTIFY takes a global lock at commit; at most one per interval keeps
  // commit throughput up. Pollers also tick, so a skipped NOTIFY delays a
  // batch by at most the poll interval — and the next submit notifies.
  auto now = std::chrono::steady_clock::now();
  if (now - last_notify_ < cfg_.notify_interval)
    return false;
  last_notify_ = now;
  return true;
}

void batch_store::maybe_notify(pqxx::transaction_base& tx) {
  if (notify_due())
    tx.exec(std::string("NOTIFY ") + notify_channel);
}

submit_outcome batch_store::submit(const submit_request& req) {
  check_deadline(req.until);
  pqxx::work tx{*conn_};
  const auto& t = req.owner;
  if (req.idempotency_key)
    exec_checked(tx, "expire_idempotency_key", t.org_id, t.workspace_id,
                 *req.idempotency_key);
  auto inserted = exec_checked(
      tx, "insert_batch", t.org_id, t.workspace_id, req.priority,
      req.max_retries, static_cast<std::int64_t>(req.activity_ids.size()),
      req.metadata_json, req.idempotency_key,
      req.idempotency_key ? std::optional<std::string>(req.request_hash)
                          : std::nullopt,
      req.run_after, req.callback_url);
  if (inserted.empty()) {
    // Same key seen before (or by a concurrent submit that just committed).
    auto existing = exec_checked(tx, "find_by_key", t.org_id, t.workspace_id,
                                 *req.idempotency_key);
    if (existing.empty())
      throw store_exception(engine_errc::unavailable,
                            "idempotency key race, retry");
    if (existing[0]["request_hash"].as<std::string>("") != req.request_hash)
      throw store_exception(engine_errc::conflict,
                            "idempotency key reused with a different request");
    auto b = read_batch(existing[0]);
    tx.commit();
    return {std::move(b), true};
  }
  auto b = read_batch(inserted[0]);
  exec_checked(tx, "insert_items", b.id, to_pg_array(req.activity_ids));
  maybe_notify(tx);
  check_deadline(req.until);
  tx.commit();
  return {std::move(b), false};
}

namespace {

/// A random (version 4) UUID, lower case.
std::string random_uuid() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  std::uint64_t hi = rng(), lo = rng();
  hi = (hi & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;
  lo = (lo & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;
  char buf[37];
  std::snprintf(buf, sizeof buf, "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(hi >> 32),
                static_cast<unsigned>((hi >> 16) & 0xffff),
                static_cast<unsigned>(hi & 0xffff),
                static_cast<unsigned>(lo >> 48),
                static_cast<unsigned long long>(lo & 0xffffffffffffULL));
  return buf;
}

/// After the quota refused a group (`ep`): of each refused tenant's
/// members in `live`, keeps as many as it had room for before the
/// statement, first come first kept, and answers the others
/// quota_exceeded. False when the refusal names no tenant it can act on
/// (then each member has to be tried alone). The group shrinks with every
/// refusal - a tenant's room is less than the members it was sent - so
/// resending ends.
bool keep_what_fits(std::exception_ptr ep,
                    const std::vector<submit_request>& reqs,
                    std::vector<std::size_t>& live,
                    std::vector<submit_result>& out) {
  auto refused = quota_refusals(ep);
  if (refused.empty())
    return false;
  std::vector<std::size_t> kept;
  for (auto i : live) {
    const auto& owner = reqs[i].owner;
    auto r = std::find_if(refused.begin(), refused.end(),
                          [&](const quota_refusal& q) {
                            return q.org_id == owner.org_id &&
                                   q.workspace_id == owner.workspace_id;
                          });
    if (r == refused.end()) {
      kept.push_back(i);
    } else if (r->open < r->limit) {
      ++r->open;
      kept.push_back(i);
    } else {
      out[i].error = engine_errc::quota_exceeded;
      out[i].message = quota_message(r->limit);
    }
  }
  if (kept.size() == live.size())
    return false;
  live = std::move(kept);
  return true;
}

} // namespace

std::vector<submit_result>
batch_store::submit_many(const std::vector<submit_request>& reqs) {
  std::vector<submit_result> out(reqs.size());
  auto expire = [&](std::size_t i) {
    out[i].error = engine_errc::unavailable;
    out[i].message = deadline_passed_message;
  };
  // The requests still to write: those whose callers still wait.
  std::vector<std::size_t> live;
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    if (reqs[i].until.passed())
      expire(i);
    else
      live.push_back(i);
  }
  // One statement in its own implicit transaction (no BEGIN, no COMMIT).
  // If it finds a member whose caller gave up by the time it holds its
  // locks, it fails on purpose and writes nothing; the group goes again
  // without the members whose time is up.
  bool refused = false;
  // libpqxx prepares a statement on its first use, and PREPARE takes the
  // statement's locks outside the statement's own transaction: a stall
  // there must come before the callers' remaining time is measured.
  conn_->prepare_now("insert_batches");
  while (!live.empty() && !refused) {
    std::vector<std::string> ids, orgs, wss, prios, maxrs, totals, metas,
        item_batches, item_ids, left;
    std::vector<std::optional<std::string>> run_afters;
    std::vector<std::optional<std::string>> callback_urls;
    auto now = std::chrono::steady_clock::now();
    for (auto i : live) {
      const auto& r = reqs[i];
      ids.push_back(random_uuid());
      orgs.push_back(r.owner.org_id);
      wss.push_back(r.owner.workspace_id);
      prios.push_back(std::to_string(r.priority));
      maxrs.push_back(std::to_string(r.max_retries));
      totals.push_back(std::to_string(r.activity_ids.size()));
      metas.push_back(r.metadata_json);
      run_afters.push_back(
          r.run_after ? std::optional<std::string>(std::to_string(*r.run_after))
                      : std::nullopt);
      callback_urls.push_back(r.callback_url);
      const auto& at = r.until.at;
      auto ms =
          at == std::chrono::steady_clock::time_point::max()
              ? std::int64_t{365} * 24 * 3600 * 1000
              : std::chrono::duration_cast<milliseconds>(at - now).count();
      left.push_back(std::to_string(std::max<std::int64_t>(ms, 0)));
      for (const auto& a : r.activity_ids) {
        item_batches.push_back(ids.back());
        item_ids.push_back(a);
      }
    }
    try {
      bool wake = notify_due();
      pqxx::nontransaction tx{*conn_};
      auto rows = exec_checked(
          tx, "insert_batches", to_pg_array(ids), to_pg_array(orgs),
          to_pg_array(wss), to_pg_array(prios), to_pg_array(maxrs),
          to_pg_array(totals), to_pg_array(metas), to_pg_array(item_batches),
          to_pg_array(item_ids), to_pg_array(left), std::string(notify_channel),
          wake, to_pg_array(run_afters), to_pg_array(callback_urls));
      std::unordered_map<std::string, std::size_t> index;
      for (std::size_t k = 0; k < ids.size(); ++k)
        index.emplace(ids[k], live[k]);
      for (const auto& row : rows) {
        auto b = read_batch(row);
        auto it = index.find(b.id);
        if (it != index.end())
          out[it->second].outcome = submit_outcome{std::move(b), false};
      }
      for (auto i : live)
        if (!out[i].outcome) {
          out[i].error = engine_errc::internal;
          out[i].message = "batch missing from the group insert";
        }
      return out;
    } catch (...) {
      std::string message;
      bool reconnect = false;
      auto code =
          classify_exception(std::current_exception(), message, reconnect);
      if (message.find("ogf: a caller gave up") != std::string::npos) {
        // Nothing was written. Leave out whoever's time is up by now; if
        // by our clock nobody's is, the database's clock ran ahead: all
        // of them are as good as late.
        std::vector<std::size_t> still;
        for (auto i : live) {
          if (reqs[i].until.passed())
            expire(i);
          else
            still.push_back(i);
        }
        if (still.size() == live.size()) {
          for (auto i : live)
            expire(i);
          still.clear();
        }
        live = std::move(still);
        continue;
      }
      if (code == engine_errc::quota_exceeded &&
          keep_what_fits(std::current_exception(), reqs, live, out))
        continue;
      if (code != engine_errc::validation &&
          code != engine_errc::quota_exceeded)
        throw; // the whole group failed for a reason every member shares
      refused = true;
    }
  }
  if (live.empty())
    return out;
  // One request holds a value the database refuses: find it by trying each
  // alone, so the others still go through.
  for (auto i : live) {
    try {
      out[i].outcome = submit(reqs[i]);
    } catch (...) {
      bool reconnect = false;
      out[i].error = classify_exception(std::current_exception(),
                                        out[i].message, reconnect);
      if (reconnect) // earlier members may be committed: not retryable
        throw store_exception(out[i].error, out[i].message);
    }
  }
  return out;
}

batch batch_store::get(const tenant& t, const std::string& id) {
  require_uuid(id);
  single_read tx{*conn_};
  auto rows = exec_checked(tx, "get_batch", id, t.org_id, t.workspace_id);
  if (rows.empty())
    throw store_exception(engine_errc::not_found, "batch not found");
  return read_batch(rows[0]);
}

batch_page batch_store::list(const tenant& t, const domain::batch_filter& f) {
  std::optional<std::string> statuses;
  if (!f.statuses.empty()) {
    std::vector<std::string> names;
    for (auto s : f.statuses)
      names.emplace_back(domain::to_string(s));
    statuses = to_pg_array(names);
  }
  std::optional<std::int64_t> after_ts;
  std::optional<std::string> after_id;
  if (f.after) {
    after_ts = f.after->first;
    after_id = f.after->second;
    if (!is_uuid(*after_id))
      throw store_exception(engine_errc::validation, "bad page token");
  }
  single_read tx{*conn_};
  auto rows =
      exec_checked(tx, "list_batches", t.org_id, t.workspace_id, statuses,
                   f.priority, f.created_after, f.created_before, after_ts,
                   after_id, f.limit + 1, f.offset);
  batch_page page;
  for (const auto& r : rows) {
    if (static_cast<int>(page.batches.size()) == f.limit)
      break;
    page.batches.push_back(read_batch(r));
  }
  if (static_cast<int>(rows.size()) > f.limit && !page.batches.empty())
    page.next =
        std::make_pair(page.batches.back().created_at, page.batches.back().id);
  return page;
}

item_page batch_store::items(const tenant& t, const std::string& id,
                             const domain::item_filter& f) {
  require_uuid(id);
  pqxx::read_transaction tx{*conn_};
  auto exists = exec_checked(tx, "status_of", id, t.org_id, t.workspace_id);
  if (exists.empty())
    throw store_exception(engine_errc::not_found, "batch not found");
  std::optional<std::string> status;
  if (f.status)
    status = domain::to_string(*f.status);
  auto rows = exec_checked(tx, "list_items", id, t.org_id, t.workspace_id,
                           status, f.after_activity_id, f.limit + 1);
  item_page page;
  for (const auto& r : rows) {
    if (static_cast<int>(page.items.size()) == f.limit)
      break;
    domain::batch_item it;
    it.activity_id = r[0].as<std::string>();
    it.status = domain::parse_item_status(r[1].as<std::string>())
                    .value_or(domain::item_status::failed);
    it.scope = opt<int>(r[2]);
    it.emissions_kg_co2e = opt<std::string>(r[3]);
    it.factor_id = opt<std::string>(r[4]);
    it.error = opt<std::string>(r[5]);
    it.attempts = r[6].as<int>();
    it.processed_at = opt<std::int64_t>(r[7]);
    page.items.push_back(std::move(it));
  }
  if (static_cast<int>(rows.size()) > f.limit && !page.items.empty())
    page.next_after = page.items.back().activity_id;
  return page;
}

domain::batch_counts batch_store::counts(const tenant& t) {
  single_read tx{*conn_};
  auto rows = exec_checked(tx, "batch_counts", t.org_id, t.workspace_id);
  domain::batch_counts out;
  for (const auto& r : rows)
    if (auto s = domain::parse_batch_status(r[0].as<std::string>()))
      out.by_status.emplace_back(*s, r[1].as<std::int64_t>());
  return out;
}

domain::batch_emissions batch_store::emissions(const tenant& t,
                                               const std::string& id) {
  require_uuid(id);
  single_read tx{*conn_};
  auto rows = exec_checked(tx, "batch_emissions", id, t.org_id, t.workspace_id);
  if (rows.empty())
    throw store_exception(engine_errc::not_found, "batch not found");
  domain::batch_emissions out;
  out.batch_id = id;
  for (const auto& r : rows)
    if (!r[0].is_null())
      out.scopes.push_back(
          {r[0].as<int>(), r[1].as<std::int64_t>(), r[2].as<std::string>()});
  return out;
}

cancel_outcome batch_store::cancel(const tenant& t, const std::string& id,
                                   const deadline& until) {
  require_uuid(id);
  check_deadline(until);
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "cancel_batch", id, t.org_id, t.workspace_id);
  if (rows.empty())
    explain_refusal(tx, t, id);
  auto b = read_batch(rows[0]);
  bool immediate = b.status == domain::batch_status::cancelled;
  if (!immediate) {
    // The node processing it may be another one: tell every listener (the
    // payload is a batch id we just read back, never client text).
    exec_checked(tx, "notify_cancel", std::string(cancel_channel), b.id);
  }
  check_deadline(until);
  tx.commit();
  return {std::move(b), immediate};
}

batch batch_store::retry(const tenant& t, const std::string& id,
                         const deadline& until) {
  require_uuid(id);
  check_deadline(until);
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "retry_batch", id, t.org_id, t.workspace_id);
  if (rows.empty())
    explain_refusal(tx, t, id);
  auto b = read_batch(rows[0]);
  maybe_notify(tx);
  check_deadline(until);
  tx.commit();
  return b;
}

void batch_store::remove(const tenant& t, const std::string& id,
                         const deadline& until) {
  require_uuid(id);
  check_deadline(until);
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "delete_batch", id, t.org_id, t.workspace_id);
  if (rows.empty())
    explain_refusal(tx, t, id);
  check_deadline(until);
  tx.commit();
}

std::vector<claimed_batch> batch_store::claim(int n, milliseconds lease,
                                              claim_mode mode, int guaranteed,
                                              std::int64_t item_budget) {
  std::vector<claimed_batch> out;
  if (n <= 0)
    return out;
  if (guaranteed < 0 || guaranteed > n)
    guaranteed = n;
  const bool start = mode == claim_mode::start;
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "claim", cfg_.node_id, n,
                           static_cast<std::int64_t>(lease.count()), start,
                           guaranteed, item_budget);
  tx.commit();
  for (const auto& r : rows) {
    claimed_batch c;
    c.batch_id = r[0].as<std::string>();
    c.token = r[1].as<std::int64_t>();
    c.priority = r[2].as<int>();
    c.max_retries = r[3].as<int>();
    c.total_activities = r[4].as<std::int64_t>();
    c.reclaimed = r[5].as<bool>();
    c.started = start;
    if (start)
      c.owner = {r[7].as<std::string>(), r[8].as<std::string>()};
    out.push_back(std::move(c));
  }
  std::stable_sort(out.begin(), out.end(),
                   [](const claimed_batch& a, const claimed_batch& b) {
                     return a.priority > b.priority;
                   });
  return out;
}

renew_outcome batch_store::renew(const std::vector<lease_ref>& leases,
                                 milliseconds lease) {
  renew_outcome out;
  if (leases.empty())
    return out;
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "renew", cfg_.node_id,
                           static_cast<std::int64_t>(lease.count()),
                           uuid_array(leases), token_array(leases));
  tx.commit();
  std::vector<std::string> held;
  for (const auto& r : rows) {
    held.push_back(r[0].as<std::string>());
    if (r[1].as<bool>())
      out.cancel_requested.push_back(held.back());
  }
  for (const auto& l : leases)
    if (std::find(held.begin(), held.end(), l.batch_id) == held.end())
      out.lost.push_back(l.batch_id);
  return out;
}

std::vector<std::string>
batch_store::release(const std::vector<lease_ref>& leases) {
  std::vector<std::string> out;
  if (leases.empty())
    return out;
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "release", cfg_.node_id, uuid_array(leases),
                           token_array(leases));
  if (!rows.empty())
    tx.exec(std::string("NOTIFY ") + notify_channel);
  tx.commit();
  for (const auto& r : rows)
    out.push_back(r[0].as<std::string>());
  return out;
}

std::optional<milliseconds> batch_store::next_due() {
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "next_due");
  tx.commit();
  if (rows.empty() || rows[0][0].is_null())
    return std::nullopt;
  return milliseconds{rows[0][0].as<std::int64_t>()};
}

bool batch_store::start(const lease_ref& lease) {
  pqxx::work tx{*conn_};
  auto rows =
      exec_checked(tx, "start", lease.batch_id, lease.token, cfg_.node_id);
  tx.commit();
  return !rows.empty();
}

domain::tenant batch_store::owner_of(const std::string& batch_id) {
  require_uuid(batch_id);
  single_read tx{*conn_};
  auto rows = exec_checked(tx, "owner_of", batch_id);
  if (rows.empty())
    throw store_exception(engine_errc::not_found, "batch not found");
  return {rows[0][0].as<std::string>(), rows[0][1].as<std::string>()};
}

namespace {

std::vector<resolved_row> read_resolved(const pqxx::result& rows) {
  std::vector<resolved_row> out;
  out.reserve(rows.size());
  for (const auto& r : rows) {
    resolved_row row;
    row.batch_id = r[0].as<std::string>();
    row.activity_id = r[1].as<std::string>();
    row.found = r[2].as<bool>();
    if (row.found) {
      row.quantity = r[3].as<std::string>();
      row.unit = r[4].as<std::string>();
    }
    row.factor_id = opt<std::string>(r[5]);
    row.factor_unit = opt<std::string>(r[6]);
    row.kg_co2e_per_unit = opt<std::string>(r[7]);
    row.scope = opt<int>(r[8]);
    row.any_factor = r[9].as<bool>(false);
    row.activity_version = r[10].as<std::int64_t>(0);
    out.push_back(std::move(row));
  }
  return out;
}

} // namespace

std::vector<resolved_row>
batch_store::resolve_chunk(const lease_ref& lease, const tenant&,
                           const std::string& after_activity_id, int limit) {
  // The tenant is the batch's own, read with it under the fence.
  single_read tx{*conn_};
  return read_resolved(exec_checked(
      tx, "resolve_items",
      to_pg_array(std::vector<std::string>{lease.batch_id}),
      token_array({lease}),
      to_pg_array(std::vector<std::string>{after_activity_id}), limit));
}

std::vector<resolved_row>
batch_store::resolve_many(const std::vector<lease_ref>& leases,
                          int limit_per_batch) {
  if (leases.empty())
    return {};
  single_read tx{*conn_};
  return read_resolved(exec_checked(
      tx, "resolve_items", uuid_array(leases), token_array(leases),
      to_pg_array(std::vector<std::string>(leases.size())), limit_per_batch));
}

std::vector<record_outcome>
batch_store::record_many(const std::vector<batch_write>& writes) {
  std::vector<record_outcome> out(writes.size());
  if (writes.empty())
    return out;
  std::vector<lease_ref> leases;
  std::vector<std::string> batch_ids, ids, statuses, versions;
  std::vector<std::optional<std::string>> scopes, emissions, factors, errors;
  for (const auto& w : writes) {
    leases.push_back(w.lease);
    for (const auto& r : w.results) {
      batch_ids.push_back(w.lease.batch_id);
      ids.push_back(r.activity_id);
      versions.push_back(std::to_string(r.activity_version));
      statuses.emplace_back(r.succeeded ? "succeeded" : "failed");
      scopes.push_back(
          r.scope ? std::optional<std::string>(std::to_string(*r.scope))
                  : std::nullopt);
      emissions.push_back(r.emissions_kg_co2e);
      factors.push_back(r.factor_id);
      errors.push_back(r.error);
    }
  }
  pqxx::work tx{*conn_};
  auto rows = exec_checked(
      tx, "record_results", cfg_.node_id, uuid_array(leases),
      token_array(leases), to_pg_array(batch_ids), to_pg_array(ids),
      to_pg_array(statuses), to_pg_array(scopes), to_pg_array(emissions),
      to_pg_array(factors), to_pg_array(errors), to_pg_array(versions));
  std::unordered_map<std::string, std::size_t> at;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    at[writes[i].lease.batch_id] = i;
    out[i].batch_id = writes[i].lease.batch_id;
    out[i].held = false;
  }
  for (const auto& r : rows) {
    auto it = at.find(r[0].as<std::string>());
    if (it == at.end())
      continue;
    auto& o = out[it->second];
    o.held = true;
    o.succeeded = r[1].as<std::int64_t>();
    o.failed = r[2].as<std::int64_t>();
    o.emissions_kg_co2e = r[3].as<std::string>();
    o.cancel_requested = r[4].as<bool>();
  }
  // The batches that end, in the same transaction: their fence rows are
  // locked by the record above, so the finish cannot miss.
  std::vector<lease_ref> ending;
  std::vector<std::string> kinds, finish_errors;
  for (std::size_t i = 0; i < writes.size(); ++i) {
    if (!out[i].held || !writes[i].finish)
      continue;
    auto kind = *writes[i].finish;
    ending.push_back(writes[i].lease);
    kinds.emplace_back(kind == finish_kind::cancelled ? "cancelled"
                       : kind == finish_kind::failed  ? "failed"
                                                      : "done");
    finish_errors.push_back(writes[i].finish_error);
  }
  if (!ending.empty()) {
    auto ended = exec_checked(tx, "finish_many", cfg_.node_id,
                              uuid_array(ending), token_array(ending),
                              to_pg_array(kinds), to_pg_array(finish_errors));
    for (const auto& r : ended) {
      auto b = read_batch(r);
      if (auto it = at.find(b.id); it != at.end())
        out[it->second].finished = std::move(b);
    }
  }
  tx.commit();
  return out;
}

record_outcome
batch_store::record_chunk(const lease_ref& lease, const tenant&,
                          const std::vector<item_result_row>& results,
                          bool finish_batch) {
  batch_write w;
  w.lease = lease;
  w.results = results;
  if (finish_batch)
    w.finish = finish_kind::done;
  auto out = record_many({w});
  if (!out[0].held || (finish_batch && !out[0].finished))
    throw store_exception(engine_errc::lease_lost, "lease lost");
  return std::move(out[0]);
}

batch batch_store::finish(const lease_ref& lease, finish_kind kind,
                          const std::string& error) {
  const char* kind_text = kind == finish_kind::cancelled ? "cancelled"
                          : kind == finish_kind::failed  ? "failed"
                                                         : "done";
  pqxx::work tx{*conn_};
  auto rows = exec_checked(tx, "finish", lease.batch_id, lease.token,
                           cfg_.node_id, kind_text, error);
  if (rows.empty())
    throw store_exception(engine_errc::lease_lost, "lease lost");
  auto b = read_batch(rows[0]);
  tx.commit();
  return b;
}

void batch_store::defer(const lease_ref& lease, milliseconds delay,
                        const std::string& error) {
  pqxx::work tx{*conn_};
  auto rows =
      exec_checked(tx, "defer", lease.batch_id, lease.token, cfg_.node_id,
                   static_cast<std::int64_t>(delay.count()), error);
  if (rows.empty())
    throw store_exception(engine_errc::lease_lost, "lease lost");
  tx.commit();
}

std::int64_t
batch_store::upsert_activities(const tenant& t,
                               const std::vector<domain::activity>& rows,
                               const deadline& until) {
  check_deadline(until);
  std::vector<std::string> ids, types, quantities, units, regions, starts, ends,
      metas;
  for (const auto& a : rows) {
    ids.push_back(a.id);
    types.push_back(a.activity_type);
    quantities.push_back(a.quantity);
    units.push_back(a.unit);
    regions.push_back(a.region);
    starts.push_back(a.period_start);
    ends.push_back(a.period_end);
    metas.push_back(domain::dump_exact(a.metadata));
  }
  pqxx::work tx{*conn_};
  auto r = exec_checked(tx, "upsert_activities", t.org_id, t.workspace_id,
                        to_pg_array(ids), to_pg_array(types),
                        to_pg_array(quantities), to_pg_array(units),
                        to_pg_array(regions), to_pg_array(starts),
                        to_pg_array(ends), to_pg_array(metas));
  check_deadline(until);
  tx.commit();
  return static_cast<std::int64_t>(r.affected_rows());
}

domain::activity batch_store::get_activity(const tenant& t,
                                           const std::string& id) {
  single_read tx{*conn_};
  auto rows = exec_checked(tx, "get_activity", t.org_id, t.workspace_id, id);
  if (rows.empty())
    throw store_exception(engine_errc::not_found, "activity not found");
  const auto& r = rows[0];
  domain::activity a;
  a.id = r[0].as<std::string>();
  a.activity_type = r[1].as<std::string>();
  a.quantity = r[2].as<std::string>();
  a.unit = r[3].as<std::string>();
  a.region = r[4].as<std::string>();
  a.period_start = r[5].as<std::string>();
  a.period_end = r[6].as<std::string>();
  a.metadata = read_metadata(r[7]);
  a.emissions_kg_co2e = opt<std::string>(r[8]);
  a.scope = opt<int>(r[9]);
  a.factor_id = opt<std::string>(r[10]);
  a.calculated_at = opt<std::int64_t>(r[11]);
  return a;
}

std::vector<domain::emission_factor>
batch_store::list_factors(const tenant& t,
                          const std::optional<std::string>& activity_type) {
  single_read tx{*conn_};
  auto rows =
      exec_checked(tx, "list_factors", t.org_id, t.workspace_id, activity_type);
  std::vector<domain::emission_factor> out;
  for (const auto& r : rows) {
    domain::emission_factor f;
    f.id = r[0].as<std::string>();
    f.activity_type = r[1].as<std::string>();
    f.scope = r[2].as<int>();
    f.region = r[3].as<std::string>();
    f.unit = r[4].as<std::string>();
    f.kg_co2e_per_unit = r[5].as<std::string>();
    f.valid_from = r[6].as<std::string>();
    f.source = r[7].as<std::string>();
    f.builtin = r[8].as<bool>();
    out.push_back(std::move(f));
  }
  return out;
}

std::int64_t
batch_store::upsert_factors(const tenant& t,
                            const std::vector<domain::emission_factor>& rows,
                            const deadline& until) {
  check_deadline(until);
  std::vector<std::string> ids, types, scopes, regions, units, values, froms,
      sources;
  for (const auto& f : rows) {
    ids.push_back(f.id);
    types.push_back(f.activity_type);
    scopes.push_back(std::to_string(f.scope));
    regions.push_back(f.region);
    units.push_back(f.unit);
    values.push_back(f.kg_co2e_per_unit);
    froms.push_back(f.valid_from);
    sources.push_back(f.source);
  }
  pqxx::work tx{*conn_};
  auto r = exec_checked(tx, "upsert_factors", t.org_id, t.workspace_id,
                        to_pg_array(ids), to_pg_array(types),
                        to_pg_array(scopes), to_pg_array(regions),
                        to_pg_array(units), to_pg_array(values),
                        to_pg_array(froms), to_pg_array(sources));
  check_deadline(until);
  tx.commit();
  return static_cast<std::int64_t>(r.affected_rows());
}

void batch_store::heartbeat(const std::string& host, int pid,
                            const std::string& version) {
  pqxx::work tx{*conn_};
  exec_checked(tx, "heartbeat", cfg_.node_id, host, pid, version);
  tx.commit();
}

std::chrono::microseconds batch_store::ping() {
  auto t0 = std::chrono::steady_clock::now();
  pqxx::nontransaction tx{*conn_};
  exec_checked(tx, "ping");
  return std::chrono::duration_cast<std::chrono::microseconds>(
      std::chrono::steady_clock::now() - t0);
}

std::int64_t batch_store::queue_depth() {
  single_read tx{*conn_};
  return exec_checked1(tx, "queue_depth")[0].as<std::int64_t>();
}

prune_outcome batch_store::prune_slice(milliseconds retention,
                                       std::int32_t max_batches,
                                       std::int64_t max_items) {
  prune_outcome out;
  if (retention <= milliseconds(0) || max_batches <= 0)
    return out; // 0 = keep forever: never delete anything
  pqxx::work tx{*conn_};
  out.locked = exec_checked1(tx, "prune_lock")[0].as<bool>();
  if (!out.locked)
    return out; // another node prunes; the rollback ends the transaction
  auto row = exec_checked1(tx, "prune_slice",
                           static_cast<std::int64_t>(retention.count()),
                           max_batches, max_items);
  out.batches = row[0].as<std::int64_t>();
  out.items = row[1].as<std::int64_t>();
  out.results = row[2].as<std::int64_t>();
  tx.commit();
  return out;
}

} // namespace ogf::persistence
