#include "app/client_commands.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <random>
#include <set>
#include <sstream>
#include <unordered_set>

#include <CLI/CLI.hpp>
#include <unistd.h>

#include "app/client_json.hpp"
#include "app/watch.hpp"
#include "client/activity_file.hpp"
#include "client/format.hpp"
#include "domain/duration.hpp"
#include "domain/exact_json.hpp"
#include "domain/time.hpp"

namespace ogf::app {

namespace {

using client::failure_kind;
using client::request_error;
using nlohmann::json;

/// A bad value on the command line, or a file named there that cannot be
/// used: exit 2 with a one-line message.
struct usage_problem : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Ends a command with `code` after its message was written.
struct exit_with {
  int code;
};

void add_common(CLI::App* sub, client_options& o) {
  sub->add_option("--server", o.config.server,
                  "base URL of the server: http[s]://host[:port]")
      ->envname("OGF_SERVER")
      ->capture_default_str();
  sub->add_option("--api-key", o.config.api_key,
                  "API key (keys mode), sent as Authorization: Bearer")
      ->envname("OGF_API_KEY");
  sub->add_option("--org", o.config.org, "org id (headers mode)")
      ->envname("OGF_ORG");
  sub->add_option("--workspace", o.config.workspace,
                  "workspace id (headers mode)")
      ->envname("OGF_WORKSPACE");
  sub->add_option("--ca-cert", o.config.ca_cert,
                  "PEM file of certificates to trust for https (e.g. a "
                  "self-signed server's)")
      ->envname("OGF_CA_CERT");
  sub->add_option("--timeout", o.timeout,
                  "how long one request may wait for its answer")
      ->envname("OGF_TIMEOUT")
      ->capture_default_str();
  sub->add_flag("--json", o.json, "machine-readable output on stdout")
      ->envname("OGF_JSON");
}

void write_stdout(const std::string& s) {
  std::fwrite(s.data(), 1, s.size(), stdout);
}

/// The message of a failed request, one line on stderr, with a hint where
/// one helps.
void report(const request_error& e, const client::client_config& c) {
  std::string line = e.what();
  if (e.status() == 401 && c.api_key.empty() &&
      (c.org.empty() || c.workspace.empty()))
    line += " (give --api-key, or --org and --workspace)";
  std::fprintf(stderr, "offgridflow-batch: %s\n",
               client::printable(line).c_str());
}

/// Replaces every `from` in `s` by `to`.
void replace_all(std::string& s, const std::string& from,
                 const std::string& to) {
  for (auto at = s.find(from); at != std::string::npos;
       at = s.find(from, at + to.size()))
    s.replace(at, from.size(), to);
}

/// `j[key]` when it is an array; an empty one otherwise (an answer of
/// another shape ends a listing instead of throwing).
json array_field(const json& j, const char* key) {
  if (j.is_object()) {
    auto it = j.find(key);
    if (it != j.end() && it->is_array())
      return *it;
  }
  return json::array();
}

bool looks_like_uuid(const std::string& s) {
  if (s.size() != 36)
    return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    if (dash ? s[i] != '-' : !std::isxdigit(static_cast<unsigned char>(s[i])))
      return false;
  }
  return true;
}

std::string batch_path(const std::string& id) {
  return "/api/v1/batches/" + client::url_encode(id);
}

bool stderr_is_terminal() {
  return isatty(STDERR_FILENO) != 0;
}

// -- upload -----------------------------------------------------------------

/// A progress bar by bytes on stderr, redrawn in place at most 10 times a
/// second; nothing when stderr is not a terminal.
class byte_progress {
public:
  byte_progress(std::string label, std::uint64_t size, bool on)
      : label_(std::move(label)), size_(size), on_(on) {}
  ~byte_progress() { finish(); }

