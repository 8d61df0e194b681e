// offgridflow-bench: throughput and latency of an OffGridFlow server.
//
// Targets a running server (--url) or starts its own `offgridflow-batch
// serve` on a fresh embedded database (--nodes N: N of them sharing that
// database, clients round robin over them), runs the scenarios of
// docs/performance.md, prints a table and, with --out, writes JSON.
// Every scenario is bounded in time and checks its own result. Before the
// scenarios it measures the machine's own yardstick on the same PostgreSQL
// cluster (durable commits/s, COPY rows/s), and reports each scenario's
// figure as a ratio to it too, so that runs on different machines compare.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <pqxx/pqxx>

#include <fcntl.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "client/http_client.hpp"
#include "domain/calculator.hpp"
#include "domain/decimal.hpp"
#include "domain/duration.hpp"
#include "domain/time.hpp"
#include "persistence/batch_store.hpp"
#include "persistence/embedded_postgres.hpp"
#include "persistence/migrations.hpp"

namespace {

using nlohmann::json;
using clock_type = std::chrono::steady_clock;
using namespace std::chrono_literals;

struct options {
  std::string url;
  std::string database_url;
  std::string server_binary;
  std::string out;
  bool quick = false;
  int clients = 16;
  std::string duration = "20s";
  int workers = 0;           // 0 = server default
  int store_connections = 0; // 0 = server default
  int submitters = 8;        // pipeline: concurrent submitting clients
  int nodes = 1;             // serve processes started on one database
  std::vector<std::string> server_args; // more flags for the started server
  bool keep_data = false;
  bool skip_submit = false, skip_pipeline = false, skip_latency = false,
       skip_claim = false, skip_reference = false;
};

struct endpoint {
  std::string host = "127.0.0.1";
  int port = 8080;
};

/// The nodes under test (one unless --nodes); HTTP clients take them round
/// robin, client i the node i % size.
using endpoints = std::vector<endpoint>;

const endpoint& node_for(const endpoints& nodes, std::size_t client_index) {
  return nodes[client_index % nodes.size()];
}

endpoint parse_url(const std::string& url) {
  endpoint e;
  auto rest = url;
  if (rest.rfind("http://", 0) == 0)
    rest = rest.substr(7);
  auto slash = rest.find('/');
  if (slash != std::string::npos)
    rest = rest.substr(0, slash);
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    e.host = rest;
    e.port = 80;
  } else {
    e.host = rest.substr(0, colon);
    e.port = std::stoi(rest.substr(colon + 1));
  }
  return e;
}

double percentile(std::vector<double> v, double p) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto idx = static_cast<std::size_t>(
      p / 100.0 * static_cast<double>(v.size() - 1) + 0.5);
  return v[std::min(idx, v.size() - 1)];
}

double ms_since(clock_type::time_point t0) {
  return std::chrono::duration<double, std::milli>(clock_type::now() - t0)
      .count();
}

/// CPU time (user + system, all threads) this bench process has used, in
/// seconds. A started server is another process and is not counted: the
/// difference over a scenario is the client's own cost of driving it.
double process_cpu_seconds() {
  rusage u{};
  getrusage(RUSAGE_SELF, &u);
  auto secs = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return secs(u.ru_utime) + secs(u.ru_stime);
}

/// One keep-alive HTTP connection (the client library's, shared with the
/// client commands), one per thread. A non-2xx answer or an unreachable
/// server throws ogf::client::request_error.
using connection = ogf::client::connection;
using ogf::client::request_error;

/// "http://host:port" of a node.
std::string server_of(const endpoint& e) {
  return "http://" + e.host + ":" + std::to_string(e.port);
}

/// How the bench talks to node `e` for tenant `org` (workspace "bench"); an
/// empty `org` sends no tenant headers (health). Never retried: a benchmark
/// counts a 503, it does not hide it by repeating. Bodies are left unparsed:
/// the bench parses the few it reads itself, so that its own CPU per request
/// (client_cpu_s) does not grow.
ogf::client::client_config config_for(const endpoint& e,
                                      const std::string& org) {
  ogf::client::client_config c;
  c.server = server_of(e);
  c.org = org;
  c.workspace = org.empty() ? "" : "bench";
  c.connect_timeout = 5s;
  c.read_timeout = 60s;
  c.max_retries = 0;
  c.parse_json = false;
  return c;
}

/// POSTs `body` printed by json::dump(): the bench's bodies hold only
/// strings and integers, which need no exact printer.
ogf::client::response post(connection& c, const std::string& path,
                           const json& body) {
  return c.post(path, body.dump(), "application/json",
                ogf::client::repeat::never);
}

/// The health document of node `e` when it answers 200, else nullopt.
/// Health is tenant-free; it answers at once, so the read timeout is 5 s
/// (httplib's default) rather than a scenario's 60 s.
std::optional<json> health_of(const endpoint& e,
                              std::chrono::milliseconds connect_timeout) {
  auto cfg = config_for(e, "");
  cfg.connect_timeout = connect_timeout;
  cfg.read_timeout = 5s;
  try {
    connection c(cfg);
    auto r = c.get("/api/v1/health");
    if (r.status != 200)
      return std::nullopt;
    return json::parse(r.body);
  } catch (const request_error&) {
    return std::nullopt;
  }
}

/// One `offgridflow-batch serve` process started by the bench.
struct node_process {
  pid_t pid = -1;
  int port = 0;
};

/// The servers started by the bench itself (--nodes, default 1): the first
/// runs the embedded PostgreSQL in data_dir/data, the others share that
/// database through --database-url, as separate machines would share one
/// primary.
struct own_server {
  std::vector<node_process> nodes;
  std::string data_dir;
  bool keep = false; ///< --keep-data: leave the database for inspection
  ~own_server() {
    // The nodes that use the first one's database stop before it: its stop
    // stops the database.
    auto stop = [](std::vector<node_process*> which) {
      for (auto* n : which)
        if (n->pid > 0)
          kill(n->pid, SIGTERM);
      for (auto* n : which)
        if (n->pid > 0) {
          int status = 0;
          waitpid(n->pid, &status, 0);
        }
    };
    std::vector<node_process*> sharing;
    for (std::size_t i = 1; i < nodes.size(); ++i)
      sharing.push_back(&nodes[i]);
    stop(sharing);
    if (!nodes.empty())
      stop({&nodes.front()});
    // A full run leaves ~700 MB of database behind.
    std::error_code ec;
    if (!keep && !data_dir.empty())
      std::filesystem::remove_all(data_dir, ec);
  }
};

