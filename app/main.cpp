// offgridflow-batch: `serve` (HTTP API + actor engine), `migrate`, `keys`
// and the client commands (upload, submit, watch, list, get, cancel, retry,
// delete, results).
// Every flag is also an OGF_<FLAG> environment variable; the flag wins.
#include <condition_variable>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <malloc.h>

#include <arpa/inet.h>
#include <mutex>
#include <netinet/in.h>
#include <optional>
#include <thread>

#include <CLI/CLI.hpp>
#include <caf/all.hpp>
#include <pqxx/pqxx>

#include "actors/engine.hpp"
#include "app/client_commands.hpp"
#include "app/database.hpp"
#include "app/keys_command.hpp"
#include "common/log.hpp"
#include "domain/duration.hpp"
#include "http/server.hpp"
#include "persistence/embedded_postgres.hpp"
#include "persistence/migrations.hpp"

namespace {

using namespace ogf;
using app::add_database_options;
using app::database_options;
using app::resolve_database;
using std::chrono::milliseconds;

struct serve_options {
  std::string listen = "127.0.0.1:8080";
  int workers = 5;
  std::string poll_interval = "30s";
  std::string poll_jitter = "5s";
  int max_batches_per_poll = 10;
  int bundle_size = 50;
  std::string lease_timeout = "30s";
  int max_retries = 3;
  std::string node_id;
  std::string shutdown_timeout = "30s";
  bool no_migrate = false;
  int http_threads = 32;
  int max_connections = 1024;
  std::string admin_listen;
  std::string tls_cert;
  std::string tls_key;
  std::string ui_dir;
  std::size_t max_body_bytes = 4 * 1024 * 1024;
  int max_batch_activities = 10000;
  int store_connections = 4;
  int api_connections = 2;
  int bulk_connections = 1;
  std::string request_timeout = "10s";
  int chunk_size = 500;
  std::string log_level = "info";
  std::string auth = "auto";
  double tenant_rate_limit = 0;
  std::int64_t max_pending_batches = 100000;
  std::string retention = "0";
  std::string webhook_secret;
  std::string webhook_secret_file;
  bool webhook_allow_private = false;
  std::string webhook_timeout = "10s";
  std::string webhook_connect_timeout = "5s";
  int webhook_deliverers = 2;
};

/// Thrown for bad option values: exit code 2 with a one-line message.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

milliseconds duration_option(const std::string& name, const std::string& v) {
  auto d = domain::parse_duration(v);
  if (!d)
    throw usage_error("--" + name + ": '" + v +
                      "' is not a duration (e.g. 500ms, 30s, 2m)");
  return *d;
}

/// --retention: 0 or a duration with a unit, up to days.
milliseconds retention_option(const std::string& v) {
  auto d = domain::parse_retention(v);
  if (!d)
    throw usage_error("--retention: '" + v +
                      "' is not a retention window (0 = keep forever, or a "
                      "number with a unit: 30d, 12h, 90m)");
  return *d;
}

/// The completion callbacks' signing key: --webhook-secret, or the first
/// line of --webhook-secret-file (either also from its OGF_ variable; a
/// file or the environment keeps the key out of `ps`). Empty: callbacks are
/// signed with the empty key (serve warns).
std::string webhook_secret_of(const serve_options& o) {
  if (!o.webhook_secret.empty() && !o.webhook_secret_file.empty())
    throw usage_error("--webhook-secret and --webhook-secret-file: give one "
                      "of them");
  if (o.webhook_secret_file.empty())
    return o.webhook_secret;
  std::ifstream in(o.webhook_secret_file);
  std::string secret;
  if (!in || !std::getline(in, secret))
    throw usage_error("--webhook-secret-file: cannot read " +
                      o.webhook_secret_file);
  while (!secret.empty() && (secret.back() == '\r' || secret.back() == ' '))
    secret.pop_back();
  if (secret.empty())
    throw usage_error("--webhook-secret-file: " + o.webhook_secret_file +
                      " starts with an empty line");
  return secret;
}

/// Keeps `serve`'s embedded PostgreSQL running: checks every second that its
/// postmaster lives, and when it died (kill -9, the OOM killer, a crash)
/// starts it again, logged, with 1 s -> 30 s exponential backoff between
/// failed starts. The engine's store actors reconnect on their own; health
/// answers 503 meanwhile. Ends (joined) before the server is stopped.
class embedded_postgres_keeper {
public:
  explicit embedded_postgres_keeper(persistence::embedded_postgres& pg)
      : pg_(pg), thread_([this] { run(); }) {}
  ~embedded_postgres_keeper() { stop(); }
  embedded_postgres_keeper(const embedded_postgres_keeper&) = delete;
  embedded_postgres_keeper& operator=(const embedded_postgres_keeper&) = delete;

