// One function per endpoint of CONTRACT §2: parse -> validate (domain/) ->
// one engine request -> JSON. Business rules live in domain/ and the
// engine; failures map through http/errors.hpp.
#include <cstdio>

#include "common/log.hpp"
#include "domain/callback_url.hpp"
#include "domain/exact_json.hpp"
#include "domain/json_mapping.hpp"
#include "domain/page_token.hpp"
#include "domain/throughput_window.hpp"
#include "domain/validation.hpp"
#include "http/server_impl.hpp"

namespace ogf::http {

using nlohmann::json;

namespace {

/// 64-bit FNV-1a of `text`, as 16 hex digits.
std::string fnv1a_hex(std::string_view text) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  for (unsigned char c : text) {
    h ^= c;
    h *= 0x100000001b3ULL;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

/// The idempotency fingerprint of a submit: a hash of the canonical JSON of
/// the validated request (defaults filled in, object keys sorted, no
/// spaces), so that spelling, key order and explicit defaults do not make
/// two requests differ. run_after counts as the instant it names (UTC,
/// microseconds), so "+02:00" and "Z" spellings of one time agree; it is
/// left out when not given, so fingerprints stored before it existed
/// still match.
std::string request_hash(const domain::submit_request& r) {
  json canonical = {{"activity_ids", r.activity_ids},
                    {"priority", r.priority},
                    {"max_retries", r.max_retries},
                    {"metadata", r.metadata}};
  if (r.run_after)
    canonical["run_after_us"] = *r.run_after;
  // Only when given, so that the hashes of earlier requests stay the same.
  if (r.callback_url)
    canonical["callback_url"] = *r.callback_url;
  auto text = domain::dump_exact(canonical);
  return "fnv1a64:" + fnv1a_hex(text) + ":" + std::to_string(text.size());
}

/// Parses a request body as one JSON object, or says why not. Numbers keep
/// their digits and a key named twice is refused (domain/exact_json.hpp).
std::optional<json> parse_body(const std::string& body, http_error& error) {
  if (body.empty()) {
    error = {400, "invalid_json", "request body is empty; send a JSON object",
             nullptr};
    return std::nullopt;
  }
  auto parsed = domain::parse_json_exact(body, domain::max_json_depth);
  if (!parsed) {
    error = {400, "invalid_json", "request body " + parsed.error().message,
             nullptr};
    return std::nullopt;
  }
  if (!parsed->is_object()) {
    error = {400, "invalid_json", "request body must be a JSON object",
             nullptr};
    return std::nullopt;
  }
  return std::move(*parsed);
}

/// Refuses query parameters other than `allowed` (each at most once), so a
/// misspelt filter cannot silently return everything.
std::optional<http_error>
check_query(const httplib::Params& params,
            std::initializer_list<const char*> allowed) {
  for (const auto& [name, value] : params) {
    bool known = false;
    for (const char* a : allowed)
      known = known || name == a;
    if (!known)
      return http_error{
          400, "unknown_field", "unknown query parameter", {{"field", name}}};
    if (params.count(name) > 1)
      return http_error{400,
                        "validation_error",
                        "query parameter given more than once",
                        {{"field", name}}};
  }
  return std::nullopt;
}

} // namespace

void http_server::impl::reply_engine_error(httplib::Response& res,
                                           const caf::error& err,
                                           std::string_view subject,
                                           std::string_view action) {
  auto e = from_engine_error(err, subject, action);
  if (e.status >= 500 && e.status != 503)
    log::error("engine request failed", {{"action", std::string(action)},
                                         {"code", to_string(engine_code(err))},
                                         {"error", engine_message(err)}});
  else if (e.status == 503)
    log::warn("engine unavailable", {{"action", std::string(action)},
                                     {"error", engine_message(err)}});
  send_error(res, e);
}

void http_server::impl::handle(api_call& call, httplib::Response& res) {
  switch (call.route.target) {
  case endpoint::health:
    return get_health(call, res);
  case endpoint::node:
    return get_node(call, res);
  case endpoint::batch_counts:
    return get_batch_counts(call, res);
  case endpoint::batch_emissions:
    return get_batch_emissions(call, res);
  case endpoint::metrics:
    return get_metrics(call, res);
  case endpoint::submit_batch:
    return submit_batch(call, res);
  case endpoint::list_batches:
    return list_batches(call, res);
  case endpoint::get_batch:
    return get_batch(call, res);
  case endpoint::delete_batch:
    return delete_batch(call, res);
  case endpoint::list_items:
    return list_items(call, res);
  case endpoint::get_progress:
    return get_progress(call, res);
  case endpoint::stream_events:
    return stream_events(call, res);
  case endpoint::cancel_batch:
    return cancel_batch(call, res);
  case endpoint::retry_batch:
    return retry_batch(call, res);
  case endpoint::upsert_activities:
    return upsert_activities(call, res);
  case endpoint::get_activity:
    return get_activity(call, res);
  case endpoint::list_factors:
    return list_factors(call, res);
  case endpoint::upsert_factors:
    return upsert_factors(call, res);
  }
}

std::optional<std::string>
http_server::impl::batch_id_of(const api_call& call, httplib::Response& res) {
  auto id = domain::normalize_uuid(call.params.at(0));
  if (!id)
    send_error(res, {404, "not_found", "batch not found", nullptr});
  return id;
}

// -- health and metrics -------------------------------------------------------

json http_server::impl::health_body(const std::optional<health_report>& report,
                                    bool& ok) {
  auto uptime =
      std::chrono::duration<double>(clock_type::now() - started).count();
  // 503 only for an unreachable database, a stopping node or a node whose
  // core actors died: a slow database is "degraded" with 200, so that a
  // load balancer does not pull healthy nodes when load is highest.
  ok = report && report->database_ok && !stopping.load() && !report->stopping &&
       !report->degraded;
  std::string database = "unavailable";
  if (report && report->database_ok)
    database = std::chrono::microseconds(report->database_latency_us) <
                       degraded_latency
                   ? "ok"
                   : "degraded";
  return {
      {"status", ok ? "ok" : "unavailable"},
      {"version", cfg.version},
      {"uptime_seconds", uptime},
      {"node_id", cfg.node_id},
      {"database",
       {{"status", database},
        {"latency_ms",
         report ? static_cast<double>(report->database_latency_us) / 1000.0
                : 0.0}}},
      {"scheduler",
       {{"running", report && report->running && !stopping.load()},
        {"workers", report ? report->workers : 0},
        {"busy_workers", report ? report->busy_workers : 0},
        {"in_flight_batches", report ? report->in_flight_batches : 0},
        {"queue_depth", report ? report->queue_depth : 0}}},
  };
}

void http_server::impl::get_health(api_call&, httplib::Response& res) {
  // The engine bounds the ping (5 s: past it the database counts as
  // unreachable); this only guards against an engine that does not answer.
  auto [report, err] =
      ask_within<health_report>(std::chrono::milliseconds(7000), health_atom_v);
  bool ok = false;
  auto body = health_body(report, ok);
  if (!ok)
    res.set_header("Retry-After", std::to_string(retry_after_seconds));
  send_json(res, ok ? 200 : 503, body);
}

void http_server::impl::get_node(api_call&, httplib::Response& res) {
  // Health plus this node's recent work, for the dashboard: figures of the
  // node, never of a tenant. Any tenant may read them (CONTRACT §2 leaves
  // only health without credentials).
  auto timeout = std::chrono::milliseconds(7000);
  auto [report, health_err] = ask_within<health_report>(timeout, health_atom_v);
  auto [stats, stats_err] = ask_within<engine_stats>(timeout, stats_atom_v);
  bool ok = false;
  auto body = health_body(report, ok);
  auto buckets = stats ? stats->recent_activities : std::vector<std::int64_t>{};
  buckets.resize(domain::throughput_window::bucket_count, 0);
  // The aggregator buckets by the same steady clock.
  auto now_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                    std::chrono::steady_clock::now().time_since_epoch())
                    .count();
  double into_bucket_s =
      static_cast<double>(now_ms %
                          (domain::throughput_window::bucket_seconds * 1000)) /
      1000.0;
  body["throughput"] = {
      {"bucket_seconds", domain::throughput_window::bucket_seconds},
      {"buckets", buckets},
      {"per_second_last_minute",
       domain::throughput_window::per_second_last_minute(
           buckets, into_bucket_s, body["uptime_seconds"].get<double>())}};
  body["activities"] = {{"succeeded", stats ? stats->activities_succeeded : 0},
                        {"failed", stats ? stats->activities_failed : 0}};
  if (!ok)
    res.set_header("Retry-After", std::to_string(retry_after_seconds));
  send_json(res, ok ? 200 : 503, body);
}

void http_server::impl::get_metrics(api_call&, httplib::Response& res) {
  auto timeout = std::chrono::milliseconds(7000);
  auto [stats, stats_err] = ask_within<engine_stats>(timeout, stats_atom_v);
  auto [health, health_err] = ask_within<health_report>(timeout, health_atom_v);
  metrics.observe_connections(server.stats());
  res.status = 200;
  res.set_content(metrics.render(stats, health),
                  "text/plain; version=0.0.4; charset=utf-8");
}

// -- batches ------------------------------------------------------------------

void http_server::impl::submit_batch(api_call& call, httplib::Response& res) {
  if (stopping.load()) {
    send_error(res,
               {503, "unavailable",
                "the server is shutting down; submit again later", nullptr});
    return;
  }
  http_error error;
  auto body = parse_body(call.req.body, error);
  if (!body)
    return send_error(res, error);
  auto parsed = domain::parse_submit_request(*body, cfg.default_max_retries,
                                             cfg.max_batch_activities);
  if (!parsed)
    return send_error(res, from_input_error(parsed.error()));
  if (parsed->callback_url) {
    if (auto why = domain::check_callback_url(*parsed->callback_url,
                                              cfg.webhook_allow_private))
      return send_error(
          res, {400, "validation_error", *why, {{"field", "callback_url"}}});
  }
  persistence::submit_request req;
  if (auto n = call.req.get_header_value_count("Idempotency-Key"); n > 0) {
    auto key = call.req.get_header_value("Idempotency-Key");
    if (n > 1 || !domain::validate_idempotency_key(key))
      return send_error(
          res, {400,
                "validation_error",
                "Idempotency-Key must be 1-255 printable ASCII characters, "
                "given once",
                {{"field", "Idempotency-Key"}}});
    req.idempotency_key = key;
  }
  req.owner = call.tenant;
  req.request_hash = request_hash(*parsed);
  req.activity_ids = std::move(parsed->activity_ids);
  req.priority = parsed->priority;
  req.max_retries = parsed->max_retries;
  req.metadata_json = domain::dump_exact(parsed->metadata);
  req.run_after = parsed->run_after;
  req.callback_url = std::move(parsed->callback_url);
  req.until = write_deadline();
  auto [out, err] =
      ask_write<persistence::submit_outcome>(submit_atom_v, std::move(req));
  if (!out)
    return reply_engine_error(res, err, "batch", "submit");
  if (!out->replayed)
    metrics.batch_submitted();
  res.set_header("Location", "/api/v1/batches/" + out->batch.id);
  send_json(res, out->replayed ? 200 : 201, domain::to_json(out->batch));
}

void http_server::impl::list_batches(api_call& call, httplib::Response& res) {
  auto query = domain::parse_list_query(call.req.params);
  if (!query)
    return send_error(res, from_input_error(query.error()));
  domain::batch_filter filter;
  filter.statuses = query->statuses;
  filter.priority = query->priority;
  filter.created_after = query->created_after;
  filter.created_before = query->created_before;
  filter.limit = query->limit;
  if (query->after)
    filter.after = std::make_pair(query->after->created_at, query->after->id);
  filter.offset = query->offset.value_or(0);
  auto [page, err] =
      ask<persistence::batch_page>(list_atom_v, call.tenant, filter);
  if (!page)
    return reply_engine_error(res, err, "batch", "list");
  json batches = json::array();
  for (const auto& b : page->batches)
    batches.push_back(domain::to_json(b));
  json next = nullptr;
  if (page->next)
    next = domain::encode_batch_page_token(
        {page->next->first, page->next->second});
  send_json(
      res, 200,
      {{"batches", std::move(batches)}, {"next_page_token", std::move(next)}});
}

void http_server::impl::get_batch(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [batch, err] = ask<domain::batch>(get_atom_v, call.tenant, *id);
  if (!batch)
    return reply_engine_error(res, err, "batch", "read");
  send_json(res, 200, domain::to_json(*batch));
}

void http_server::impl::delete_batch(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [removed, err] =
      ask_write<bool>(remove_atom_v, call.tenant, *id, write_deadline());
  if (!removed)
    return reply_engine_error(res, err, "batch", "delete");
  res.status = 204;
}

void http_server::impl::list_items(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto query = domain::parse_items_query(call.req.params);
  if (!query)
    return send_error(res, from_input_error(query.error()));
  domain::item_filter filter;
  filter.status = query->status;
  filter.limit = query->limit;
  filter.after_activity_id = query->after_activity_id;
  auto [page, err] =
      ask<persistence::item_page>(items_atom_v, call.tenant, *id, filter);
  if (!page)
    return reply_engine_error(res, err, "batch", "list items");
  json items = json::array();
  for (const auto& item : page->items)
    items.push_back(domain::to_json(item));
  json next = nullptr;
  if (page->next_after)
    next = domain::encode_item_page_token(*page->next_after);
  send_json(
      res, 200,
      {{"items", std::move(items)}, {"next_page_token", std::move(next)}});
}

void http_server::impl::get_batch_counts(api_call& call,
                                         httplib::Response& res) {
  if (auto bad = check_query(call.req.params, {}))
    return send_error(res, *bad);
  auto [counts, err] = ask<domain::batch_counts>(counts_atom_v, call.tenant);
  if (!counts)
    return reply_engine_error(res, err, "batch", "count batches");
  send_json(res, 200, domain::to_json(*counts));
}

void http_server::impl::get_batch_emissions(api_call& call,
                                            httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [emissions, err] =
      ask<domain::batch_emissions>(emissions_atom_v, call.tenant, *id);
  if (!emissions)
    return reply_engine_error(res, err, "batch", "read emissions");
  send_json(res, 200, domain::to_json(*emissions));
}

void http_server::impl::get_progress(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [progress, err] =
      ask<domain::batch_progress>(progress_atom_v, call.tenant, *id);
  if (!progress)
    return reply_engine_error(res, err, "batch", "read progress");
  send_json(res, 200, domain::to_json(*progress));
}

void http_server::impl::cancel_batch(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [out, err] = ask_write<persistence::cancel_outcome>(
      cancel_atom_v, call.tenant, *id, write_deadline());
  if (!out)
    return reply_engine_error(res, err, "batch", "cancel");
  send_json(res, out->immediate ? 200 : 202, domain::to_json(out->batch));
}

void http_server::impl::retry_batch(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  auto [batch, err] = ask_write<domain::batch>(retry_atom_v, call.tenant, *id,
                                               write_deadline());
  if (!batch)
    return reply_engine_error(res, err, "batch", "retry");
  send_json(res, 200, domain::to_json(*batch));
}

// -- event stream -------------------------------------------------------------

http_server::impl::stream_slot::~stream_slot() {
  std::lock_guard<std::mutex> guard{server.streams_mutex};
  --server.stream_slots;
  auto it = server.tenant_slots.find(tenant);
  if (it != server.tenant_slots.end() && --it->second == 0)
    server.tenant_slots.erase(it);
}

std::shared_ptr<http_server::impl::stream_slot>
http_server::impl::reserve_stream_slot(const domain::tenant& owner,
                                       http_error& refusal) {
  // A stream holds a pool thread for its life: leave the rest to requests,
  // and no more than a fair share of the streams to any one tenant.
  auto max_streams = static_cast<std::size_t>(
      cfg.max_event_streams > 0 ? cfg.max_event_streams
                                : std::max(cfg.threads / 2, 1));
  auto max_per_tenant =
      static_cast<std::size_t>(cfg.max_event_streams_per_tenant > 0
                                   ? cfg.max_event_streams_per_tenant
                                   : std::max<std::size_t>(max_streams / 2, 1));
  auto key = std::make_pair(owner.org_id, owner.workspace_id);
  std::lock_guard<std::mutex> guard{streams_mutex};
  if (closing.load()) {
    refusal = {503, "unavailable", "the server is stopping", nullptr};
    return nullptr;
  }
  auto it = tenant_slots.find(key);
  auto mine = it == tenant_slots.end() ? std::size_t{0} : it->second;
  if (mine >= max_per_tenant) {
    refusal = {503, "unavailable",
               "this tenant has " + std::to_string(mine) +
                   " event streams open, the most one tenant may; poll "
                   "/progress or retry later",
               nullptr};
    return nullptr;
  }
  if (stream_slots >= max_streams) {
    refusal = {503, "unavailable",
               "too many event streams are open; poll /progress or retry "
               "later",
               nullptr};
    return nullptr;
  }
  ++stream_slots;
  ++tenant_slots[key];
  return std::shared_ptr<stream_slot>(new stream_slot{*this, std::move(key)});
}

void http_server::impl::stream_events(api_call& call, httplib::Response& res) {
  auto id = batch_id_of(call, res);
  if (!id)
    return;
  http_error refusal;
  auto slot = reserve_stream_slot(call.tenant, refusal);
  if (!slot)
    return send_error(res, refusal);
  auto queue = std::make_shared<event_queue>(cfg.event_min_gap);
  auto listener = spawn_stream_listener(sys, queue);
  auto [subscribed, err] =
      ask<bool>(subscribe_atom_v, call.tenant, *id, listener);
  if (!subscribed) {
    caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
    return reply_engine_error(res, err, "batch", "stream");
  }
  {
    std::lock_guard<std::mutex> guard{streams_mutex};
    streams.insert(queue);
    if (closing.load()) // stop() closed the others already
      queue->close();
  }
  res.status = 200;
  res.set_header("Cache-Control", "no-cache");
  res.set_header("X-Accel-Buffering", "no");
  auto owner = call.tenant;
  auto batch_id = *id;
  /// What the stream wrote last: progress only moves forward, and an
  /// unchanged one is not repeated.
  struct written {
    std::string text;
    std::int64_t processed = -1;
  };
  auto last = std::make_shared<written>();
  // Keys mode: the key is checked again about once a second, so that a
  // revocation (or expiry) also ends a stream opened before it within the
  // 5 s of CONTRACT §4.
  struct key_check {
    std::string key_id;
    std::string secret_hash;
    clock_type::time_point next;
  };
  auto check = std::make_shared<key_check>(
      key_check{call.key_id, call.secret_hash, clock_type::now()});
  res.set_chunked_content_provider(
      "text/event-stream",
      [this, queue, owner, batch_id, last, slot,
       check](std::size_t, httplib::DataSink& sink) {
        auto event = queue->take(cfg.event_poll_interval);
        if (!check->key_id.empty() && clock_type::now() >= check->next) {
          check->next = clock_type::now() + std::chrono::seconds(1);
          if (!key_still_valid(check->key_id, check->secret_hash)) {
            log::info("event stream ended: its API key is no longer valid",
                      {{"key_id", check->key_id}, {"batch_id", batch_id}});
            sink.done();
            return true;
          }
        }
        switch (event.kind) {
        case stream_event::closed:
          sink.done();
          return true;
        case stream_event::idle: {
          // A comment: a client that went away makes the write fail.
          static const std::string keep_alive = ": keep-alive\n\n";
          if (!sink.write(keep_alive.data(), keep_alive.size()))
            return false;
          poll_stream(*queue, owner, batch_id);
          return true;
        }
        case stream_event::progress: {
          // A poll (read before) and a push (read after) may cross: never
          // let the stream step back.
          auto processed = event.data.value("processed", std::int64_t{0});
          auto text = event.data.dump();
          if (text == last->text || processed < last->processed)
            return true;
          last->text = std::move(text);
          last->processed = processed;
          auto frame = format_event("progress", event.data);
          return sink.write(frame.data(), frame.size());
        }
        case stream_event::done: {
          auto frame = format_event("done", event.data);
          if (!sink.write(frame.data(), frame.size()))
            return false;
          sink.done();
          return true;
        }
        }
        return false;
      },
      [this, queue, listener, batch_id](bool) {
        {
          std::lock_guard<std::mutex> guard{streams_mutex};
          streams.erase(queue);
        }
        caf::anon_send(engine, unsub_atom_v, batch_id, listener);
        caf::anon_send_exit(listener, caf::exit_reason::user_shutdown);
      });
}

void http_server::impl::poll_stream(event_queue& queue,
                                    const domain::tenant& owner,
                                    const std::string& batch_id) {
  // Pushes from the aggregator cover batches processed on this node; the
  // poll covers the rest (another node, or a batch deleted meanwhile).
  auto [progress, err] =
      ask<domain::batch_progress>(progress_atom_v, owner, batch_id);
  if (!progress) {
    if (engine_code(err) == engine_errc::not_found)
      queue.close(); // deleted: nothing more will come
    return;
  }
  queue.push_progress(domain::to_json(*progress));
  if (!domain::is_terminal(progress->status))
    return;
  auto [batch, batch_err] = ask<domain::batch>(get_atom_v, owner, batch_id);
  if (batch)
    queue.push_done(domain::to_json(*batch));
}

// -- activities and factors ---------------------------------------------------

void http_server::impl::upsert_activities(api_call& call,
                                          httplib::Response& res) {
  std::optional<std::vector<domain::activity>> rows;
  if (call.media_type == "text/csv") {
    auto parsed = domain::parse_activities_csv(call.req.body, is_known_unit);
    if (!parsed)
      return send_error(res, from_input_error(parsed.error()));
    rows = std::move(*parsed);
  } else {
    http_error error;
    auto body = parse_body(call.req.body, error);
    if (!body)
      return send_error(res, error);
    auto parsed = domain::parse_activities_json(*body, is_known_unit);
    if (!parsed)
      return send_error(res, from_input_error(parsed.error()));
    rows = std::move(*parsed);
  }
  auto [count, err] =
      ask_write<std::int64_t>(activity_atom_v, put_atom_v, call.tenant,
                              std::move(*rows), write_deadline());
  if (!count)
    return reply_engine_error(res, err, "activity", "upsert");
  send_json(res, 200, {{"upserted", *count}});
}

void http_server::impl::get_activity(api_call& call, httplib::Response& res) {
  const auto& id = call.params.at(0);
  if (!domain::is_valid_activity_id(id))
    return send_error(res, {404, "not_found", "activity not found", nullptr});
  auto [activity, err] =
      ask<domain::activity>(activity_atom_v, get_atom_v, call.tenant, id);
  if (!activity)
    return reply_engine_error(res, err, "activity", "read");
  send_json(res, 200, domain::to_json(*activity));
}

void http_server::impl::list_factors(api_call& call, httplib::Response& res) {
  if (auto bad = check_query(call.req.params, {"activity_type"}))
    return send_error(res, *bad);
  std::string type;
  if (call.req.has_param("activity_type")) {
    type = call.req.get_param_value("activity_type");
    if (!domain::is_valid_activity_type(type))
      return send_error(res, {400,
                              "validation_error",
                              "activity_type must be 1-64 characters of "
                              "a-z 0-9 _",
                              {{"field", "activity_type"}}});
  }
  auto [factors, err] = ask<std::vector<domain::emission_factor>>(
      factors_atom_v, get_atom_v, call.tenant, type);
  if (!factors)
    return reply_engine_error(res, err, "emission factor", "list");
  json out = json::array();
  for (const auto& f : *factors)
    out.push_back(domain::to_json(f));
  send_json(res, 200, {{"factors", std::move(out)}});
}

void http_server::impl::upsert_factors(api_call& call, httplib::Response& res) {
  http_error error;
  auto body = parse_body(call.req.body, error);
  if (!body)
    return send_error(res, error);
  auto parsed = domain::parse_factors_json(*body, is_known_unit);
  if (!parsed)
    return send_error(res, from_input_error(parsed.error()));
  auto [count, err] =
      ask_write<std::int64_t>(factors_atom_v, put_atom_v, call.tenant,
                              std::move(*parsed), write_deadline());
  if (!count)
    return reply_engine_error(res, err, "emission factor", "upsert");
  send_json(res, 200, {{"upserted", *count}});
}

} // namespace ogf::http
