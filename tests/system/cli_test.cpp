// The client commands of offgridflow-batch (CONTRACT §5) as a user runs
// them: the real binary against a real `serve` on its own embedded
// database, in headers mode and in keys mode, with stdout a file (not a
// terminal) and under a pseudo-terminal. Each test case starts one server;
// its checks follow one another on it instead of SECTIONs, which would
// start it again.
#include <algorithm>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/ioctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <httplib.h>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include "domain/exact_json.hpp"
#include "persistence/embedded_postgres.hpp"
#include "support/engine_fixture.hpp"
#include "support/process.hpp"
#include "support/system_helpers.hpp"

using namespace ogf;
using namespace ogf::testing;
using namespace std::chrono_literals;
namespace fs = std::filesystem;
using json = nlohmann::json;
using Catch::Matchers::Contains;
using Catch::Matchers::EndsWith;
using Catch::Matchers::StartsWith;

namespace {

const std::string unknown_id = "00000000-0000-4000-8000-000000000000";

bool is_uuid(const std::string& s) {
  static const std::regex re(
      "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}");
  return std::regex_match(s, re);
}

/// `text` split at '\n' (a last line without one counts too).
std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line))
    out.push_back(line);
  return out;
}

/// Only printable ASCII and line feeds: nothing for a terminal to obey.
bool plain_text(const std::string& s) {
  return std::all_of(s.begin(), s.end(), [](char c) {
    return c == '\n' || (c >= 0x20 && c < 0x7f);
  });
}

/// "act-00042".
std::string activity_id(const std::string& prefix, int i) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%s-%05d", prefix.c_str(), i);
  return buf;
}

/// A CSV of `n` electricity activities (a built-in GLOBAL factor in kWh)
/// with ids prefix-00001...; row `bad_row` (1-based, 0 = none) has a
/// negative quantity.
void write_activities(const fs::path& file, const std::string& prefix, int n,
                      int bad_row = 0) {
  std::ofstream out(file, std::ios::binary);
  out << "id,activity_type,quantity,unit,region,period_start,period_end\n";
  for (int i = 1; i <= n; ++i)
    out << activity_id(prefix, i) << ",electricity,"
        << (i == bad_row ? std::string("-5")
                         : std::to_string(i % 997 + 1) + ".25")
        << ",kWh,GLOBAL,2025-01-01,2025-01-31\n";
}

/// A file of ids prefix-00001..prefix-n, one a line.
void write_ids(const fs::path& file, const std::string& prefix, int n) {
  std::ofstream out(file, std::ios::binary);
  for (int i = 1; i <= n; ++i)
    out << activity_id(prefix, i) << "\n";
}

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

json parse_exact(const std::string& text) {
  auto parsed = domain::parse_json_exact(text);
  REQUIRE(parsed);
  return std::move(parsed).value();
}

/// A `serve` on its own embedded database on a free port of 127.0.0.1;
/// SIGTERM when the test case ends.
struct server {
  temp_dir dir{"ogf-cli"};
  int port = free_port();
  fs::path data = dir.path / "data";
  std::unique_ptr<child_process> process;

  explicit server(const std::vector<std::string>& extra) {
    std::vector<std::string> argv{
        server_binary(), "serve",       "--listen",        address(),
        "--data-dir",    data.string(), "--poll-interval", "200ms",
        "--poll-jitter", "50ms"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process = std::make_unique<child_process>(
        argv, std::map<std::string, std::string>{},
        (dir.path / "serve.log").string());
    if (!wait_until([&] { return health_status(port) == 200; }, 90s, 100ms))
      FAIL("serve did not become healthy: " << process->output());
  }
  ~server() {
    process->signal(SIGTERM);
    process->wait(30s);
  }
  std::string address() const { return "127.0.0.1:" + std::to_string(port); }
  std::string url() const { return "http://" + address(); }
};

/// Runs `offgridflow-batch <args> <common>` to its end, stdout and stderr
/// apart (neither a terminal). One at a time per dir.
struct cli {
  fs::path dir;
  std::vector<std::string> common;

  command_output operator()(std::vector<std::string> args,
                            const std::map<std::string, std::string>& env = {},
                            std::chrono::milliseconds timeout = 120s) const {
    args.insert(args.begin(), server_binary());
    args.insert(args.end(), common.begin(), common.end());
    auto r = run_to_exit(args, env, dir.string(), timeout);
    std::string shown;
    for (std::size_t i = 1; i < args.size(); ++i)
      shown += " " + args[i];
    UNSCOPED_INFO("offgridflow-batch"
                  << shown << "\nexit " << r.exit_code << " after "
                  << r.took.count() << " ms\nstdout: " << r.out.substr(0, 4000)
                  << "\nstderr: " << r.err);
    return r;
  }
};

/// Uploads `n` activities act-00001... through the CLI and writes their
/// ids to a file; returns its path.
std::string upload_numbered(const cli& run, const fs::path& dir, int n) {
  auto csv = (dir / "activities.csv").string();
  write_activities(csv, "act", n);
  REQUIRE(run({"upload", csv}).exit_code == 0);
  auto ids = (dir / "ids.txt").string();
  write_ids(ids, "act", n);
  return ids;
}

/// The API, for what the commands are compared with.
struct api {
  httplib::Client http;
  httplib::Headers tenant;

  api(int port, const std::string& org, const std::string& workspace)
      : http("127.0.0.1", port), tenant{{"X-Org-ID", org},
                                        {"X-Workspace-ID", workspace}} {
    http.set_read_timeout(30, 0);
  }