  void update(std::uint64_t done, std::int64_t rows) {
    if (!on_)
      return;
    auto now = std::chrono::steady_clock::now();
    if (drawn_ && now - last_ < std::chrono::milliseconds(100) && done < size_)
      return;
    last_ = now;
    drawn_ = true;
    double fraction =
        size_ == 0 ? 1.0
                   : static_cast<double>(done) / static_cast<double>(size_);
    int width = std::max(20, terminal_width(STDERR_FILENO) - 1);
    auto tail = " " + std::to_string(static_cast<int>(fraction * 100)) + "% " +
                mb(done) + "/" + mb(size_) + " MB, " +
                client::format_count(rows) + " rows";
    auto head = label_;
    int bar = width - static_cast<int>(head.size() + tail.size()) - 3;
    std::string line = head;
    if (bar >= 5) {
      int filled = static_cast<int>(fraction * bar);
      line += " [" + std::string(filled, '#') + std::string(bar - filled, '-') +
              "]";
    }
    line += tail;
    if (static_cast<int>(line.size()) > width)
      line.resize(width);
    std::fprintf(stderr, "\r\x1b[2K%s", line.c_str());
    std::fflush(stderr);
  }

  void finish() {
    if (on_ && drawn_)
      std::fprintf(stderr, "\n");
    drawn_ = false;
    on_ = false;
  }

private:
  static std::string mb(std::uint64_t bytes) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f", static_cast<double>(bytes) / 1e6);
    return buf;
  }
  std::string label_;
  std::uint64_t size_;
  bool on_;
  bool drawn_ = false;
  std::chrono::steady_clock::time_point last_{};
};

/// What an upload did.
struct upload_result {
  std::int64_t upserted = 0;
  std::vector<std::string> ids; ///< every row's id, in file order
};

/// Upserts `path`'s activities in requests of at most 10,000 rows and
/// `request_bytes`. On a refused request: its row in the file and the
/// server's message on stderr, with how many rows earlier requests
/// upserted; throws exit_with.
upload_result upload_file(client::connection& conn, const std::string& path,
                          std::size_t request_bytes, bool keep_ids,
                          bool progress) {
  upload_result result;
  client::chunk_limits limits;
  limits.max_rows = 10000;
  limits.max_bytes = request_bytes;
  std::uint64_t size = 0;
  {
    std::error_code ec;
    size = std::filesystem::file_size(path, ec);
    if (ec)
      throw usage_problem(path + ": " + ec.message());
  }
  byte_progress bar("uploading " +
                        std::filesystem::path(path).filename().string(),
                    size, progress);
  std::int64_t rows = 0;
  try {
    client::read_activity_file(
        path, limits, [&](const client::activity_chunk& chunk) {
          try {
            auto r = conn.post("/api/v1/activities", chunk.body,
                               chunk.content_type, client::repeat::always);
            result.upserted += int_field(r.json, "upserted");
          } catch (const request_error& e) {
            bar.finish();
            std::string where;
            std::string what = e.what();
            std::string field;
            const auto& d = e.details();
            if (d.is_object() && d.contains("field") && d["field"].is_string())
              field = d["field"].get<std::string>();
            if (d.is_object() && d.contains("row") &&
                d["row"].is_number_integer()) {
              // The server counts CSV rows from 1 and JSON rows from 0,
              // within the request; the user knows rows of the file.
              auto row = d["row"].get<std::int64_t>();
              bool csv = chunk.content_type == "text/csv";
              auto index = csv ? row - 1 : row;
              if (index >= 0 &&
                  index < static_cast<std::int64_t>(chunk.lines.size())) {
                auto file_row = chunk.first_row + index;
                where = "row " + client::format_count(file_row) + " (line " +
                        client::format_count(
                            chunk.lines[static_cast<std::size_t>(index)]) +
                        "): ";
                // "activities[3].quantity" / "row 3 has 5 fields" name
                // the request's row: name the file's instead.
                auto local = csv ? "row " + std::to_string(row) + " "
                                 : "activities[" + std::to_string(row) + "]";
                auto global =
                    csv ? "row " + std::to_string(file_row) + " "
                        : "activities[" + std::to_string(file_row - 1) + "]";
                replace_all(what, local, global);
                replace_all(field, local, global);
              }
            }
            std::string line = path + ": " + where + what +
                               (field.empty() ? "" : " [" + field + "]");
            if (e.status() == 413)
              line += "; try a smaller --request-bytes";
            line += "; " + client::format_count(result.upserted) +
                    " rows of earlier requests were upserted";
            std::fprintf(stderr, "offgridflow-batch: %s\n",
                         client::printable(line).c_str());
            throw exit_with{exit_code_of(e)};
          }
          rows += static_cast<std::int64_t>(chunk.lines.size());
          if (keep_ids)
            result.ids.insert(result.ids.end(), chunk.ids.begin(),
                              chunk.ids.end());
          bar.update(chunk.end_offset, rows);
          return true;
        });
  } catch (const client::activity_file_error& e) {
    bar.finish();
    std::fprintf(stderr,
                 "offgridflow-batch: %s; %s rows of earlier requests were "
                 "upserted\n",
                 e.what(), client::format_count(result.upserted).c_str());
    throw exit_with{2};
  }
  bar.finish();
  return result;
}