  /// Stops watching; waits for a restart in progress (at most the server's
  /// start timeout).
  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable())
      thread_.join();
  }

private:
  static constexpr std::chrono::seconds check_interval{1};
  static constexpr std::chrono::seconds max_backoff{30};

  /// Waits `d` unless stopped first; false when stopping.
  bool sleep_for(std::chrono::milliseconds d) {
    std::unique_lock<std::mutex> lock(mutex_);
    return !wake_.wait_for(lock, d, [this] { return stopping_; });
  }

  void run() {
    while (sleep_for(check_interval)) {
      if (pg_.alive())
        continue;
      log::error("embedded PostgreSQL died, restarting",
                 {{"data_dir", pg_.data_dir().string()}});
      std::chrono::milliseconds backoff = check_interval;
      for (int attempt = 1;; ++attempt) {
        try {
          pg_.restart();
          log::info("embedded PostgreSQL restarted", {{"attempt", attempt}});
          break;
        } catch (const std::exception& e) {
          log::error("embedded PostgreSQL did not start",
                     {{"attempt", attempt},
                      {"retry_in_ms", backoff.count()},
                      {"error", e.what()}});
        }
        if (!sleep_for(backoff))
          return;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, max_backoff);
      }
    }
  }

  persistence::embedded_postgres& pg_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stopping_ = false;
  std::thread thread_; ///< last: starts once the members above exist
};

int run_migrate(const database_options& db, const std::string& action,
                int steps) {
  std::unique_ptr<persistence::embedded_postgres> pg;
  auto url = resolve_database(db, pg);
  pqxx::connection conn{url};
  persistence::migrator m{conn};
  if (action == "up") {
    auto n = m.up();
    std::cout << "applied " << n << " migration(s); version "
              << m.status().version << "\n";
  } else if (action == "down") {
    auto n = m.down(steps);
    std::cout << "rolled back " << n << " migration(s); version "
              << m.status().version << "\n";
  } else {
    auto st = m.status();
    std::cout << "version " << st.version << (st.dirty ? " (dirty)" : "")
              << ", latest " << st.latest << ", pending "
              << (st.latest > st.version ? st.latest - st.version : 0) << "\n";
  }
  return 0;
}

std::pair<std::string, int> split_listen(const std::string& listen,
                                         const std::string& flag = "listen") {
  auto colon = listen.rfind(':');
  if (colon == std::string::npos || colon == 0)
    throw usage_error("--" + flag + ": '" + listen + "' is not host:port");
  auto host = listen.substr(0, colon);
  int port = 0;
  try {
    port = std::stoi(listen.substr(colon + 1));
  } catch (...) {
    port = -1;
  }
  if (port < 0 || port > 65535)
    throw usage_error("--" + flag + ": bad port in '" + listen + "'");
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  return {host, port};
}

/// True for a host that only this machine can reach: 127.0.0.0/8, ::1,
/// localhost.
bool is_loopback(const std::string& host) {
  if (host == "localhost")
    return true;
  in_addr v4{};
  if (inet_pton(AF_INET, host.c_str(), &v4) == 1)
    return (ntohl(v4.s_addr) >> 24) == 127;
  in6_addr v6{};
  return inet_pton(AF_INET6, host.c_str(), &v6) == 1 &&
         IN6_IS_ADDR_LOOPBACK(&v6);
}