  int status(const std::string& path) {
    auto r = http.Get(path, tenant);
    return r ? r->status : 0;
  }

  json get(const std::string& path) {
    auto r = http.Get(path, tenant);
    REQUIRE(r);
    INFO(path << ": " << r->body);
    REQUIRE(r->status == 200);
    return parse_exact(r->body);
  }

  std::string status_of(const std::string& batch_id) {
    return get("/api/v1/batches/" + batch_id)["status"].get<std::string>();
  }

  /// Waits until the batch's status is one of `wanted`.
  bool wait_for(const std::string& batch_id, std::set<std::string> wanted,
                std::chrono::milliseconds timeout = 60s) {
    return wait_until(
        [&] {
          auto r = http.Get("/api/v1/batches/" + batch_id, tenant);
          return r && r->status == 200 &&
                 wanted.count(json::parse(r->body)["status"]) > 0;
        },
        timeout, 50ms);
  }

  /// Every item of a batch, page after page of 1,000.
  std::vector<json> items(const std::string& batch_id) {
    std::vector<json> out;
    std::string token;
    for (int pages = 0; pages < 1000; ++pages) {
      auto path = "/api/v1/batches/" + batch_id + "/items?limit=1000";
      if (!token.empty())
        path += "&page_token=" + token;
      auto page = get(path);
      for (auto& item : page["items"])
        out.push_back(item);
      if (!page["next_page_token"].is_string())
        break;
      token = page["next_page_token"].get<std::string>();
    }
    return out;
  }
};

/// An item's cell as `results` writes it: strings as they are (none here
/// needs quoting), numbers as the API's text, null empty.
std::string cell(const json& item, const char* key) {
  const auto& v = item.at(key);
  if (v.is_null())
    return "";
  if (v.is_string()) {
    auto s = v.get<std::string>();
    REQUIRE(s.find_first_of(",\"\r\n") == std::string::npos);
    return s;
  }
  if (auto text = domain::raw_number_text(v))
    return std::string(*text);
  return v.dump();
}

/// The CSV `results` should write for these items.
std::string expected_csv(const std::vector<json>& items) {
  std::string out = "activity_id,status,scope,emissions_kg_co2e,factor_id,"
                    "error\r\n";
  for (const auto& item : items)
    out += cell(item, "activity_id") + "," + cell(item, "status") + "," +
           cell(item, "scope") + "," + cell(item, "emissions_kg_co2e") + "," +
           cell(item, "factor_id") + "," + cell(item, "error") + "\r\n";
  return out;
}

/// `offgridflow-batch <argv>` on a pseudo-terminal of `cols` x `rows`, as
/// in a user's terminal (TERM=xterm): everything it writes is read as it
/// comes, so it never blocks on a full terminal.
class pty_child {
public:
  pty_child(std::vector<std::string> argv, unsigned short cols,
            unsigned short rows) {
    argv.insert(argv.begin(), server_binary());
    winsize ws{};
    ws.ws_col = cols;
    ws.ws_row = rows;
    pid_ = forkpty(&master_, nullptr, nullptr, &ws);
    REQUIRE(pid_ >= 0);
    if (pid_ == 0)
      exec_child(argv, {{"TERM", "xterm"}});
  }
  ~pty_child() {
    if (pid_ > 0 && !exit_code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    if (master_ >= 0)
      close(master_);
  }
  pty_child(const pty_child&) = delete;
  pty_child& operator=(const pty_child&) = delete;

  const std::string& output() const { return output_; }

  /// Reads until `pred(output())` holds, the terminal closes or `timeout`
  /// passes; whether pred held.
  bool read_until(const std::function<bool(const std::string&)>& pred,
                  std::chrono::milliseconds timeout) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred(output_)) {
      if (closed_ || std::chrono::steady_clock::now() >= deadline)
        return false;
      read_some(50);
    }
    return true;
  }

  /// Types `bytes` on the terminal's keyboard.
  void type(const std::string& bytes) {
    REQUIRE(::write(master_, bytes.data(), bytes.size()) ==
            static_cast<ssize_t>(bytes.size()));
  }

  /// Reads to the end and waits for the exit code; -1 after `timeout`.
  int finish(std::chrono::milliseconds timeout) {
    read_until([](const std::string&) { return false; }, timeout);
    auto deadline = std::chrono::steady_clock::now() + 5s;
    while (!exit_code_) {
      int status = 0;
      if (waitpid(pid_, &status, WNOHANG) == pid_) {
        exit_code_ =
            WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
        break;
      }
      if (std::chrono::steady_clock::now() >= deadline)
        return -1;
      std::this_thread::sleep_for(10ms);
    }
    return *exit_code_;
  }

private:
  void read_some(int timeout_ms) {
    pollfd p{master_, POLLIN, 0};
    if (poll(&p, 1, timeout_ms) <= 0)
      return;
    char buf[4096];
    auto n = ::read(master_, buf, sizeof buf);
    if (n > 0)
      output_.append(buf, static_cast<std::size_t>(n));
    else if (n == 0 || errno != EINTR)
      closed_ = true; // EIO: the child's side is gone
  }

  pid_t pid_ = -1;
  int master_ = -1;
  std::string output_;
  bool closed_ = false;
  std::optional<int> exit_code_;
};