int run_upload(client_options& o, client::connection& conn) {
  auto r = upload_file(conn, o.file, o.request_bytes, false,
                       !o.json && stderr_is_terminal());
  if (o.json)
    write_stdout(
        domain::dump_exact(json{{"upserted", r.upserted}, {"file", o.file}}) +
        "\n");
  else
    write_stdout("upserted " + client::format_count(r.upserted) +
                 " activities from " + o.file + "\n");
  return 0;
}

// -- submit -----------------------------------------------------------------

std::string random_key() {
  std::random_device rd;
  std::uniform_int_distribution<int> hex(0, 15);
  std::string k = "cli-";
  for (int i = 0; i < 16; ++i)
    k += "0123456789abcdef"[hex(rd)];
  return k;
}

/// How watch (and submit --wait) write and wait, from the options.
watch_output watch_output_of(const client_options& o) {
  watch_output w;
  w.json = o.json;
  w.terminal = stdout_is_terminal();
  auto d = domain::parse_duration(o.give_up_after);
  if (!d || *d < std::chrono::seconds(1))
    throw usage_problem("--give-up-after: '" + o.give_up_after +
                        "' is not a duration of at least 1s");
  w.give_up_after = *d;
  return w;
}

int run_watch(client_options& o, client::connection& conn) {
  return watch_batches(conn.config(), o.batch_ids, watch_output_of(o));
}

int run_submit(client_options& o, client::connection& conn) {
  int sources = (!o.ids.empty()) + (!o.ids_file.empty()) + (!o.csv.empty());
  if (sources != 1)
    throw usage_problem("submit needs exactly one of --ids, --ids-file and "
                        "--csv");
  json metadata;
  if (!o.metadata.empty()) {
    auto parsed = domain::parse_json_exact(o.metadata);
    if (!parsed || !parsed.value().is_object())
      throw usage_problem("--metadata: give a JSON object, e.g. "
                          "'{\"source\":\"erp\"}'");
    metadata = std::move(parsed).value();
  }

  std::vector<std::string> ids;
  if (!o.ids.empty()) {
    std::istringstream in(o.ids);
    ids = client::read_id_list(in);
  } else if (!o.ids_file.empty()) {
    std::ifstream in(o.ids_file);
    if (!in)
      throw usage_problem(o.ids_file + ": cannot be read");
    ids = client::read_id_list(in);
  } else {
    auto r = upload_file(conn, o.csv, o.request_bytes, true,
                         !o.json && stderr_is_terminal());
    ids = std::move(r.ids);
    std::fprintf(stderr, "upserted %s activities from %s\n",
                 client::format_count(r.upserted).c_str(), o.csv.c_str());
  }
  // A batch refuses duplicates; in several batches they would be
  // processed twice. The first one counts.
  std::unordered_set<std::string> seen;
  std::vector<std::string> unique;
  unique.reserve(ids.size());
  for (auto& id : ids)
    if (seen.insert(id).second)
      unique.push_back(std::move(id));
  if (unique.size() < ids.size())
    std::fprintf(stderr, "left out %s repeated ids\n",
                 client::format_count(
                     static_cast<std::int64_t>(ids.size() - unique.size()))
                     .c_str());
  if (unique.empty())
    throw usage_problem("no activity ids to submit");

  auto size = static_cast<std::size_t>(o.batch_size);
  std::size_t parts = (unique.size() + size - 1) / size;
  // A key makes the client's own repeats (after a 503 or a broken
  // connection) and a second run of the same command harmless.
  bool own_key = !o.idempotency_key.empty();
  std::string key = own_key ? o.idempotency_key : random_key();
  std::vector<std::string> batch_ids;
  for (std::size_t i = 0; i < parts; ++i) {
    json body;
    auto first = unique.begin() + static_cast<std::ptrdiff_t>(i * size);
    auto last = unique.begin() + static_cast<std::ptrdiff_t>(
                                     std::min(unique.size(), (i + 1) * size));
    body["activity_ids"] = std::vector<std::string>(first, last);
    if (o.priority != 0)
      body["priority"] = o.priority;
    if (o.max_retries >= 0)
      body["max_retries"] = o.max_retries;
    if (!metadata.is_null())
      body["metadata"] = metadata;
    if (!o.run_after.empty())
      body["run_after"] = o.run_after;
    auto part_key = parts == 1 ? key : key + "-" + std::to_string(i + 1);
    try {
      auto r = conn.post_json("/api/v1/batches", body, client::repeat::always,
                              {{"Idempotency-Key", part_key}});
      auto id = string_field(r.json, "id");
      if (!looks_like_uuid(id))
        throw std::runtime_error("the server's answer to a submit has no "
                                 "batch id");
      batch_ids.push_back(id);
      if (o.json)
        write_stdout(domain::dump_exact(r.json) + "\n");
      else
        write_stdout(batch_ids.back() + "\n");
      std::fflush(stdout);
    } catch (const request_error& e) {
      report(e, conn.config());
      if (i > 0)
        std::fprintf(stderr,
                     "offgridflow-batch: %zu of %zu batches were submitted; "
                     "the same command with --idempotency-key %s submits "
                     "the rest without repeating them\n",
                     i, parts, key.c_str());
      throw exit_with{exit_code_of(e)};
    }
  }
  if (!o.json)
    std::fprintf(
        stderr,
        "submitted %s activities in %zu "
        "batch%s\n",
        client::format_count(static_cast<std::int64_t>(unique.size())).c_str(),
        parts, parts == 1 ? "" : "es");
  if (!o.wait)
    return 0;
  return watch_batches(conn.config(), batch_ids, watch_output_of(o));
}