/// The tenancy mode of `--auth` for a server listening on `host`
/// (CONTRACT §4): auto is headers on a loopback address, keys otherwise.
http::auth_mode auth_mode_for(const std::string& flag,
                              const std::string& host) {
  if (flag == "keys")
    return http::auth_mode::keys;
  if (flag == "headers")
    return http::auth_mode::headers;
  return is_loopback(host) ? http::auth_mode::headers : http::auth_mode::keys;
}

int run_serve(const database_options& db, const serve_options& o) {
  if (o.log_level == "debug")
    log::set_level(log::level::debug);
  else if (o.log_level == "warn")
    log::set_level(log::level::warn);
  else if (o.log_level == "error")
    log::set_level(log::level::error);

  engine_config ec;
  ec.node_id = o.node_id.empty() ? default_node_id() : o.node_id;
  ec.workers = o.workers;
  ec.store_connections = o.store_connections;
  ec.api_connections = o.api_connections;
  ec.bulk_connections = o.bulk_connections;
  ec.chunk_size = o.chunk_size;
  ec.poll_interval = duration_option("poll-interval", o.poll_interval);
  ec.poll_jitter = duration_option("poll-jitter", o.poll_jitter);
  ec.max_batches_per_poll = o.max_batches_per_poll;
  ec.bundle_size = o.bundle_size;
  ec.lease_timeout = duration_option("lease-timeout", o.lease_timeout);
  ec.default_max_retries = o.max_retries;
  ec.max_pending_batches = o.max_pending_batches;
  ec.retention = retention_option(o.retention);
  ec.shutdown_timeout = duration_option("shutdown-timeout", o.shutdown_timeout);
  ec.webhook_secret = webhook_secret_of(o);
  ec.webhook_allow_private = o.webhook_allow_private;
  ec.webhook_read_timeout =
      duration_option("webhook-timeout", o.webhook_timeout);
  ec.webhook_connect_timeout =
      duration_option("webhook-connect-timeout", o.webhook_connect_timeout);
  ec.webhook_deliverers = o.webhook_deliverers;
  ec.database_url = "unset"; // validated below with the real URL
  if (auto problem = ec.validate(); !problem.empty())
    throw usage_error(problem);
  auto request_timeout = duration_option("request-timeout", o.request_timeout);
  // At most 25 s: with the commit grace (half of it, at most 5 s) a write's
  // whole wait stays under the engine's own 30 s timeouts for a group
  // commit and a cancel, so the engine never gives up (answering 503) on
  // a write that can still commit.
  if (request_timeout < milliseconds(100) ||
      request_timeout > std::chrono::seconds(25))
    throw usage_error("--request-timeout must be in 100ms..25s");
  auto [host, port] = split_listen(o.listen);
  std::pair<std::string, int> admin;
  if (!o.admin_listen.empty())
    admin = split_listen(o.admin_listen, "admin-listen");
  // Bad TLS files are a usage error, found before the database starts.
  if (o.tls_cert.empty() != o.tls_key.empty())
    throw usage_error("--tls-cert and --tls-key go together: give both or "
                      "neither");
  if (!o.tls_cert.empty()) {
    try {
      http::check_tls_files(o.tls_cert, o.tls_key);
    } catch (const http::tls_config_error& e) {
      throw usage_error(e.what());
    }
  }

  // Signals are taken by one thread with sigwait; block them everywhere
  // else before any thread starts.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  std::unique_ptr<persistence::embedded_postgres> pg;
  ec.database_url = resolve_database(db, pg);
  if (!o.no_migrate) {
    pqxx::connection conn{ec.database_url};
    persistence::migrator m{conn};
    auto n = m.up();
    log::info("migrations applied",
              {{"applied", n}, {"version", m.status().version}});
  }

  std::optional<embedded_postgres_keeper> keeper;
  if (pg)
    keeper.emplace(*pg);

  caf::actor_system_config cfg;
  cfg.set("scheduler.max-threads",
          std::max(2u, std::thread::hardware_concurrency()));
  caf::actor_system sys{cfg};
  auto engine = spawn_engine(sys, ec);

  http::http_config hc;
  hc.host = host;
  hc.port = port;
  hc.threads = o.http_threads;
  hc.max_connections = o.max_connections;
  hc.admin_host = admin.first;
  hc.admin_port = admin.second;
  hc.tls_cert_file = o.tls_cert;
  hc.tls_key_file = o.tls_key;
  hc.ui_dir = o.ui_dir;
  hc.max_body_bytes = o.max_body_bytes;
  hc.max_batch_activities = o.max_batch_activities;
  hc.default_max_retries = o.max_retries;
  hc.webhook_allow_private = ec.webhook_allow_private;
  hc.request_timeout = request_timeout;
  // A commit's own round trip is milliseconds; half the timeout is ample
  // with short test timeouts, 5 s with the usual ones.
  hc.commit_grace = std::min(milliseconds(5000), request_timeout / 2);
  hc.node_id = ec.node_id;
  hc.version = OGF_VERSION;
  hc.auth = auth_mode_for(o.auth, host);
  hc.tenant_rate_limit = o.tenant_rate_limit;
  if (hc.auth == http::auth_mode::headers && !is_loopback(host))
    log::warn("--auth headers on a non-loopback address: anyone who can "
              "reach the port can act as any tenant; put an authenticating "
              "gateway in front, or use --auth keys",
              {{"host", host}});
  if (ec.webhook_secret.empty())
    log::warn("completion callbacks are signed with an empty key: set "
              "OGF_WEBHOOK_SECRET (or --webhook-secret-file) so that "
              "receivers can tell the server's callbacks from forged ones");
  http::http_server server{sys, engine, hc};
  int bound = 0;
  try {
    bound = server.bind();
  } catch (const std::exception& e) {
    log::error(e.what());
    caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
    return 1;
  }
  log::info("listening", {{"host", host},
                          {"port", bound},
                          {"tls", server.tls()},
                          {"node_id", ec.node_id},
                          {"auth", http::to_string(hc.auth)}});
  if (server.admin_port() > 0)
    log::info("admin listening",
              {{"host", admin.first}, {"port", server.admin_port()}});
  std::thread http_thread([&] { server.serve(); });

  int sig = 0;
  sigwait(&signals, &sig);
  log::info("signal received, stopping",
            {{"signal", sig == SIGINT ? "SIGINT" : "SIGTERM"}});
  // CONTRACT §1: exit 0 within --shutdown-timeout, whatever clients do.
  // The engine drains first while HTTP still answers reads; HTTP then gets
  // what is left up to a deadline that keeps the last quarter (at most 2 s)
  // for the actors to exit and the embedded database to stop.
  using clock = std::chrono::steady_clock;
  auto deadline = clock::now() + ec.shutdown_timeout;
  auto http_deadline =
      deadline -
      std::min<milliseconds>(ec.shutdown_timeout / 4, std::chrono::seconds(2));
  auto time_left = [&] {
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(
                                         http_deadline - clock::now()));
  };
  // The embedded database's stop ends with a checkpoint that writes out
  // all that changed since the last one (a second on a fresh cluster here).
  // Started now, it runs while the engine drains and HTTP stops, instead
  // of after them.
  std::thread early_checkpoint;
  if (pg)
    early_checkpoint = std::thread([url = ec.database_url] {
      try {
        pqxx::connection conn{url};
        pqxx::nontransaction tx{conn};
        tx.exec("CHECKPOINT");
      } catch (const std::exception& e) {
        log::warn("checkpoint before stopping failed", {{"error", e.what()}});
      }
    });
  server.set_stopping();
  {
    caf::scoped_actor self{sys};
    self->request(engine, time_left(), stop_atom_v)
        .receive(
            [](bool drained) {
              log::info("engine drained", {{"released_all", drained}});
            },
            [](caf::error&) { log::warn("engine did not drain in time"); });
  }
  server.stop(time_left());
  http_thread.join();
  log::info("http server stopped");
  caf::anon_send_exit(engine, caf::exit_reason::user_shutdown);
  sys.await_all_actors_done();
  log::info("engine stopped");
  if (keeper)
    keeper->stop();
  if (early_checkpoint.joinable())
    early_checkpoint.join();
  if (pg)
    pg->stop();
  log::info("stopped");
  return 0;
}

} // namespace