/// How a terminal shows `out`: the widest line in columns (escape
/// sequences take none, '\r' goes back to column 0) and whether anything
/// but printable ASCII, CSI sequences, '\r' and '\n' was written.
struct terminal_view {
  std::size_t widest = 0;
  bool other_controls = false;
};

terminal_view view_on_terminal(const std::string& out) {
  terminal_view v;
  std::size_t col = 0;
  for (std::size_t i = 0; i < out.size(); ++i) {
    char c = out[i];
    if (c == '\x1b' && i + 1 < out.size() && out[i + 1] == '[') {
      i += 2;
      while (i < out.size() && !(out[i] >= 0x40 && out[i] <= 0x7e))
        ++i;
    } else if (c == '\r' || c == '\n') {
      col = 0;
    } else if (c >= 0x20 && c < 0x7f) {
      v.widest = std::max(v.widest, ++col);
    } else {
      v.other_controls = true;
    }
  }
  return v;
}

std::size_t count_of(const std::string& text, const std::string& what) {
  std::size_t n = 0;
  for (auto at = text.find(what); at != std::string::npos;
       at = text.find(what, at + what.size()))
    ++n;
  return n;
}

} // namespace

TEST_CASE("client commands exit 2 on a bad flag, a missing argument or a "
          "bad server URL, and 3 with one line on stderr when nothing "
          "listens",
          "[cli]") {
  temp_dir dir{"ogf-cli"};
  cli run{dir.path, {}};
  write_activities(dir.path / "few.csv", "few", 3);
  write_activities(dir.path / "few.txt", "few", 3);

  struct usage_case {
    std::vector<std::string> args;
    std::string names;
  };
  const std::vector<usage_case> usage{
      {{"list", "--no-such-flag"}, "--no-such-flag"},
      {{"get"}, "ID"},
      {{"watch"}, "ID"},
      {{"upload"}, "FILE"},
      {{"list", "--server", "ftp://127.0.0.1:8080"}, "--server"},
      {{"list", "--server", "http://127.0.0.1:8080/api"}, "--server"},
      {{"list", "--server", "http://127.0.0.1:99999"}, "--server"},
      {{"list", "--limit", "0"}, "--limit"},
      {{"submit", "--priority", "11", "--ids", "a"}, "--priority"},
      {{"submit"}, "--ids"},
      {{"submit", "--ids", "a", "--metadata", "[1]"}, "--metadata"},
      {{"results", unknown_id, "--format", "xml"}, "--format"},
      {{"get", unknown_id, "--timeout", "soon"}, "--timeout"},
      {{"upload", "/nonexistent/a.csv"}, "/nonexistent/a.csv"},
      {{"upload", (dir.path / "few.txt").string()}, "few.txt"},
      {{"submit", "--ids-file", "/nonexistent/ids"}, "/nonexistent/ids"},
  };
  for (const auto& u : usage) {
    auto r = run(u.args);
    CHECK(r.exit_code == 2);
    CHECK(lines_of(r.err).size() == 1);
    CHECK_THAT(r.err, StartsWith("offgridflow-batch: ") && Contains(u.names));
    CHECK(r.out.empty());
  }

  // Nothing listens on this port: one line, at once (watch does not wait
  // for a server it never reached).
  auto nowhere = "http://127.0.0.1:" + std::to_string(free_port());
  cli dead{dir.path,
           {"--server", nowhere, "--org", "acme", "--workspace", "main"}};
  const std::vector<std::vector<std::string>> unreachable{
      {"list"},
      {"get", unknown_id},
      {"watch", unknown_id},
      {"submit", "--ids", "a,b"},
      {"upload", (dir.path / "few.csv").string()},
  };
  for (const auto& args : unreachable) {
    auto r = dead(args);
    CHECK(r.exit_code == 3);
    CHECK(lines_of(r.err).size() == 1);
    CHECK_THAT(r.err, StartsWith("offgridflow-batch: ") &&
                          Contains("cannot reach " + nowhere));
    CHECK(r.out.empty());
    CHECK(r.took < 10s);
  }
}