// -- list, get, cancel, retry, delete ---------------------------------------

/// "5m", "3h", "2d": how long ago an RFC 3339 time was.
std::string age_of(const std::string& rfc3339) {
  auto t = domain::parse_rfc3339(rfc3339);
  if (!t)
    return "?";
  double s = static_cast<double>(domain::now_us() - *t) / 1e6;
  if (s < 60)
    return std::to_string(std::max(0, static_cast<int>(s))) + "s";
  if (s < 3600)
    return std::to_string(static_cast<int>(s / 60)) + "m";
  if (s < 86400)
    return std::to_string(static_cast<int>(s / 3600)) + "h";
  return std::to_string(static_cast<int>(s / 86400)) + "d";
}

int run_list(client_options& o, client::connection& conn) {
  json all = json::array();
  json next = nullptr;
  std::string token;
  while (static_cast<int>(all.size()) < o.limit) {
    int want = std::min(100, o.limit - static_cast<int>(all.size()));
    std::string path = "/api/v1/batches?limit=" + std::to_string(want);
    if (!o.status.empty())
      path += "&status=" + client::url_encode(o.status);
    if (!token.empty())
      path += "&page_token=" + client::url_encode(token);
    auto r = conn.get(path);
    for (auto& b : array_field(r.json, "batches"))
      all.push_back(b);
    next =
        r.json.is_object() ? r.json.value("next_page_token", json()) : json();
    if (!next.is_string())
      break;
    token = next.get<std::string>();
  }
  if (o.json) {
    write_stdout(
        domain::dump_exact(json{{"batches", all}, {"next_page_token", next}}) +
        "\n");
    return 0;
  }
  if (all.empty()) {
    write_stdout("no batches\n");
    return 0;
  }
  std::vector<std::vector<std::string>> rows;
  for (const auto& b : all) {
    char percent[16];
    std::snprintf(percent, sizeof percent, "%.0f%%",
                  number_field(b, "progress_percent"));
    rows.push_back(
        {client::printable(string_field(b, "id")),
         client::printable(string_field(b, "status")), percent,
         client::format_count(int_field(b, "total_activities")),
         // One decimal, none from 100,000 kg: 35,849,450 kg still fits 80
         // columns.
         client::format_decimal(
             number_text(b, "total_emissions_kg_co2e"),
             number_field(b, "total_emissions_kg_co2e") < 100000 ? 1 : 0),
         age_of(string_field(b, "created_at"))});
  }
  write_stdout(client::render_table({{"ID"},
                                     {"STATUS"},
                                     {"DONE", true},
                                     {"ITEMS", true},
                                     {"KG CO2E", true},
                                     {"AGE", true}},
                                    rows));
  if (next.is_string())
    write_stdout("(more: raise --limit)\n");
  return 0;
}