int free_port() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  int port = ntohs(addr.sin_port);
  close(fd);
  return port;
}

bool wait_healthy(const endpoint& e, std::chrono::seconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (health_of(e, 1s))
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

/// Starts `args` (args[0] a path) with stdout and stderr going to `log`.
pid_t spawn_logged(std::vector<std::string> args, const std::string& log) {
  pid_t pid = fork();
  if (pid == 0) {
    int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    dup2(fd, STDOUT_FILENO);
    dup2(fd, STDERR_FILENO);
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(argv[0], argv.data());
    _exit(127);
  }
  return pid;
}

/// serve.log for the first node, serve-2.log, serve-3.log, ... for the others.
std::string node_log(const own_server& s, std::size_t index) {
  return s.data_dir + (index == 0
                           ? std::string{"/serve.log"}
                           : "/serve-" + std::to_string(index + 1) + ".log");
}

std::unique_ptr<own_server> start_server(const options& o) {
  auto s = std::make_unique<own_server>();
  s->keep = o.keep_data;
  char tmpl[] = "/tmp/ogf-bench-XXXXXX";
  s->data_dir = mkdtemp(tmpl);
  chmod(s->data_dir.c_str(), 0755);
  std::vector<std::string> common{
      "--log-level",   "warn",  "--poll-interval", "1s",
      "--poll-jitter", "100ms", "--http-threads",  "64"};
  if (o.workers > 0) {
    common.push_back("--workers");
    common.push_back(std::to_string(o.workers));
  }
  if (o.store_connections > 0) {
    common.push_back("--store-connections");
    common.push_back(std::to_string(o.store_connections));
  }
  common.insert(common.end(), o.server_args.begin(), o.server_args.end());
  auto node_args = [&](std::size_t index, int port,
                       std::vector<std::string> database) {
    std::vector<std::string> args{o.server_binary, "serve", "--listen",
                                  "127.0.0.1:" + std::to_string(port)};
    args.insert(args.end(), database.begin(), database.end());
    // One node keeps today's command line; several get names of their own
    // in leases, heartbeats and the chunk log.
    if (o.nodes > 1) {
      args.push_back("--node-id");
      args.push_back("bench-node-" + std::to_string(index + 1));
    }
    args.insert(args.end(), common.begin(), common.end());
    return args;
  };
  auto healthy_or_throw = [&](std::size_t index) {
    if (!wait_healthy({"127.0.0.1", s->nodes[index].port}, 90s)) {
      s->keep = true; // its log says why
      throw std::runtime_error("server did not become healthy; see " +
                               node_log(*s, index));
    }
  };
  // The first node starts the embedded PostgreSQL and migrates it.
  node_process first;
  first.port = free_port();
  first.pid = spawn_logged(
      node_args(0, first.port, {"--data-dir", s->data_dir + "/data"}),
      node_log(*s, 0));
  s->nodes.push_back(first);
  healthy_or_throw(0);
  // The others connect to it over its Unix socket.
  auto app_url = ogf::persistence::embedded_postgres::connection_string_for(
      s->data_dir + "/data", "offgridflow");
  for (int i = 1; i < o.nodes; ++i) {
    node_process n;
    // Distinct even if the kernel hands out a port twice before any of
    // these nodes listens on it.
    auto taken = [&](int port) {
      return std::any_of(s->nodes.begin(), s->nodes.end(),
                         [&](const node_process& m) { return m.port == port; });
    };
    do
      n.port = free_port();
    while (taken(n.port));
    n.pid = spawn_logged(node_args(static_cast<std::size_t>(i), n.port,
                                   {"--database-url", app_url}),
                         node_log(*s, static_cast<std::size_t>(i)));
    s->nodes.push_back(n);
  }
  for (std::size_t i = 1; i < s->nodes.size(); ++i)
    healthy_or_throw(i);
  return s;
}

long read_status_kb(pid_t pid, const char* key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind(key, 0) == 0)
      return std::stol(line.substr(std::strlen(key) + 1));
  return -1;
}