TEST_CASE("upload, submit, list, get, watch and results work in headers "
          "mode with 25,000 rows, a bad row named by its place in the file "
          "and 12,000 ids split into two batches and replayed by key",
          "[cli]") {
  server s({"--workers", "2"});
  auto dir = s.dir.path;
  cli run{dir, {"--server", s.url(), "--org", "acme", "--workspace", "main"}};
  api a(s.port, "acme", "main");

  // -- upload: 25,000 rows in three requests.
  auto all = (dir / "activities.csv").string();
  write_activities(all, "act", 25000);
  auto up = run({"upload", all});
  REQUIRE(up.exit_code == 0);
  CHECK(up.out == "upserted 25,000 activities from " + all + "\n");
  CHECK(up.err.empty()); // no progress bar off a terminal
  for (int i : {1, 25000}) {
    auto act = a.get("/api/v1/activities/" + activity_id("act", i));
    CHECK(act["id"] == activity_id("act", i));
    CHECK(act["activity_type"] == "electricity");
    CHECK(act["unit"] == "kWh");
    CHECK(act["region"] == "GLOBAL");
    auto quantity = domain::raw_number_text(act["quantity"]);
    REQUIRE(quantity);
    CHECK(std::stod(std::string(*quantity)) == i % 997 + 1.25);
  }

  // Row 23,456 is bad: the first two requests (20,000 rows) stay upserted,
  // the third writes nothing.
  auto bad = (dir / "bad.csv").string();
  write_activities(bad, "bad", 25000, 23456);
  auto refused = run({"upload", bad});
  CHECK(refused.exit_code == 5);
  CHECK(refused.out.empty());
  CHECK(lines_of(refused.err).size() == 1);
  CHECK_THAT(refused.err,
             StartsWith("offgridflow-batch: " + bad +
                        ": row 23,456 (line 23,457): validation_error: ") &&
                 Contains("quantity") &&
                 EndsWith("; 20,000 rows of earlier requests were upserted\n"));
  CHECK(a.status("/api/v1/activities/bad-20000") == 200);
  CHECK(a.status("/api/v1/activities/bad-20001") == 404);
  CHECK(a.status("/api/v1/activities/bad-23455") == 404);
  CHECK(a.status("/api/v1/activities/bad-25000") == 404);

  // The same in JSON, whose rows the server counts from 0 within a
  // request: element 10,003 of the file is the second request's fourth.
  auto bad_json = (dir / "bad.json").string();
  {
    std::ofstream out(bad_json);
    out << "[\n";
    for (int i = 1; i <= 12000; ++i)
      out << (i > 1 ? ",\n" : "") << R"({"id": "bj-)" << i
          << R"(", "activity_type": "electricity", "quantity": )"
          << (i == 10003 ? "-1" : "1")
          << R"(, "unit": "kWh", "period_start": "2025-01-01",)"
          << R"( "period_end": "2025-01-31"})";
    out << "\n]\n";
  }
  auto refused_json = run({"upload", bad_json});
  CHECK(refused_json.exit_code == 5);
  CHECK(lines_of(refused_json.err).size() == 1);
  CHECK_THAT(refused_json.err,
             StartsWith("offgridflow-batch: " + bad_json +
                        ": row 10,003 (line 10,004): validation_error: "
                        "activities[10002].quantity ") &&
                 EndsWith("[activities[10002].quantity]; 10,000 rows of "
                          "earlier requests were upserted\n"));
  CHECK(a.status("/api/v1/activities/bj-10000") == 200);
  CHECK(a.status("/api/v1/activities/bj-10001") == 404);

  // A JSON file, --json output.
  auto small = (dir / "small.json").string();
  {
    std::ofstream out(small);
    out << R"({"activities": [
      {"id": "js-1", "activity_type": "electricity", "quantity": 10,
       "unit": "MWh", "period_start": "2025-02-01", "period_end": "2025-02-28"},
      {"id": "js-2", "activity_type": "electricity", "quantity": "2.5",
       "unit": "kWh", "region": "GLOBAL", "period_start": "2025-02-01",
       "period_end": "2025-02-28"}]})";
  }
  auto up_json = run({"upload", small, "--json"});
  CHECK(up_json.exit_code == 0);
  CHECK(json::parse(up_json.out) == json{{"upserted", 2}, {"file", small}});
  CHECK(a.status("/api/v1/activities/js-1") == 200);

  // -- submit: 12,000 ids in batches of 10,000 and 2,000, by key.
  auto ids = (dir / "ids.txt").string();
  write_ids(ids, "act", 12000);
  auto submitted =
      run({"submit", "--ids-file", ids, "--idempotency-key", "nightly-7"});
  REQUIRE(submitted.exit_code == 0);
  auto batch_ids = lines_of(submitted.out);
  REQUIRE(batch_ids.size() == 2);
  CHECK(is_uuid(batch_ids[0]));
  CHECK(is_uuid(batch_ids[1]));
  CHECK(batch_ids[0] != batch_ids[1]);
  CHECK_THAT(submitted.err,
             Contains("submitted 12,000 activities in 2 batches"));
  const std::int64_t totals[] = {10000, 2000};
  for (int i = 0; i < 2; ++i) {
    auto got = run({"get", batch_ids[i], "--json"});
    REQUIRE(got.exit_code == 0);
    auto b = json::parse(got.out);
    CHECK(b["id"] == batch_ids[i]);
    CHECK(b["total_activities"] == totals[i]);
    CHECK(b["idempotency_key"] == "nightly-7-" + std::to_string(i + 1));
  }
  auto replayed =
      run({"submit", "--ids-file", ids, "--idempotency-key", "nightly-7"});
  CHECK(replayed.exit_code == 0);
  CHECK(replayed.out == submitted.out);

  auto listed = run({"list", "--json"});
  REQUIRE(listed.exit_code == 0);
  auto list = json::parse(listed.out);
  REQUIRE(list["batches"].size() == 2);
  std::set<std::string> in_list;
  for (const auto& b : list["batches"])
    in_list.insert(b["id"].get<std::string>());
  CHECK(in_list == std::set<std::string>(batch_ids.begin(), batch_ids.end()));
  CHECK(list["next_page_token"].is_null());

  // The same through OGF_ variables only.
  auto by_env = run_to_exit({server_binary(), "list"},
                            {{"OGF_SERVER", s.url()},
                             {"OGF_ORG", "acme"},
                             {"OGF_WORKSPACE", "main"},
                             {"OGF_JSON", "true"}},
                            dir.string(), 30s);
  CHECK(by_env.exit_code == 0);
  CHECK(json::parse(by_env.out)["batches"].size() == 2);

  // -- watch on a pipe: a line per batch at most once a second, then a
  // summary line each.
  auto watched = run({"watch", batch_ids[0], batch_ids[1]});
  CHECK(watched.exit_code == 0);
  CHECK(plain_text(watched.out));
  CHECK(watched.err.empty());
  auto watch_lines = lines_of(watched.out);
  REQUIRE(watch_lines.size() >= 2);
  auto n = watch_lines.size();
  CHECK_THAT(watch_lines[n - 2],
             StartsWith(batch_ids[0] +
                        " completed: 10,000/10,000 succeeded, 0 failed, "));
  CHECK_THAT(watch_lines[n - 1],
             StartsWith(batch_ids[1] +
                        " completed: 2,000/2,000 succeeded, 0 failed, "));
  auto seconds = static_cast<std::size_t>(watched.took / 1s);
  for (const auto& id : batch_ids) {
    auto mine = std::count_if(
        watch_lines.begin(), watch_lines.end() - 2,
        [&](const std::string& l) { return l.rfind(id + " ", 0) == 0; });
    CHECK(static_cast<std::size_t>(mine) <= seconds + 2);
  }
  for (std::size_t i = 0; i + 2 < n; ++i)
    CHECK((watch_lines[i].rfind(batch_ids[0] + " ", 0) == 0 ||
           watch_lines[i].rfind(batch_ids[1] + " ", 0) == 0));

  // -- list and get as tables.
  auto table = run({"list"});
  REQUIRE(table.exit_code == 0);
  auto rows = lines_of(table.out);
  REQUIRE(rows.size() == 3);
  std::istringstream heading(rows[0]);
  std::vector<std::string> words{std::istream_iterator<std::string>(heading),
                                 {}};
  CHECK(words == std::vector<std::string>{"ID", "STATUS", "DONE", "ITEMS", "KG",
                                          "CO2E", "AGE"});
  for (int i = 1; i <= 2; ++i) {
    std::istringstream row(rows[i]);
    std::vector<std::string> cells{std::istream_iterator<std::string>(row), {}};
    REQUIRE(cells.size() == 6);
    CHECK(in_list.count(cells[0]) == 1);
    CHECK(cells[1] == "completed");
    CHECK(cells[2] == "100%");
    CHECK(cells[3] == (cells[0] == batch_ids[0] ? "10,000" : "2,000"));
  }
  CHECK(run({"list", "--status", "failed,cancelled"}).out == "no batches\n");
  auto by_status = run({"list", "--status", "completed,failed", "--json"});
  CHECK(by_status.exit_code == 0);
  CHECK(json::parse(by_status.out)["batches"].size() == 2);

  // watch --json of an ended batch: its final state as a JSON line.
  auto watched_json = run({"watch", batch_ids[1], "--json"});
  CHECK(watched_json.exit_code == 0);
  auto json_lines = lines_of(watched_json.out);
  REQUIRE_FALSE(json_lines.empty());
  auto done = json::parse(json_lines.back());
  CHECK(done["type"] == "done");
  CHECK(done["batch"]["id"] == batch_ids[1]);
  CHECK(done["batch"]["status"] == "completed");
  // Numbers as numbers, as the API sends them.
  CHECK(done["batch"]["progress_percent"] == 100);
  CHECK(done["batch"]["total_emissions_kg_co2e"].is_number());
  CHECK(done["batch"]["total_activities"] == 2000);

  // Names in a column of 17, then the value.
  auto field = [](std::string name, const std::string& value) {
    name.resize(17, ' ');
    return name + value + "\n";
  };
  auto shown = run({"get", batch_ids[1]});
  REQUIRE(shown.exit_code == 0);
  CHECK_THAT(shown.out, StartsWith(field("id", batch_ids[1])) &&
                            Contains(field("status", "completed")) &&
                            Contains(field("progress", "100.0% 2,000/2,000")) &&
                            Contains(field("succeeded", "2,000")) &&
                            Contains(field("idempotency_key", "nightly-7-2")));

  // -- results: every page, as CSV, JSON and into a file.
  auto items = a.items(batch_ids[1]);
  REQUIRE(items.size() == 2000);
  CHECK(items.front()["activity_id"] == "act-10001");
  CHECK(items.back()["activity_id"] == "act-12000");
  auto csv = expected_csv(items);
  auto results = run({"results", batch_ids[1]});
  CHECK(results.exit_code == 0);
  CHECK(results.out.size() == csv.size());
  CHECK(results.out == csv);
  CHECK(results.err.empty());

  auto as_json = run({"results", batch_ids[1], "--format", "json"});
  CHECK(as_json.exit_code == 0);
  auto results_json = parse_exact(as_json.out);
  REQUIRE(results_json.is_array());
  REQUIRE(results_json.size() == items.size());
  for (std::size_t i = 0; i < items.size(); ++i)
    if (domain::dump_exact(results_json[i]) != domain::dump_exact(items[i]))
      FAIL_CHECK("item " << i << ": " << domain::dump_exact(results_json[i])
                         << " != " << domain::dump_exact(items[i]));

  auto file = (dir / "results.csv").string();
  auto to_file = run({"results", batch_ids[1], "--output", file});
  CHECK(to_file.exit_code == 0);
  CHECK(to_file.out.empty());
  CHECK(to_file.err == "wrote 2,000 items to " + file + "\n");
  CHECK(slurp(file) == csv);
  CHECK_FALSE(fs::exists(file + ".part"));

  // The 10,000 batch, ten pages, into a file too.
  auto big = (dir / "big.csv").string();
  CHECK(run({"results", batch_ids[0], "--output", big}).exit_code == 0);
  CHECK(slurp(big) == expected_csv(a.items(batch_ids[0])));

  // -- a batch of activities that do not exist fails: watch exits 1.
  auto ghosts = run({"submit", "--ids", "ghost-1,act-00001,ghost-2"});
  REQUIRE(ghosts.exit_code == 0);
  auto ghost_id = ghosts.out.substr(0, ghosts.out.find('\n'));
  REQUIRE(is_uuid(ghost_id));
  auto ghost_watch = run({"watch", ghost_id});
  CHECK(ghost_watch.exit_code == 1);
  CHECK(plain_text(ghost_watch.out));
  auto ghost_lines = lines_of(ghost_watch.out);
  REQUIRE_FALSE(ghost_lines.empty());
  CHECK_THAT(ghost_lines.back(),
             StartsWith(ghost_id + " failed: ") && Contains("2 failed"));
  for (const auto& item : a.items(ghost_id))
    if (item["activity_id"] != "act-00001")
      CHECK(item["error"] == "activity_not_found");
  auto retry_ghosts = run({"retry", ghost_id});
  CHECK(retry_ghosts.exit_code == 0);
  CHECK(retry_ghosts.out ==
        "retrying " + ghost_id +
            " (retry 1): its failed and unprocessed activities run again\n");

  // -- submit --wait of good activities exits 0 after the summary; --csv
  // uploads first.
  auto waited = run({"submit", "--ids", "act-00001,act-00002,js-1", "--wait"});
  CHECK(waited.exit_code == 0);
  CHECK(plain_text(waited.out));
  auto waited_lines = lines_of(waited.out);
  REQUIRE(waited_lines.size() >= 2);
  CHECK(is_uuid(waited_lines[0]));
  CHECK_THAT(
      waited_lines.back(),
      StartsWith(waited_lines[0] + " completed: 3/3 succeeded, 0 failed, "));
  CHECK(a.status_of(waited_lines[0]) == "completed");

  auto few = (dir / "few.csv").string();
  write_activities(few, "few", 30);
  auto from_csv = run({"submit", "--csv", few, "--priority", "9", "--metadata",
                       R"({"source":"erp"})", "--json"});
  CHECK(from_csv.exit_code == 0);
  CHECK_THAT(from_csv.err, Contains("upserted 30 activities from " + few));
  auto from_csv_batch = json::parse(from_csv.out);
  CHECK(from_csv_batch["total_activities"] == 30);
  CHECK(from_csv_batch["priority"] == 9);
  CHECK(from_csv_batch["metadata"] == json{{"source", "erp"}});

  // -- exit 5 with the server's code, 4 without a tenant.
  for (const char* command :
       {"get", "cancel", "retry", "delete", "results", "watch"}) {
    auto r = run({command, unknown_id});
    CHECK(r.exit_code == 5);
    CHECK(lines_of(r.err).size() == 1);
    CHECK_THAT(r.err,
               StartsWith("offgridflow-batch: ") && Contains("not_found: "));
  }
  // A failed results --output leaves no file behind.
  auto no_file = (dir / "none.csv").string();
  CHECK(run({"results", unknown_id, "--output", no_file}).exit_code == 5);
  CHECK_FALSE(fs::exists(no_file));
  CHECK_FALSE(fs::exists(no_file + ".part"));
  auto not_yours =
      run_to_exit({server_binary(), "get", batch_ids[0], "--server", s.url(),
                   "--org", "globex", "--workspace", "main"},
                  {}, dir.string(), 30s);
  CHECK(not_yours.exit_code == 5);
  CHECK_THAT(not_yours.err, Contains("not_found: "));
  auto nobody = run_to_exit({server_binary(), "list", "--server", s.url()}, {},
                            dir.string(), 30s);
  CHECK(nobody.exit_code == 4);
  CHECK(lines_of(nobody.err).size() == 1);
  CHECK_THAT(nobody.err, Contains("unauthenticated: ") &&
                             Contains("--org and --workspace"));
}