void print_batch(const json& b) {
  auto v = progress_of_batch(b);
  std::vector<std::vector<std::string>> rows;
  auto add = [&](const char* name, std::string value) {
    rows.push_back({name, client::printable(value)});
  };
  auto time_or_dash = [&](const char* key) {
    auto t = string_field(b, key);
    return t.empty() ? std::string("-") : t;
  };
  add("id", v.batch_id);
  add("status", v.status + ((b.is_object() && b.value("cancel_requested",
                                                      json()) == json(true)) &&
                                    v.status == "processing"
                                ? " (cancel requested)"
                                : ""));
  add("priority", std::to_string(int_field(b, "priority")));
  char percent[16];
  std::snprintf(percent, sizeof percent, "%.1f%%", v.percent);
  add("progress", std::string(percent) + " " +
                      client::format_count(v.processed) + "/" +
                      client::format_count(v.total));
  add("succeeded", client::format_count(v.succeeded));
  add("failed", client::format_count(v.failed));
  add("emissions", client::format_kg(v.emissions_kg));
  add("retries", std::to_string(int_field(b, "retry_count")) + " of " +
                     std::to_string(int_field(b, "max_retries")));
  add("created", time_or_dash("created_at"));
  add("started", time_or_dash("started_at"));
  add("completed", time_or_dash("completed_at"));
  add("error", string_field(b, "error", "-"));
  add("idempotency_key", string_field(b, "idempotency_key", "-"));
  add("metadata", domain::dump_exact(b.value("metadata", json::object())));
  std::string out;
  for (const auto& r : rows) {
    out += r[0] + std::string(17 - r[0].size(), ' ') + r[1] + "\n";
  }
  write_stdout(out);
}

int run_get(client_options& o, client::connection& conn) {
  auto r = conn.get(batch_path(o.id));
  if (o.json)
    write_stdout(domain::dump_exact(r.json) + "\n");
  else
    print_batch(r.json);
  return 0;
}

int run_cancel(client_options& o, client::connection& conn) {
  auto r = conn.post(batch_path(o.id) + "/cancel", "", "application/json",
                     client::repeat::after_unavailable);
  if (o.json) {
    write_stdout(domain::dump_exact(r.json) + "\n");
  } else if (r.status == 202) {
    write_stdout("cancel requested: " + o.id +
                 " is processing and stops within 2 s\n");
  } else {
    write_stdout("cancelled " + o.id + "\n");
  }
  return 0;
}

int run_retry(client_options& o, client::connection& conn) {
  auto r = conn.post(batch_path(o.id) + "/retry", "", "application/json",
                     client::repeat::after_unavailable);
  if (o.json)
    write_stdout(domain::dump_exact(r.json) + "\n");
  else
    write_stdout("retrying " + o.id + " (retry " +
                 std::to_string(int_field(r.json, "retry_count")) +
                 "): its failed and unprocessed activities run again\n");
  return 0;
}

int run_delete(client_options& o, client::connection& conn) {
  conn.del(batch_path(o.id));
  if (o.json)
    write_stdout(domain::dump_exact(json{{"deleted", o.id}}) + "\n");
  else
    write_stdout("deleted " + o.id + "\n");
  return 0;
}

// -- results ----------------------------------------------------------------

std::string csv_cell(const json& item, const char* key) {
  auto it = item.find(key);
  if (it == item.end() || it->is_null())
    return "";
  if (it->is_string())
    return client::csv_field(it->get<std::string>());
  if (auto text = domain::raw_number_text(*it))
    return std::string(*text);
  return client::csv_field(domain::dump_exact(*it));
}