/// Activities act-000000.. of one scenario's tenant: US electricity,
/// quantity (i % 1000) + 1 kWh. Returns the expected exact total of them all.
std::string create_activities(const endpoints& nodes, const std::string& org,
                              int n) {
  std::vector<std::thread> threads;
  std::atomic<int> next{0};
  std::atomic<bool> failed{false};
  for (std::size_t t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      connection c(config_for(node_for(nodes, t), org));
      for (;;) {
        int start = next.fetch_add(10000);
        if (start >= n)
          break;
        json acts = json::array();
        for (int i = start; i < std::min(n, start + 10000); ++i) {
          char id[32];
          std::snprintf(id, sizeof id, "act-%06d", i);
          acts.push_back({{"id", id},
                          {"activity_type", "electricity"},
                          {"quantity", (i % 1000) + 1},
                          {"unit", "kWh"},
                          {"region", "US"},
                          {"period_start", "2025-01-01"},
                          {"period_end", "2025-01-31"}});
        }
        try {
          auto r = post(c, "/api/v1/activities", json{{"activities", acts}});
          if (r.status != 200)
            failed = true;
        } catch (const request_error&) {
          failed = true;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  if (failed)
    throw std::runtime_error("creating activities failed");
  std::vector<std::string> per;
  for (int i = 0; i < n; ++i) {
    auto r = ogf::domain::calculate_emissions(std::to_string((i % 1000) + 1),
                                              "kWh", "0.375294", "kWh");
    per.push_back(r.kg_co2e);
  }
  return ogf::domain::sum_emissions(per).value_or("?");
}

std::string batch_id_of(const std::string& body) {
  return json::parse(body).at("id").get<std::string>();
}

/// Whether a node reports nothing pending (in the shared database) and none
/// of its own workers busy.
bool node_idle(const endpoint& e) {
  if (auto h = health_of(e, 5s))
    return (*h)["scheduler"]["queue_depth"] == 0 &&
           (*h)["scheduler"]["busy_workers"] == 0;
  return false;
}

/// Waits until the servers have nothing pending or running (the previous
/// scenario's backlog must not be measured by the next one).
bool wait_idle(const endpoints& nodes, std::chrono::seconds timeout) {
  auto deadline = clock_type::now() + timeout;
  while (clock_type::now() < deadline) {
    if (std::all_of(nodes.begin(), nodes.end(), node_idle))
      return true;
    std::this_thread::sleep_for(100ms);
  }
  return false;
}

/// The worker count the servers report on their health endpoints, summed
/// over the nodes; -1 when one does not answer.
int server_workers(const endpoints& nodes) {
  int sum = 0;
  for (const auto& e : nodes) {
    auto h = health_of(e, 5s);
    if (!h)
      return -1;
    int w = (*h)["scheduler"].value("workers", -1);
    if (w < 0)
      return -1;
    sum += w;
  }
  return sum;
}

// -- reference: the machine's own yardstick ---------------------------------

/// The reference's statements, on scratch tables of its own that it creates
/// and drops; it reads or writes nothing of the engine's schema.
namespace reference_sql {
constexpr const char* drop_commits =
    "DROP TABLE IF EXISTS bench_reference_commits";
constexpr const char* create_commits = "CREATE TABLE bench_reference_commits ("
                                       " id bigserial PRIMARY KEY,"
                                       " connection integer NOT NULL,"
                                       " payload text NOT NULL)";
constexpr const char* insert_commit =
    "INSERT INTO bench_reference_commits (connection, payload) "
    "VALUES ($1, $2)";
constexpr const char* drop_copy = "DROP TABLE IF EXISTS bench_reference_copy";
/// A text + bigint primary key, like the engine's tenant-scoped keys.
constexpr const char* create_copy = "CREATE TABLE bench_reference_copy ("
                                    " org_id text NOT NULL,"
                                    " id bigint NOT NULL,"
                                    " payload text NOT NULL,"
                                    " PRIMARY KEY (org_id, id))";
constexpr const char* durability =
    "SELECT current_setting('fsync'), current_setting('synchronous_commit')";
} // namespace reference_sql

/// Drops the reference's scratch tables when the measurement ends, also when
/// it ends with an exception: a cluster given by --database-url is someone's.
struct reference_tables {
  std::string url;
  ~reference_tables() {
    try {
      pqxx::connection conn{url};
      pqxx::nontransaction tx{conn};
      tx.exec(reference_sql::drop_commits);
      tx.exec(reference_sql::drop_copy);
    } catch (const std::exception& e) {
      std::cerr << "reference: could not drop its scratch tables: " << e.what()
                << "\n";
    }
  }
};

/// How the reference is measured.
struct reference_config {
  /// Connections committing at once. Default 8.
  int connections = 8;
  /// How long they commit. Default 5 s; --quick takes 2 s.
  std::chrono::seconds commit_time{5};
  /// Rows of the one COPY. Default 300,000.
  long copy_rows = 300000;
};

/// (a) Durable one-row INSERT commits/s: `connections` connections, each
/// committing single-row INSERTs in autocommit (every INSERT its own
/// transaction, so its own WAL flush unless a concurrent one covers it),
/// with fsync and synchronous_commit as the cluster has them. This is the
/// rate the engine's durable writes share.
/// (b) COPY rows/s into a table with a (text, bigint) primary key, keys in
/// scrambled order, one connection, commit included: the row rate of one
/// backend writing heap, index and WAL.
json measure_reference(const std::string& url, const reference_config& cfg) {
  reference_tables scratch{url};
  {
    pqxx::connection conn{url};
    pqxx::nontransaction tx{conn};
    tx.exec(reference_sql::drop_commits);
    tx.exec(reference_sql::create_commits);
    tx.exec(reference_sql::drop_copy);
    tx.exec(reference_sql::create_copy);
  }
  std::string fsync, synchronous_commit;
  {
    pqxx::connection conn{url};
    pqxx::nontransaction tx{conn};
    auto row = tx.exec1(reference_sql::durability);
    fsync = row[0].as<std::string>();
    synchronous_commit = row[1].as<std::string>();
  }

  // (a) Every connection is open and its statement prepared before the
  // clock starts.
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::atomic<long> commits{0};
  std::atomic<bool> failed{false};
  clock_type::time_point deadline;
  std::vector<std::thread> threads;
  for (int c = 0; c < cfg.connections; ++c)
    threads.emplace_back([&, c] {
      try {
        pqxx::connection conn{url};
        conn.prepare("insert_commit", reference_sql::insert_commit);
        const std::string payload =
            "reference commit from connection " + std::to_string(c);
        ++ready;
        while (!go)
          std::this_thread::yield();
        long mine = 0;
        pqxx::nontransaction tx{conn};
        while (clock_type::now() < deadline) {
          tx.exec_prepared("insert_commit", c, payload);
          ++mine;
        }
        commits += mine;
      } catch (const std::exception& e) {
        std::cerr << "reference: " << e.what() << "\n";
        failed = true;
        ++ready;
      }
    });
  while (ready < cfg.connections)
    std::this_thread::sleep_for(1ms);
  auto t0 = clock_type::now();
  deadline = t0 + cfg.commit_time;
  go = true;
  for (auto& t : threads)
    t.join();
  double commit_seconds = ms_since(t0) / 1000.0;

  // (b) One COPY, keys i * 7919 mod rows: a permutation (7919 is a prime
  // that does not divide the row count), so index inserts land all over
  // the B-tree as the engine's do.
  double copy_seconds = 0;
  {
    pqxx::connection conn{url};
    auto c0 = clock_type::now();
    pqxx::work tx{conn};
    pqxx::stream_to copy{tx, "bench_reference_copy",
                         std::vector<std::string>{"org_id", "id", "payload"}};
    const std::string org = "bench-reference";
    for (long i = 0; i < cfg.copy_rows; ++i) {
      char payload[32];
      std::snprintf(payload, sizeof payload, "act-%07ld", i);
      copy << std::make_tuple(org, (i * 7919) % cfg.copy_rows,
                              std::string{payload});
    }
    copy.complete();
    tx.commit();
    copy_seconds = ms_since(c0) / 1000.0;
  }
  if (failed)
    throw std::runtime_error("reference: a committing connection failed");
  return {
      {"commits_per_s", static_cast<double>(commits) / commit_seconds},
      {"copy_rows_per_s", static_cast<double>(cfg.copy_rows) / copy_seconds},
      {"commit_seconds", commit_seconds},
      {"connections", cfg.connections},
      {"commits", commits.load()},
      {"copy_rows", cfg.copy_rows},
      {"copy_seconds", copy_seconds},
      {"fsync", fsync},
      {"synchronous_commit", synchronous_commit}};
}

/// A scenario's figure divided by the reference's commits/s; null without a
/// reference.
json ratio_to_commits(const json& result, double figure) {
  if (!result.contains("reference") || result["reference"].is_null())
    return nullptr;
  return figure / result["reference"]["commits_per_s"].get<double>();
}

/// " (1.23x ref commits)" for the table, or nothing without a reference.
std::string ratio_text(const json& scenario) {
  if (!scenario.contains("ratio_to_commits") ||
      scenario["ratio_to_commits"].is_null())
    return "";
  char buf[48];
  std::snprintf(buf, sizeof buf, " (%.2fx ref commits)",
                scenario["ratio_to_commits"].get<double>());
  return buf;
}

/// "; client CPU 1.23 s (0.61 cores)" for the table: the bench's own CPU
/// over a scenario and, where the scenario has a duration, the cores that
/// makes on average.
std::string cpu_text(const json& scenario) {
  if (!scenario.contains("client_cpu_s"))
    return "";
  auto cpu = scenario["client_cpu_s"].get<double>();
  char buf[64];
  if (scenario.contains("seconds") && scenario["seconds"].get<double>() > 0)
    std::snprintf(buf, sizeof buf, "; client CPU %.2f s (%.2f cores)", cpu,
                  cpu / scenario["seconds"].get<double>());
  else
    std::snprintf(buf, sizeof buf, "; client CPU %.2f s", cpu);
  return buf;
}

// -- scenario 1: submit ----------------------------------------------------

/// Clients of the second submit run (JSON "submit_64"), beside --clients.
constexpr int wide_submit_clients = 64;

json run_submit(const endpoints& nodes, int clients,
                std::chrono::milliseconds d) {
  const std::string org = "bench-submit";
  create_activities(nodes, org, 10);
  json ids = json::array();
  for (int i = 0; i < 10; ++i) {
    char id[32];
    std::snprintf(id, sizeof id, "act-%06d", i);
    ids.push_back(id);
  }
  auto body = json{{"activity_ids", ids}};
  std::mutex mtx;
  std::vector<double> latencies;
  std::atomic<long> errors{0};
  auto deadline = clock_type::now() + d;
  std::vector<std::thread> threads;
  auto cpu0 = process_cpu_seconds();
  auto t0 = clock_type::now();
  for (int t = 0; t < clients; ++t)
    threads.emplace_back([&, t] {
      connection c(
          config_for(node_for(nodes, static_cast<std::size_t>(t)), org));
      std::vector<double> mine;
      while (clock_type::now() < deadline) {
        auto s = clock_type::now();
        try {
          auto r = post(c, "/api/v1/batches", body);
          if (r.status != 201)
            ++errors;
          else
            mine.push_back(ms_since(s));
        } catch (const request_error&) {
          ++errors;
        }
      }
      std::lock_guard<std::mutex> g{mtx};
      latencies.insert(latencies.end(), mine.begin(), mine.end());
    });
  for (auto& t : threads)
    t.join();
  auto secs = ms_since(t0) / 1000.0;
  auto cpu = process_cpu_seconds() - cpu0;
  return {{"clients", clients},
          {"seconds", secs},
          {"batches", latencies.size()},
          {"batches_per_s", static_cast<double>(latencies.size()) / secs},
          {"p50_ms", percentile(latencies, 50)},
          {"p90_ms", percentile(latencies, 90)},
          {"p99_ms", percentile(latencies, 99)},
          {"max_ms", percentile(latencies, 100)},
          {"errors", errors.load()},
          {"client_cpu_s", cpu}};
}

// -- scenario 2: pipeline --------------------------------------------------

/// Sum of total_emissions_kg_co2e and count of the tenant's batches with the
/// given status, walking every page.
std::pair<long, std::vector<std::string>> walk(connection& c,
                                               const std::string& status) {
  long count = 0;
  std::vector<std::string> totals;
  std::string token;
  for (;;) {
    std::string path = "/api/v1/batches?limit=100&status=" + status;
    if (!token.empty())
      path += "&page_token=" + token;
    std::string body;
    try {
      auto r = c.get(path);
      if (r.status != 200)
        throw std::runtime_error("list failed: HTTP " +
                                 std::to_string(r.status));
      body = std::move(r.body);
    } catch (const request_error& e) {
      throw std::runtime_error(std::string("list failed: ") + e.what());
    }
    auto j = json::parse(body);
    for (const auto& b : j["batches"]) {
      ++count;
      std::ostringstream ss;
      ss.precision(17);
      ss << b["total_emissions_kg_co2e"].get<double>();
      totals.push_back(ss.str());
    }
    if (j["next_page_token"].is_null())
      break;
    token = j["next_page_token"].get<std::string>();
  }
  return {count, totals};
}

/// The exact sum of the tenant's completed batch totals, read in SQL
/// (numeric), or nullopt without database access.
std::optional<std::string> exact_total(const std::string& app_url,
                                       const std::string& org) {
  if (app_url.empty())
    return std::nullopt;
  pqxx::connection conn{app_url};
  pqxx::work tx{conn};
  return tx
      .exec_params1(
          "SELECT coalesce(sum(total_emissions_kg_co2e), 0)::text "
          "FROM batch_jobs WHERE org_id = $1 AND status = 'completed'",
          org)[0]
      .as<std::string>();
}

/// `server_pids` (empty with --url) are the started nodes; their peak RSS
/// is tracked in `peak_rss_kb`, one entry per pid.
json run_pipeline_case(const endpoints& nodes, const std::string& org,
                       int batches, int size, int activities,
                       const std::string& expected,
                       std::chrono::seconds timeout,
                       const std::vector<pid_t>& server_pids,
                       std::vector<long>& peak_rss_kb,
                       const std::string& app_url, int submitters) {
  std::atomic<int> next{0};
  std::atomic<long> errors{0};
  std::vector<std::thread> threads;
  auto cpu0 = process_cpu_seconds();
  auto t0 = clock_type::now();
  for (int t = 0; t < submitters; ++t)
    threads.emplace_back([&, t] {
      connection c(
          config_for(node_for(nodes, static_cast<std::size_t>(t)), org));
      for (;;) {
        int b = next.fetch_add(1);
        if (b >= batches)
          break;
        json ids = json::array();
        for (int i = 0; i < size; ++i) {
          char id[32];
          std::snprintf(id, sizeof id, "act-%06d", (b * size + i) % activities);
          ids.push_back(id);
        }
        try {
          auto r = post(c, "/api/v1/batches", json{{"activity_ids", ids}});
          if (r.status != 201)
            ++errors;
        } catch (const request_error&) {
          ++errors;
        }
      }
    });
  for (auto& t : threads)
    t.join();
  double submit_ms = ms_since(t0);
  // Completion is polled from every node in turn: each answers for the
  // whole shared database.
  std::vector<std::unique_ptr<connection>> pollers;
  for (const auto& e : nodes)
    pollers.push_back(std::make_unique<connection>(config_for(e, org)));
  connection& c = *pollers.front();
  bool done = false;
  for (std::size_t poll = 0;
       ms_since(t0) <
       std::chrono::duration<double, std::milli>(timeout).count();
       ++poll) {
    std::optional<ogf::client::response> r;
    try {
      r = pollers[poll % pollers.size()]->get(
          "/api/v1/batches?limit=1&status=pending,queued,processing");
    } catch (const request_error&) {
      // No answer this time: polled again.
    }
    for (std::size_t i = 0; i < server_pids.size(); ++i)
      peak_rss_kb[i] =
          std::max(peak_rss_kb[i], read_status_kb(server_pids[i], "VmHWM:"));
    if (r && r->status == 200 && json::parse(r->body)["batches"].empty()) {
      done = true;
      break;
    }
    std::this_thread::sleep_for(10ms);
  }
  double total_ms = ms_since(t0);
  // Submitting and polling until the last completion: the timed window.
  double cpu = process_cpu_seconds() - cpu0;
  auto [completed, totals] = walk(c, "completed");
  auto grand = ogf::domain::sum_emissions(totals).value_or("?");
  auto exp = ogf::domain::decimal::parse(expected);
  bool total_ok = false;
  std::string check;
  if (auto exact = exact_total(app_url, org)) {
    // Exact: numeric sum in SQL against the exact expected decimal.
    auto got = ogf::domain::decimal::parse(*exact);
    total_ok = exp && got && *exp == *got;
    grand = *exact;
    check = "exact (SQL numeric)";
  } else {
    // Only the API: it renders emissions as JSON numbers (double), so
    // compare with a tolerance of one micro-kg per batch.
    total_ok = std::abs(std::stod(grand) - std::stod(expected)) <=
               1e-6 * batches + 1e-9 * std::abs(std::stod(expected));
    check = "within 1e-6 kg per batch (API doubles)";
  }
  bool verified = done && completed == batches && errors == 0 && total_ok;
  double secs = total_ms / 1000.0;
  return {{"batches", batches},
          {"batch_size", size},
          {"activities", static_cast<long>(batches) * size},
          {"seconds", secs},
          {"submit_seconds", submit_ms / 1000.0},
          {"activities_per_s", static_cast<double>(batches) * size / secs},
          {"batches_per_s", batches / secs},
          {"completed", completed},
          {"errors", errors.load()},
          {"expected_total_kg_co2e", expected},
          {"measured_total_kg_co2e", grand},
          {"total_check", check},
          {"verified", verified},
          {"client_cpu_s", cpu}};
}

// -- scenario 3: latency ---------------------------------------------------

json run_latency(const endpoint& e, double rate, std::chrono::seconds d) {
  const std::string org = "bench-latency";
  create_activities({e}, org, 1);
  connection c(config_for(e, org));
  struct sent {
    std::string id;
    std::int64_t at_us;
  };
  std::vector<sent> all;
  auto period = std::chrono::duration<double>(1.0 / rate);
  auto cpu0 = process_cpu_seconds();
  auto t0 = clock_type::now();
  int n = static_cast<int>(rate * static_cast<double>(d.count()));
  for (int i = 0; i < n; ++i) {
    std::this_thread::sleep_until(
        t0 + std::chrono::duration_cast<clock_type::duration>(period * i));
    auto at = ogf::domain::now_us();
    try {
      auto r =
          post(c, "/api/v1/batches", json{{"activity_ids", {"act-000000"}}});
      if (r.status == 201)
        all.push_back({batch_id_of(r.body), at});
    } catch (const request_error&) {
      // Unanswered or refused: not measured.
    }
  }
  std::vector<double> start, complete;
  auto deadline = clock_type::now() + 30s;
  for (const auto& s : all) {
    for (;;) {
      std::string body;
      try {
        auto r = c.get("/api/v1/batches/" + s.id);
        if (r.status != 200)
          break;
        body = std::move(r.body);
      } catch (const request_error&) {
        break;
      }
      auto b = json::parse(body);
      if (!b["completed_at"].is_null()) {
        auto st =
            ogf::domain::parse_rfc3339(b["started_at"].get<std::string>());
        auto ct =
            ogf::domain::parse_rfc3339(b["completed_at"].get<std::string>());
        if (st && ct) {
          start.push_back(static_cast<double>(*st - s.at_us) / 1000.0);
          complete.push_back(static_cast<double>(*ct - s.at_us) / 1000.0);
        }
        break;
      }
      if (clock_type::now() > deadline)
        break;
      std::this_thread::sleep_for(20ms);
    }
  }
  return {{"batches", all.size()},
          {"measured", start.size()},
          {"rate_per_s", rate},
          {"start_p50_ms", percentile(start, 50)},
          {"start_p99_ms", percentile(start, 99)},
          {"complete_p50_ms", percentile(complete, 50)},
          {"complete_p99_ms", percentile(complete, 99)},
          {"client_cpu_s", process_cpu_seconds() - cpu0},
          {"clock", "client and server read the same system clock (same "
                    "machine); server times have millisecond resolution"}};
}

// -- scenario 4: claim -----------------------------------------------------

struct claim_figures {
  double pair_p50, pair_p99, claim_p50, claim_p99;
  double cpu_s; ///< the bench's CPU over the rounds (it is the store here)
};

/// `backlog` pending batches spread round robin over `tenants` tenants
/// (1 + g % 10 priorities), then `rounds` claims of one batch, each
/// released again.
claim_figures claim_latency(const std::string& admin_url, const std::string& db,
                            long backlog, int rounds, long tenants = 1) {
  {
    pqxx::connection admin{admin_url};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
    tx.exec("CREATE DATABASE " + db + " TEMPLATE template0");
  }
  auto url = admin_url.substr(0, admin_url.rfind("dbname=")) + "dbname=" + db;
  {
    pqxx::connection conn{url};
    ogf::persistence::migrator{conn}.up();
    pqxx::work tx{conn};
    tx.exec_params("INSERT INTO batch_jobs (org_id, workspace_id, priority, "
                   "total_activities, created_at) "
                   "SELECT 'o' || (g % $2), 'w', 1 + (g % 10), 1, "
                   "clock_timestamp() FROM generate_series(1, $1) g",
                   backlog, tenants);
    tx.commit();
    pqxx::nontransaction a{conn};
    a.exec("ANALYZE batch_jobs");
  }
  ogf::persistence::store_config cfg;
  cfg.database_url = url;
  cfg.node_id = "bench";
  ogf::persistence::batch_store store{cfg};
  std::vector<double> lat, claim_only;
  auto cpu0 = process_cpu_seconds();
  for (int i = 0; i < rounds; ++i) {
    auto t0 = clock_type::now();
    auto claimed = store.claim(1, 30s);
    claim_only.push_back(ms_since(t0));
    std::vector<ogf::persistence::lease_ref> refs;
    for (auto& c : claimed)
      refs.push_back({c.batch_id, c.token});
    store.release(refs);
    lat.push_back(ms_since(t0));
  }
  double cpu = process_cpu_seconds() - cpu0;
  {
    pqxx::connection admin{admin_url};
    pqxx::nontransaction tx{admin};
    tx.exec("DROP DATABASE IF EXISTS " + db + " WITH (FORCE)");
  }
  return {percentile(lat, 50), percentile(lat, 99), percentile(claim_only, 50),
          percentile(claim_only, 99), cpu};
}

std::string machine_line(const char* cmd) {
  std::string out;
  if (FILE* p = popen(cmd, "r")) {
    char buf[256];
    while (fgets(buf, sizeof buf, p))
      out += buf;
    pclose(p);
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' '))
    out.pop_back();
  return out;
}

} // namespace

int main(int argc, char** argv) {
  options o;
  o.server_binary = OGF_SERVER_BINARY;
  CLI::App app{"offgridflow-bench: throughput and latency of an OffGridFlow "
               "server",
               "offgridflow-bench"};
  app.add_option("--url", o.url, "a running server (default: start our own)");
  app.add_option("--database-url", o.database_url,
                 "its database, for the reference and the claim scenario "
                 "(admin URL of the cluster holding the server's migrated "
                 "'offgridflow' database)");
  app.add_option("--server-binary", o.server_binary,
                 "offgridflow-batch to start")
      ->capture_default_str();
  app.add_option("--out", o.out, "write the results as JSON here");
  app.add_flag("--quick", o.quick, "reduced run (about a minute)");
  app.add_option("--clients", o.clients, "submit scenario clients")
      ->capture_default_str();
  app.add_option("--duration", o.duration, "submit scenario duration")
      ->capture_default_str();
  app.add_option("--nodes", o.nodes,
                 "serve processes to start on one database (the first runs "
                 "the embedded PostgreSQL, the others use it by "
                 "--database-url); HTTP clients take them round robin. At "
                 "most 8: each node holds 11 connections by default, the "
                 "embedded cluster allows 100")
      ->capture_default_str()
      ->check(CLI::Range(1, 8));
  app.add_option("--workers", o.workers,
                 "--workers of the started server (of each node)");
  app.add_option("--store-connections", o.store_connections,
                 "--store-connections of the started server (of each node)");
  app.add_option("--submitters", o.submitters,
                 "pipeline scenario: concurrent submitting clients")
      ->capture_default_str();
  app.add_option("--server-arg", o.server_args,
                 "one more flag for the started server (repeatable)");
  app.add_flag("--keep-data", o.keep_data,
               "keep the started server's database directory afterwards");
  app.add_flag("--skip-submit", o.skip_submit);
  app.add_flag("--skip-pipeline", o.skip_pipeline);
  app.add_flag("--skip-latency", o.skip_latency);
  app.add_flag("--skip-claim", o.skip_claim);
  app.add_flag("--skip-reference", o.skip_reference,
               "do not measure the machine reference (no ratios then)");
  CLI11_PARSE(app, argc, argv);

  auto duration = ogf::domain::parse_duration(o.duration).value_or(20s);
  // Quick: 2 s of submits; the server then drains what they queued
  // (~6,000 batches) before the pipeline, which is most of a quick run.
  if (o.quick && o.duration == "20s")
    duration = 2s;
  if (!o.url.empty() && o.nodes > 1) {
    std::cerr << "offgridflow-bench: --nodes starts its own servers; it "
                 "cannot be combined with --url\n";
    return 2;
  }
  std::unique_ptr<own_server> server;
  endpoints nodes;
  std::vector<pid_t> server_pids; // empty with --url
  std::string admin_url = o.database_url;
  std::string app_url; // the server's own database, for exact checks
  try {
    if (o.url.empty()) {
      std::cerr << "starting " << o.nodes
                << (o.nodes == 1 ? " server" : " servers on one database")
                << "...\n";
      server = start_server(o);
      for (const auto& n : server->nodes) {
        nodes.push_back({"127.0.0.1", n.port});
        server_pids.push_back(n.pid);
      }
      admin_url = ogf::persistence::embedded_postgres::connection_string_for(
          server->data_dir + "/data", "postgres");
      app_url = ogf::persistence::embedded_postgres::connection_string_for(
          server->data_dir + "/data", "offgridflow");
    } else {
      nodes.push_back(parse_url(o.url));
    }
    // A node address the client library refuses fails here, once, rather
    // than in every client thread.
    for (const auto& e : nodes)
      ogf::client::parse_server_url(server_of(e));
    json result;
    result["machine"] = {
        {"cores", std::thread::hardware_concurrency()},
        {"cpu",
         machine_line("grep -m1 'model name' /proc/cpuinfo | cut -d: -f2")},
        {"kernel", machine_line("uname -r")}};
    result["commit"] = machine_line("git rev-parse --short HEAD 2>/dev/null");
    result["quick"] = o.quick;
    result["nodes"] = nodes.size();

    // The yardstick first, on the cluster the server uses, while it idles.
    reference_config ref_cfg;
    if (o.quick)
      ref_cfg.commit_time = 2s;
    std::string reference_skipped;
    if (o.skip_reference)
      reference_skipped = "skipped (--skip-reference)";
    else if (admin_url.empty())
      reference_skipped = "skipped: no database URL (with --url, give "
                          "--database-url)";
    if (reference_skipped.empty()) {
      std::cerr << "reference: " << ref_cfg.connections
                << " connections committing for " << ref_cfg.commit_time.count()
                << " s, COPY of " << ref_cfg.copy_rows << " rows...\n";
      result["reference"] = measure_reference(admin_url, ref_cfg);
    } else {
      std::cerr << "reference: " << reference_skipped << "\n";
      result["reference"] = nullptr;
    }

    if (!o.skip_submit) {
      std::cerr << "submit: " << o.clients << " clients for "
                << ogf::domain::format_duration(duration) << "...\n";
      result["submit"] = run_submit(nodes, o.clients, duration);
      result["submit"]["ratio_to_commits"] = ratio_to_commits(
          result, result["submit"]["batches_per_s"].get<double>());
      // The same with 64 clients: whether more concurrent commits buy
      // throughput (group commit) or only latency. The first run's backlog
      // is drained first so that it is not measured here.
      if (!wait_idle(nodes, 600s))
        throw std::runtime_error("server did not drain its backlog");
      std::cerr << "submit: " << wide_submit_clients << " clients for "
                << ogf::domain::format_duration(duration) << "...\n";
      result["submit_64"] = run_submit(nodes, wide_submit_clients, duration);
      result["submit_64"]["ratio_to_commits"] = ratio_to_commits(
          result, result["submit_64"]["batches_per_s"].get<double>());
    }
    std::vector<long> peak_kb(server_pids.size(), 0);
    if (!o.skip_pipeline) {
      int acts = o.quick ? 20000 : 100000;
      std::cerr << "pipeline: creating " << acts << " activities...\n";
      const std::string org = "bench-pipeline";
      auto expected_all = create_activities(nodes, org, acts);
      (void)expected_all;
      for (pid_t pid : server_pids) {
        std::ofstream clear("/proc/" + std::to_string(pid) + "/clear_refs");
        clear << "5";
      }
      struct pcase {
        const char* name;
        int batches, size;
      };
      std::vector<pcase> cases = o.quick
                                     ? std::vector<pcase>{{"large", 2, 10000},
                                                          {"medium", 200, 100},
                                                          {"small", 2000, 10}}
                                     : std::vector<pcase>{{"large", 10, 10000},
                                                          {"medium", 1000, 100},
                                                          {"small", 10000, 10}};
      json pipeline;
      for (const auto& pc : cases) {
        // Each case runs in its own tenant (activities created per tenant).
        std::string case_org = org + "-" + pc.name;
        std::cerr << "pipeline " << pc.name << ": " << pc.batches << " x "
                  << pc.size << "...\n";
        int needed = std::min(acts, pc.batches * pc.size);
        // Expected: every batch's items cycle through the activities.
        std::vector<std::string> per;
        for (long i = 0; i < static_cast<long>(pc.batches) * pc.size; ++i) {
          long a = i % needed;
          per.push_back(
              ogf::domain::calculate_emissions(std::to_string((a % 1000) + 1),
                                               "kWh", "0.375294", "kWh")
                  .kg_co2e);
        }
        create_activities(nodes, case_org, needed);
        if (!wait_idle(nodes, 600s))
          throw std::runtime_error("server did not drain its backlog");
        auto expected = ogf::domain::sum_emissions(per).value_or("?");
        pipeline[pc.name] = run_pipeline_case(
            nodes, case_org, pc.batches, pc.size, needed, expected, 240s,
            server_pids, peak_kb, app_url, o.submitters);
        // Summed over the nodes.
        pipeline[pc.name]["workers"] = server_workers(nodes);
        pipeline[pc.name]["submitters"] = o.submitters;
        // Small batches are counted in batches, the others in activities.
        const char* figure = std::string{pc.name} == "small"
                                 ? "batches_per_s"
                                 : "activities_per_s";
        pipeline[pc.name]["ratio_to_commits"] =
            ratio_to_commits(result, pipeline[pc.name][figure].get<double>());
      }
      result["pipeline"] = pipeline;
      // The largest node's peak (per process, as the target is); each
      // node's too when there are several.
      if (!peak_kb.empty()) {
        auto mb = [](long kb) { return static_cast<double>(kb) / 1024.0; };
        result["server_peak_rss_mb"] =
            mb(*std::max_element(peak_kb.begin(), peak_kb.end()));
        if (peak_kb.size() > 1) {
          json per_node = json::array();
          for (long kb : peak_kb)
            per_node.push_back(mb(kb));
          result["server_peak_rss_mb_per_node"] = per_node;
        }
      }
    }
    if (!o.skip_latency) {
      if (!wait_idle(nodes, 600s))
        throw std::runtime_error("server did not drain its backlog");
      std::cerr << "latency: 20 batches/s...\n";
      // One client, to the first node; any node may run the batches.
      result["latency"] = run_latency(nodes.front(), 20, o.quick ? 3s : 10s);
    }
    if (!o.skip_claim && !admin_url.empty()) {
      std::cerr << "claim: 1k and " << (o.quick ? "10k" : "100k")
                << " pending...\n";
      auto shallow = claim_latency(admin_url, "bench_claim", 1000, 500);
      long deep = o.quick ? 10000 : 100000;
      auto d = claim_latency(admin_url, "bench_claim", deep, 500);
      // Fairness (CONTRACT §7): the same backlog over 100 tenants, whose
      // turns the claim keeps (10,000 in --quick, like the deep case).
      std::cerr << "claim: " << deep << " pending across 100 tenants...\n";
      auto t = claim_latency(admin_url, "bench_claim", deep, 500, 100);
      // claim + release is two durable commits (fsync each); the claim
      // alone is one.
      result["claim"] = {{"p50_ms_1k", shallow.pair_p50},
                         {"p99_ms_1k", shallow.pair_p99},
                         {"p50_ms_100k", d.pair_p50},
                         {"p99_ms_100k", d.pair_p99},
                         {"claim_only_p50_ms_1k", shallow.claim_p50},
                         {"claim_only_p99_ms_1k", shallow.claim_p99},
                         {"claim_only_p50_ms_100k", d.claim_p50},
                         {"claim_only_p99_ms_100k", d.claim_p99},
                         {"deep_backlog", deep},
                         {"p50_ms_100_tenants", t.pair_p50},
                         {"p99_ms_100_tenants", t.pair_p99},
                         {"claim_only_p50_ms_100_tenants", t.claim_p50},
                         {"claim_only_p99_ms_100_tenants", t.claim_p99},
                         {"client_cpu_s", shallow.cpu_s + d.cpu_s + t.cpu_s}};
    }

    // The table.
    std::printf("\n%-34s %s\n", "scenario", "result");
    std::printf("%-34s %s\n", "--------", "------");
    if (nodes.size() > 1)
      std::printf("%-34s %zu serve processes on one database, HTTP clients "
                  "round robin over them\n",
                  "nodes", nodes.size());
    if (result["reference"].is_null()) {
      std::printf("%-34s %s\n", "reference", reference_skipped.c_str());
    } else {
      auto& r = result["reference"];
      std::printf("%-34s %.0f durable commits/s (one-row INSERTs, fsync %s, "
                  "synchronous_commit %s)\n",
                  ("reference (" + std::to_string(ref_cfg.connections) +
                   " conns, " + std::to_string(ref_cfg.commit_time.count()) +
                   " s" + (o.quick ? ", quick" : "") + ")")
                      .c_str(),
                  r["commits_per_s"].get<double>(),
                  r["fsync"].get<std::string>().c_str(),
                  r["synchronous_commit"].get<std::string>().c_str());
      std::printf("%-34s %.0f rows/s (%ld rows, (text, bigint) primary key, "
                  "1 connection)\n",
                  "reference COPY", r["copy_rows_per_s"].get<double>(),
                  r["copy_rows"].get<long>());
    }
    for (const char* key : {"submit", "submit_64"}) {
      if (!result.contains(key))
        continue;
      auto& s = result[key];
      std::printf("%-34s %.0f batches/s%s, p50 %.2f ms, p90 %.2f ms, p99 %.2f "
                  "ms, max %.1f ms, errors %ld%s\n",
                  ("submit (" + std::to_string(s["clients"].get<int>()) +
                   " clients, 10 ids)")
                      .c_str(),
                  s["batches_per_s"].get<double>(), ratio_text(s).c_str(),
                  s["p50_ms"].get<double>(), s["p90_ms"].get<double>(),
                  s["p99_ms"].get<double>(), s["max_ms"].get<double>(),
                  s["errors"].get<long>(), cpu_text(s).c_str());
    }
    if (result.contains("pipeline"))
      for (auto& [name, p] : result["pipeline"].items()) {
        bool small = name == "small";
        std::printf("%-34s %.0f activities/s%s, %.0f batches/s%s, %.2f s, "
                    "%d workers, %s%s\n",
                    ("pipeline " + name + " (" +
                     std::to_string(p["batches"].get<int>()) + " x " +
                     std::to_string(p["batch_size"].get<int>()) + ")")
                        .c_str(),
                    p["activities_per_s"].get<double>(),
                    small ? "" : ratio_text(p).c_str(),
                    p["batches_per_s"].get<double>(),
                    small ? ratio_text(p).c_str() : "",
                    p["seconds"].get<double>(), p["workers"].get<int>(),
                    p["verified"].get<bool>() ? "verified" : "NOT VERIFIED",
                    cpu_text(p).c_str());
      }
    if (result.contains("latency")) {
      auto& l = result["latency"];
      std::printf(
          "%-34s start p50 %.1f ms p99 %.1f ms; complete p50 %.1f ms p99 %.1f "
          "ms%s\n",
          "latency (20 batches/s, 1 id)", l["start_p50_ms"].get<double>(),
          l["start_p99_ms"].get<double>(), l["complete_p50_ms"].get<double>(),
          l["complete_p99_ms"].get<double>(), cpu_text(l).c_str());
    }
    if (result.contains("claim")) {
      auto& c = result["claim"];
      std::printf(
          "%-34s 1k: p50 %.2f ms p99 %.2f ms; %ld: p50 %.2f ms p99 %.2f "
          "ms%s\n",
          "claim + release (store)", c["p50_ms_1k"].get<double>(),
          c["p99_ms_1k"].get<double>(), c["deep_backlog"].get<long>(),
          c["p50_ms_100k"].get<double>(), c["p99_ms_100k"].get<double>(),
          cpu_text(c).c_str());
      std::printf(
          "%-34s 1k: p50 %.2f ms p99 %.2f ms; %ld: p50 %.2f ms p99 %.2f ms\n",
          "claim alone (store)", c["claim_only_p50_ms_1k"].get<double>(),
          c["claim_only_p99_ms_1k"].get<double>(),
          c["deep_backlog"].get<long>(),
          c["claim_only_p50_ms_100k"].get<double>(),
          c["claim_only_p99_ms_100k"].get<double>());
      if (c.contains("claim_only_p99_ms_100_tenants"))
        std::printf("%-34s %ld over 100 tenants: claim + release p50 %.2f "
                    "ms p99 %.2f ms; claim alone p50 %.2f ms p99 %.2f ms\n",
                    "claim, fair (store)", c["deep_backlog"].get<long>(),
                    c["p50_ms_100_tenants"].get<double>(),
                    c["p99_ms_100_tenants"].get<double>(),
                    c["claim_only_p50_ms_100_tenants"].get<double>(),
                    c["claim_only_p99_ms_100_tenants"].get<double>());
    }
    if (result.contains("server_peak_rss_mb"))
      std::printf("%-34s %.1f MB\n",
                  nodes.size() > 1 ? "server peak RSS (pipeline, max)"
                                   : "server peak RSS (pipeline)",
                  result["server_peak_rss_mb"].get<double>());
    if (!o.out.empty()) {
      std::ofstream out(o.out);
      out << result.dump(2) << "\n";
    }
    bool ok = true;
    if (result.contains("pipeline"))
      for (auto& [name, p] : result["pipeline"].items())
        ok = ok && p["verified"].get<bool>();
    return ok ? 0 : 1;
  } catch (const std::exception& ex) {
    std::cerr << "offgridflow-bench: " << ex.what() << "\n";
    return 1;
  }
}