TEST_CASE("watch on a terminal redraws one bar in place within the width, "
          "Ctrl-C stops watching but not the batch, and cancel, retry and "
          "delete act on it",
          "[cli]") {
  const int activities = 20000;
  // One worker, small chunks: a batch takes seconds, so that several
  // frames are drawn and the batch is still running after Ctrl-C.
  server s({"--workers", "1", "--chunk-size", "100", "--max-batch-activities",
            "20000"});
  auto dir = s.dir.path;
  std::vector<std::string> common{"--server", s.url(),       "--org",
                                  "acme",     "--workspace", "main"};
  cli run{dir, common};
  api a(s.port, "acme", "main");
  auto ids = upload_numbered(run, dir, activities);
  auto submit = [&] {
    auto r = run({"submit", "--ids-file", ids, "--batch-size", "20000"});
    REQUIRE(r.exit_code == 0);
    auto id = r.out.substr(0, r.out.find('\n'));
    REQUIRE(is_uuid(id));
    return id;
  };
  auto watch_args = [&](const std::string& id) {
    std::vector<std::string> args{"watch", id};
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };

  // -- a bar redrawn in place until 100%.
  auto first = submit();
  auto started = std::chrono::steady_clock::now();
  pty_child tty(watch_args(first), 100, 30);
  auto code = tty.finish(120s);
  auto took = std::chrono::steady_clock::now() - started;
  const auto& out = tty.output();
  INFO("terminal output: " << out);
  CHECK(code == 0);
  static const std::regex cursor_up("\x1b\\[[0-9]+A");
  auto ups =
      std::distance(std::sregex_iterator(out.begin(), out.end(), cursor_up),
                    std::sregex_iterator());
  CHECK(ups >= 2); // three frames at least
  auto frames = count_of(out, "\r\x1b[2K");
  CHECK(frames >= 3);
  // At most 10 a second.
  CHECK(frames <= static_cast<std::size_t>(took / 100ms) + 3);
  CHECK_FALSE(view_on_terminal(out).other_controls);
  // The cursor is hidden while drawing and shown again; then come the
  // summary lines, which are written once and may wrap.
  CHECK(count_of(out, "\x1b[?25l") == 1);
  auto shown_again = out.rfind("\x1b[?25h");
  REQUIRE(shown_again != std::string::npos);
  auto before_end = out.substr(0, shown_again);
  // No bar wraps: a wrapped one would not be redrawn in place.
  CHECK(view_on_terminal(before_end).widest <= 100);
  std::size_t last_frame = 0;
  for (auto it = std::sregex_iterator(before_end.begin(), before_end.end(),
                                      cursor_up);
       it != std::sregex_iterator(); ++it)
    last_frame = static_cast<std::size_t>(it->position());
  auto final_frame = before_end.substr(last_frame);
  CHECK_THAT(final_frame, Contains("100%") && Contains("20,000/20,000"));
  CHECK_THAT(out.substr(shown_again),
             Contains(first + " completed: 20,000/20,000 succeeded, 0 "
                              "failed, "));
  CHECK(a.status_of(first) == "completed");

  // -- Ctrl-C while the batch runs: 130, and the batch goes on.
  auto second = submit();
  {
    pty_child tty2(watch_args(second), 100, 30);
    // Typed once a frame shows the batch under way.
    bool drawing = tty2.read_until(
        [](const std::string& o) {
          return std::regex_search(o, std::regex(" [1-9][0-9]?%"));
        },
        60s);
    CHECK(drawing);
    tty2.type("\x03");
    auto code2 = tty2.finish(10s);
    INFO("terminal output: " << tty2.output());
    CHECK(code2 == 130);
    CHECK_THAT(tty2.output(),
               Contains("stopped watching") && Contains("\x1b[?25h"));
  }
  // The batch goes on: still under way (it takes seconds), then completed
  // after what follows.
  auto after_ctrl_c = a.status_of(second);
  CHECK((after_ctrl_c == "processing" || after_ctrl_c == "queued" ||
         after_ctrl_c == "pending"));
  REQUIRE(a.wait_for(second, {"processing"}, 30s));

  // While it runs: a batch waiting behind it (one worker) is cancelled at
  // once, and the running one cannot be deleted.
  auto third = run({"submit", "--ids", "act-00001,act-00002"});
  REQUIRE(third.exit_code == 0);
  auto third_id = third.out.substr(0, third.out.find('\n'));
  auto cancel_waiting = run({"cancel", third_id});
  CHECK(cancel_waiting.exit_code == 0);
  CHECK(cancel_waiting.out == "cancelled " + third_id + "\n");
  CHECK(a.status_of(third_id) == "cancelled");
  auto busy = run({"delete", second});
  CHECK(busy.exit_code == 5);
  CHECK_THAT(busy.err, Contains("invalid_state: "));

  // -- cancel while processing: 202, then cancelled; watch says so (1).
  auto cancelled = run({"cancel", second});
  CHECK(cancelled.exit_code == 0);
  CHECK(cancelled.out == "cancel requested: " + second +
                             " is processing and stops within 2 s\n");
  CHECK(a.wait_for(second, {"cancelled"}, 10s));
  auto after = a.get("/api/v1/batches/" + second);
  CHECK(after["processed_activities"].get<std::int64_t>() < activities);
  auto watch_cancelled = run({"watch", second});
  CHECK(watch_cancelled.exit_code == 1);
  CHECK_THAT(lines_of(watch_cancelled.out).back(),
             StartsWith(second + " cancelled: "));
  // Ended: not cancelled again, and the server says why.
  auto again = run({"cancel", second});
  CHECK(again.exit_code == 5);
  CHECK_THAT(again.err, Contains("invalid_state: "));

  // -- retry: pending again, retry 1, and it completes the rest.
  auto retried = run({"retry", second, "--json"});
  CHECK(retried.exit_code == 0);
  auto retried_batch = json::parse(retried.out);
  CHECK(retried_batch["status"] == "pending");
  CHECK(retried_batch["retry_count"] == 1);
  REQUIRE(a.wait_for(second, {"completed"}, 90s));
  CHECK(a.get("/api/v1/batches/" + second)["succeeded_activities"] ==
        activities);

  // -- delete an ended batch: gone.
  auto deleted = run({"delete", second});
  CHECK(deleted.exit_code == 0);
  CHECK(deleted.out == "deleted " + second + "\n");
  auto gone = run({"get", second});
  CHECK(gone.exit_code == 5);
  CHECK_THAT(gone.err, Contains("not_found: "));

  // retry of a batch that did not fail: 409 → 5.
  auto not_failed = run({"retry", first});
  CHECK(not_failed.exit_code == 5);
  CHECK_THAT(not_failed.err, Contains("invalid_state: "));
}