int run_results(client_options& o, client::connection& conn) {
  std::string part = o.output.empty() ? "" : o.output + ".part";
  std::ofstream file;
  std::FILE* out = stdout;
  if (!o.output.empty()) {
    file.open(part, std::ios::binary | std::ios::trunc);
    if (!file)
      throw usage_problem(o.output + ": cannot be written");
  }
  auto emit = [&](const std::string& s) {
    if (file.is_open())
      file << s;
    else
      std::fwrite(s.data(), 1, s.size(), out);
  };
  bool csv = o.format == "csv";
  std::int64_t count = 0;
  try {
    emit(csv ? "activity_id,status,scope,emissions_kg_co2e,factor_id,error\r\n"
             : "[");
    std::string token;
    for (;;) {
      std::string path = batch_path(o.id) + "/items?limit=1000";
      if (!token.empty())
        path += "&page_token=" + client::url_encode(token);
      auto r = conn.get(path);
      std::string chunk;
      for (const auto& item : array_field(r.json, "items")) {
        if (csv) {
          chunk += csv_cell(item, "activity_id") + "," +
                   csv_cell(item, "status") + "," + csv_cell(item, "scope") +
                   "," + csv_cell(item, "emissions_kg_co2e") + "," +
                   csv_cell(item, "factor_id") + "," + csv_cell(item, "error") +
                   "\r\n";
        } else {
          chunk += (count == 0 ? "\n" : ",\n") + domain::dump_exact(item);
        }
        ++count;
      }
      emit(chunk);
      auto next =
          r.json.is_object() ? r.json.value("next_page_token", json()) : json();
      if (!next.is_string())
        break;
      token = next.get<std::string>();
    }
    if (!csv)
      emit("\n]\n");
  } catch (...) {
    if (file.is_open()) {
      file.close();
      std::remove(part.c_str());
    }
    throw;
  }
  if (file.is_open()) {
    file.close();
    if (!file || std::rename(part.c_str(), o.output.c_str()) != 0) {
      std::remove(part.c_str());
      throw usage_problem(o.output + ": cannot be written");
    }
    std::fprintf(stderr, "wrote %s items to %s\n",
                 client::format_count(count).c_str(), o.output.c_str());
  }
  std::fflush(stdout);
  return 0;
}

} // namespace