int main(int argc, char** argv) {
  // glibc gives every thread that allocates its own arena and keeps freed
  // memory in them; with the HTTP pool and CAF's threads that doubled the
  // peak RSS under load (199 MB vs 98 MB in the pipeline benchmark, see
  // docs/performance.md). MALLOC_ARENA_MAX in the environment still wins.
  if (std::getenv("MALLOC_ARENA_MAX") == nullptr)
    mallopt(M_ARENA_MAX, 2);
  // Request bodies and their parsed forms reach megabytes (10,000
  // activities per upload). glibc's dynamic mmap threshold rises after the
  // first such block is freed, so later ones came from the arenas and
  // stayed resident; a fixed threshold gives blocks over 256 KiB back on
  // free, and the heap top is trimmed past 1 MiB. Pipeline benchmark:
  // peak RSS 118 -> 110 MB, resident afterwards 114 -> 89 MB, throughput
  // unchanged. The MALLOC_*_ environment variables still win.
  if (std::getenv("MALLOC_MMAP_THRESHOLD_") == nullptr)
    mallopt(M_MMAP_THRESHOLD, 256 * 1024);
  if (std::getenv("MALLOC_TRIM_THRESHOLD_") == nullptr)
    mallopt(M_TRIM_THRESHOLD, 1024 * 1024);
  CLI::App app{"OffGridFlow batch engine: durable batch emissions "
               "calculation on PostgreSQL",
               "offgridflow-batch"};
  app.require_subcommand(1);
  app.set_version_flag("--version", OGF_VERSION);

  // One set per subcommand: CLI11 reads the OGF_ variables of every
  // subcommand, so a set shared by two of them would let the other's
  // environment value overwrite the flag given to the one that runs.
  database_options serve_db;
  database_options migrate_db;
  serve_options so;
  auto* serve = app.add_subcommand("serve", "run the HTTP API and the engine");
  add_database_options(serve, serve_db);
  serve->add_option("--listen", so.listen, "host:port of the HTTP API")
      ->envname("OGF_LISTEN")
      ->capture_default_str();
  serve->add_option("--workers", so.workers, "concurrent batches (1..256)")
      ->envname("OGF_WORKERS")
      ->capture_default_str()
      ->check(CLI::Range(1, 256));
  serve
      ->add_option("--poll-interval", so.poll_interval,
                   "poll timer (ms/s/m); LISTEN/NOTIFY wakes sooner")
      ->envname("OGF_POLL_INTERVAL")
      ->capture_default_str();
  serve->add_option("--poll-jitter", so.poll_jitter, "± spread of the timer")
      ->envname("OGF_POLL_JITTER")
      ->capture_default_str();
  serve
      ->add_option("--max-batches-per-poll", so.max_batches_per_poll,
                   "most batches claimed at once (1..1000)")
      ->envname("OGF_MAX_BATCHES_PER_POLL")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  serve
      ->add_option("--bundle-size", so.bundle_size,
                   "most small batches a worker processes at once when the "
                   "queue is long; 1 = no bundles (1..1000)")
      ->envname("OGF_BUNDLE_SIZE")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  serve
      ->add_option("--lease-timeout", so.lease_timeout,
                   "lease length, renewed every third of it")
      ->envname("OGF_LEASE_TIMEOUT")
      ->capture_default_str();
  serve
      ->add_option("--max-retries", so.max_retries,
                   "default max_retries of batches (0..10)")
      ->envname("OGF_MAX_RETRIES")
      ->capture_default_str()
      ->check(CLI::Range(0, 10));
  serve->add_option("--node-id", so.node_id, "node name (default hostname-pid)")
      ->envname("OGF_NODE_ID");
  serve
      ->add_option("--shutdown-timeout", so.shutdown_timeout,
                   "time a graceful stop may take")
      ->envname("OGF_SHUTDOWN_TIMEOUT")
      ->capture_default_str();
  serve
      ->add_flag("--no-migrate", so.no_migrate,
                 "do not apply pending migrations at start")
      ->envname("OGF_NO_MIGRATE");
  serve
      ->add_option("--http-threads", so.http_threads,
                   "HTTP threads = requests run at once (2..1024)")
      ->envname("OGF_HTTP_THREADS")
      ->capture_default_str()
      ->check(CLI::Range(2, 1024));
  serve
      ->add_option("--max-connections", so.max_connections,
                   "open HTTP connections; more get 503 (16..65536)")
      ->envname("OGF_MAX_CONNECTIONS")
      ->capture_default_str()
      ->check(CLI::Range(16, 65536));
  serve
      ->add_option("--admin-listen", so.admin_listen,
                   "host:port serving only health and metrics; empty = off")
      ->envname("OGF_ADMIN_LISTEN");
  serve
      ->add_option("--tls-cert", so.tls_cert,
                   "PEM certificate chain: serve HTTPS (with --tls-key; the "
                   "admin listener stays HTTP)")
      ->envname("OGF_TLS_CERT");
  serve
      ->add_option("--tls-key", so.tls_key,
                   "PEM private key of --tls-cert (unencrypted)")
      ->envname("OGF_TLS_KEY");
  serve
      ->add_option("--ui-dir", so.ui_dir,
                   "serve the dashboard's files from this folder, read at "
                   "each request, instead of the built-in ones (development)")
      ->envname("OGF_UI_DIR")
      ->check(CLI::ExistingDirectory);
  serve
      ->add_option("--max-body-bytes", so.max_body_bytes,
                   "largest request body, also decompressed")
      ->envname("OGF_MAX_BODY_BYTES")
      ->capture_default_str()
      ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30));
  serve
      ->add_option("--max-batch-activities", so.max_batch_activities,
                   "most activity ids per batch (1..100000)")
      ->envname("OGF_MAX_BATCH_ACTIVITIES")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  serve
      ->add_option("--store-connections", so.store_connections,
                   "database connections of the engine (1..64)")
      ->envname("OGF_STORE_CONNECTIONS")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve
      ->add_option(
          "--api-connections", so.api_connections,
          "database connections for submits, API reads, cancel, retry and "
          "delete (1..64)")
      ->envname("OGF_API_CONNECTIONS")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve
      ->add_option("--bulk-connections", so.bulk_connections,
                   "database connections for activity and factor uploads "
                   "(1..64)")
      ->envname("OGF_BULK_CONNECTIONS")
      ->capture_default_str()
      ->check(CLI::Range(1, 64));
  serve
      ->add_option("--request-timeout", so.request_timeout,
                   "how long a request waits for the engine before 503; a "
                   "write not committed by then is not written (100ms..25s)")
      ->envname("OGF_REQUEST_TIMEOUT")
      ->capture_default_str();
  serve
      ->add_option("--chunk-size", so.chunk_size,
                   "activities per chunk (1..10000)")
      ->envname("OGF_CHUNK_SIZE")
      ->capture_default_str()
      ->check(CLI::Range(1, 10000));
  serve
      ->add_option("--max-pending-batches", so.max_pending_batches,
                   "most unfinished batches (pending, queued, processing) "
                   "per tenant; a submit beyond it is 429 quota_exceeded "
                   "(0..1000000000, 0 = no limit)")
      ->envname("OGF_MAX_PENDING_BATCHES")
      ->capture_default_str()
      ->check(CLI::Range(std::int64_t{0}, std::int64_t{1000000000}));
  serve
      ->add_option("--retention", so.retention,
                   "delete batches that ended longer ago than this, with "
                   "their items and results (0 = keep forever, or 1s..36500d "
                   "with a unit: 30d, 12h)")
      ->envname("OGF_RETENTION")
      ->capture_default_str();
  serve
      ->add_option("--webhook-secret", so.webhook_secret,
                   "key of the completion callbacks' HMAC-SHA256 signature; "
                   "without one (or --webhook-secret-file) they are signed "
                   "with the empty key (a warning at start). Prefer the "
                   "environment variable or the file: argv shows in ps")
      ->envname("OGF_WEBHOOK_SECRET");
  serve
      ->add_option("--webhook-secret-file", so.webhook_secret_file,
                   "read the webhook secret from the first line of FILE")
      ->envname("OGF_WEBHOOK_SECRET_FILE");
  serve
      ->add_flag("--webhook-allow-private", so.webhook_allow_private,
                 "also deliver callbacks to loopback, private and link-local "
                 "addresses (refused by default)")
      ->envname("OGF_WEBHOOK_ALLOW_PRIVATE");
  serve
      ->add_option("--webhook-timeout", so.webhook_timeout,
                   "read/write timeout of one callback attempt (10ms..60s)")
      ->envname("OGF_WEBHOOK_TIMEOUT")
      ->capture_default_str();
  serve
      ->add_option("--webhook-connect-timeout", so.webhook_connect_timeout,
                   "connect timeout of one callback attempt (10ms..60s)")
      ->envname("OGF_WEBHOOK_CONNECT_TIMEOUT")
      ->capture_default_str();
  serve
      ->add_option("--webhook-deliverers", so.webhook_deliverers,
                   "callback deliverers on this node, each sending one "
                   "callback at a time with a database connection of its "
                   "own (1..32)")
      ->envname("OGF_WEBHOOK_DELIVERERS")
      ->capture_default_str()
      ->check(CLI::Range(1, 32));
  serve->add_option("--log-level", so.log_level, "debug, info, warn or error")
      ->envname("OGF_LOG_LEVEL")
      ->capture_default_str()
      ->check(CLI::IsMember({"debug", "info", "warn", "error"}));
  serve
      ->add_option("--auth", so.auth,
                   "who a request acts for: keys (Authorization: Bearer), "
                   "headers (X-Org-ID/X-Workspace-ID), or auto = headers "
                   "on a loopback --listen, keys otherwise")
      ->envname("OGF_AUTH")
      ->capture_default_str()
      ->check(CLI::IsMember({"auto", "keys", "headers"}));
  serve
      ->add_option("--tenant-rate-limit", so.tenant_rate_limit,
                   "requests/s per tenant, bursts to twice that; more get "
                   "429 (0 = off, max 1000000)")
      ->envname("OGF_TENANT_RATE_LIMIT")
      ->capture_default_str()
      ->check(CLI::Range(0.0, 1e6));

  auto* migrate =
      app.add_subcommand("migrate", "apply or roll back migrations");
  add_database_options(migrate, migrate_db);
  migrate->require_subcommand(1);
  migrate->fallthrough(); // `migrate up --data-dir X` reaches migrate's flags
  int down_steps = 1;
  std::string action;
  migrate->add_subcommand("up", "apply every pending migration")->callback([&] {
    action = "up";
  });
  auto* down =
      migrate->add_subcommand("down", "roll back N migrations (default 1)");
  down->add_option("N", down_steps, "how many")->check(CLI::Range(1, 100000));
  down->callback([&] { action = "down"; });
  migrate->add_subcommand("status", "show the schema version")->callback([&] {
    action = "status";
  });

  ogf::app::keys_options keys_opts;
  auto* keys = ogf::app::add_keys_command(app, keys_opts);

  auto client_commands = ogf::app::add_client_commands(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::Success& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "offgridflow-batch: %s\n", e.what());
    return 2;
  }

  try {
    if (serve->parsed())
      return run_serve(serve_db, so);
    if (keys->parsed())
      return ogf::app::run_keys_command(keys_opts);
    for (auto& c : client_commands)
      if (c.app->parsed())
        return ogf::app::run_client_command(*c.options);
    return run_migrate(migrate_db, action, down_steps);
  } catch (const usage_error& e) {
    std::fprintf(stderr, "offgridflow-batch: %s\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    log::error(e.what());
    return 1;
  }
}