TEST_CASE("client commands in keys mode send --api-key or OGF_API_KEY, and "
          "a bad or read-only key exits 4",
          "[cli]") {
  server s({"--auth", "keys", "--workers", "1"});
  auto dir = s.dir.path;
  auto make_key = [&](const std::string& role) {
    auto r = run_to_exit({server_binary(), "keys", "create", "--org", "acme",
                          "--workspace", "main", "--role", role, "--data-dir",
                          s.data.string()},
                         {}, dir.string(), 60s);
    INFO("keys create: " << r.out << r.err);
    REQUIRE(r.exit_code == 0);
    REQUIRE(lines_of(r.out).size() == 1);
    return lines_of(r.out)[0];
  };
  auto writer = make_key("write");
  auto reader = make_key("read");
  cli run{dir, {"--server", s.url()}};

  auto empty = run({"list", "--api-key", writer});
  CHECK(empty.exit_code == 0);
  CHECK(empty.out == "no batches\n");

  auto few = (dir / "few.csv").string();
  write_activities(few, "few", 5);
  CHECK(run({"upload", few, "--api-key", writer}).exit_code == 0);
  auto submitted = run({"submit", "--ids", "few-00001,few-00002", "--wait"},
                       {{"OGF_API_KEY", writer}});
  CHECK(submitted.exit_code == 0);
  auto id = submitted.out.substr(0, submitted.out.find('\n'));
  CHECK(is_uuid(id));
  CHECK(run({"get", id, "--api-key", reader}).exit_code == 0);

  // Unknown key, no key, a read key on a write: 4, one line, no secret.
  auto forged = writer.substr(0, writer.rfind('_') + 1) + std::string(64, 'e');
  for (const auto& key : {forged, std::string("not-a-token")}) {
    auto r = run({"list", "--api-key", key});
    CHECK(r.exit_code == 4);
    CHECK(lines_of(r.err).size() == 1);
    CHECK_THAT(r.err, Contains("unauthenticated: "));
    CHECK(r.err.find(key) == std::string::npos);
  }
  auto without = run({"list"});
  CHECK(without.exit_code == 4);
  CHECK_THAT(without.err, Contains("unauthenticated: "));
  auto read_only = run({"submit", "--ids", "few-00003", "--api-key", reader});
  CHECK(read_only.exit_code == 4);
  CHECK_THAT(read_only.err, Contains("forbidden: "));
  CHECK(read_only.out.empty());
}