std::vector<client_command> add_client_commands(CLI::App& app) {
  std::vector<client_command> commands;
  using runner = int (*)(client_options&, client::connection&);
  auto add = [&](const char* name, const char* what,
                 runner run) -> client_options& {
    auto* sub = app.add_subcommand(name, what);
    auto o = std::make_unique<client_options>();
    o->run = run;
    add_common(sub, *o);
    commands.push_back({sub, std::move(o)});
    return *commands.back().options;
  };
  auto sub = [&] { return commands.back().app; };
  auto request_bytes = [&](client_options& o, const char* what) {
    sub()
        ->add_option("--request-bytes", o.request_bytes, what)
        ->envname("OGF_REQUEST_BYTES")
        ->capture_default_str()
        ->check(CLI::Range(std::size_t{64 * 1024}, std::size_t{1} << 30));
  };
  auto id_command = [&](const char* name, const char* what, runner run) {
    auto& o = add(name, what, run);
    sub()->add_option("ID", o.id, "batch id")->required();
    return &o;
  };

  {
    auto& o = add("upload",
                  "upsert activities from a .csv or .json file, 10,000 rows "
                  "per request",
                  run_upload);
    sub()
        ->add_option("FILE", o.file, "a .csv (the API's columns) or .json")
        ->required();
    request_bytes(o, "largest request body to send (64 KiB..1 GiB); below "
                     "the server's --max-body-bytes");
  }
  {
    auto& o = add("submit",
                  "submit a batch (several beyond --batch-size ids) and print "
                  "its id",
                  run_submit);
    auto* s = sub();
    s->add_option("--ids", o.ids, "activity ids, comma-separated");
    s->add_option("--ids-file", o.ids_file,
                  "file of activity ids, one per line or comma-separated");
    s->add_option("--csv", o.csv,
                  "upload this activities file first, then submit its ids");
    s->add_option("--priority", o.priority, "1..10, higher runs first")
        ->check(CLI::Range(1, 10));
    s->add_option("--max-retries", o.max_retries, "0..10")
        ->check(CLI::Range(0, 10));
    s->add_option("--idempotency-key", o.idempotency_key,
                  "repeat-safe key; split batches get K-1, K-2, ...");
    s->add_option("--metadata", o.metadata, "a JSON object");
    s->add_option("--run-after", o.run_after,
                  "not before this RFC 3339 time, e.g. 2026-11-28T22:00:00Z");
    s->add_option("--batch-size", o.batch_size,
                  "most ids per batch (1..100000; the server's "
                  "--max-batch-activities)")
        ->envname("OGF_BATCH_SIZE")
        ->capture_default_str()
        ->check(CLI::Range(1, 100000));
    request_bytes(o, "with --csv: largest upload request body");
    s->add_flag("--wait", o.wait, "then follow the batches as watch does");
    s->add_option("--give-up-after", o.give_up_after, "with --wait: as watch's")
        ->capture_default_str();
  }
  {
    auto& o = add("watch",
                  "follow batches live until they end (Ctrl-C stops "
                  "watching, not the batches)",
                  run_watch);
    sub()->add_option("ID", o.batch_ids, "batch ids")->required();
    sub()
        ->add_option("--give-up-after", o.give_up_after,
                     "exit 3 when the server has not answered for this long "
                     "(at least 1s)")
        ->capture_default_str();
  }
  {
    auto& o = add("list", "list batches, newest first", run_list);
    sub()->add_option("--status", o.status,
                      "only these statuses, comma-separated");
    sub()
        ->add_option("--limit", o.limit, "most batches to show (1..10000)")
        ->capture_default_str()
        ->check(CLI::Range(1, 10000));
  }
  id_command("get", "show one batch", run_get);
  id_command("cancel", "cancel a batch (a processing one stops within 2 s)",
             run_cancel);
  id_command("retry", "run a failed or cancelled batch's unfinished work again",
             run_retry);
  id_command("delete", "delete a pending or ended batch and its results",
             run_delete);
  {
    auto* o = id_command(
        "results", "write every item of a batch as CSV or JSON", run_results);
    sub()
        ->add_option("--format", o->format, "csv or json")
        ->capture_default_str()
        ->check(CLI::IsMember({"csv", "json"}));
    sub()->add_option("--output", o->output, "file to write (default stdout)");
  }
  return commands;
}

namespace {

int run_command(client_options& o) {
  try {
    auto timeout = domain::parse_duration(o.timeout);
    if (!timeout || *timeout < std::chrono::milliseconds(100))
      throw usage_problem("--timeout: '" + o.timeout +
                          "' is not a duration of at least 100ms");
    o.config.read_timeout = *timeout;
    try {
      client::parse_server_url(o.config.server);
    } catch (const std::invalid_argument& e) {
      throw usage_problem(std::string("--server: ") + e.what());
    }
    if (!o.config.ca_cert.empty() && !std::filesystem::exists(o.config.ca_cert))
      throw usage_problem("--ca-cert: " + o.config.ca_cert + " does not exist");
    if (o.wait)
      watch_output_of(o); // a bad --give-up-after is said before submitting
    client::connection conn(o.config);
    try {
      return o.run(o, conn);
    } catch (const request_error& e) {
      report(e, o.config);
      return exit_code_of(e);
    }
  } catch (const usage_problem& e) {
    std::fprintf(stderr, "offgridflow-batch: %s\n", e.what());
    return 2;
  } catch (const exit_with& e) {
    return e.code;
  } catch (const std::exception& e) {
    // An answer of a shape the client does not know: the server's fault,
    // never exit 1 (which says a batch failed).
    std::fprintf(stderr,
                 "offgridflow-batch: unexpected answer from the server: %s\n",
                 client::printable(e.what()).c_str());
    return 3;
  }
}

} // namespace

int run_client_command(client_options& o) {
  int code = run_command(o);
  // Output that did not reach its file (a full disk behind a redirect)
  // must not end in exit 0.
  if (std::fflush(stdout) != 0 || std::ferror(stdout)) {
    std::fprintf(stderr, "offgridflow-batch: writing the output failed: %s\n",
                 std::strerror(errno));
    return code == 0 ? 2 : code;
  }
  return code;
}

} // namespace ogf::app