TEST_CASE("watch polls while its event stream is refused and gives up only "
          "after the server has stopped answering",
          "[cli]") {
  // Two HTTP threads: one event stream in all, and the test holds it.
  const int activities = 2000;
  server s({"--workers", "1", "--chunk-size", "100", "--http-threads", "2"});
  auto dir = s.dir.path;
  cli run{dir, {"--server", s.url(), "--org", "acme", "--workspace", "main"}};
  api a(s.port, "acme", "main");
  auto ids = upload_numbered(run, dir, activities);
  // The running batch stays running until the test lets it go, however
  // fast the machine: no result can be written while the test holds a
  // SHARE lock on batch_results (its first chunk waits for it).
  pqxx::connection db{persistence::embedded_postgres::connection_string_for(
      s.data, "offgridflow")};
  auto results_lock = std::make_unique<pqxx::work>(db);
  results_lock->exec("LOCK TABLE batch_results IN SHARE MODE");
  auto long_one = run({"submit", "--ids-file", ids, "--batch-size", "2000"});
  REQUIRE(long_one.exit_code == 0);
  auto running = long_one.out.substr(0, long_one.out.find('\n'));
  REQUIRE(a.wait_for(running, {"processing"}));

  // The only stream, on the running batch, until it ends.
  std::atomic<bool> holding{false};
  std::thread holder([&] {
    httplib::Client c("127.0.0.1", s.port);
    c.set_read_timeout(120, 0);
    c.Get("/api/v1/batches/" + running + "/events",
          {{"X-Org-ID", "acme"}, {"X-Workspace-ID", "main"}},
          [&](const char*, size_t) {
            holding = true;
            return true;
          });
  });
  REQUIRE(wait_until([&] { return holding.load(); }, 30s, 20ms));

  // A small batch waits behind it for the one worker: its watch is refused
  // a stream (503) and polls /progress, for longer than --give-up-after.
  auto small = run({"submit", "--ids", "act-00001,act-00002"});
  REQUIRE(small.exit_code == 0);
  auto waiting = small.out.substr(0, small.out.find('\n'));
  // The running batch goes on 2.5 s after the watch starts.
  std::thread release([&] {
    std::this_thread::sleep_for(2500ms);
    results_lock->commit();
  });
  auto watched = run({"watch", waiting, "--give-up-after", "1s"});
  release.join();
  holder.join();
  CHECK(watched.exit_code == 0);
  CHECK(watched.took > 1500ms);
  // It was refused a stream, at least once.
  CHECK(s.process->output().find(
            R"("route":"/api/v1/batches/{id}/events","status":503)") !=
        std::string::npos);
  CHECK(watched.out.find(waiting + " completed: 2/2 succeeded") !=
        std::string::npos);
  CHECK(a.status_of(running) == "completed");

  // A server that stops answering: exit 3 once --give-up-after has passed.
  auto third = run({"submit", "--ids", "act-00003"});
  REQUIRE(third.exit_code == 0);
  s.process->signal(SIGSTOP); // accepts connections, answers nothing
  auto lost = run({"watch", third.out.substr(0, third.out.find('\n')),
                   "--give-up-after", "1s", "--timeout", "300ms"});
  s.process->signal(SIGCONT);
  CHECK(lost.exit_code == 3);
  CHECK(lines_of(lost.err).size() == 1);
}
