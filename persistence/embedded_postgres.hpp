// An embedded PostgreSQL server: the machine's own initdb/pg_ctl/postgres
// binaries, a cluster in a folder of ours, listening only on a Unix socket
// inside that folder. Used by `serve`/`migrate` without --database-url and by
// the test harness (one cluster per test run).
#pragma once

#include <chrono>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace ogf::persistence {

/// Thrown with a message a user can act on (missing binaries and the package
/// that installs them, data dir not writable, data dir in use, ...).
struct embedded_postgres_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// How to run the embedded server.
struct embedded_postgres_config {
  /// Folder holding the cluster (pgdata/), its log and its socket. Created
  /// on first use.
  std::filesystem::path data_dir = "./offgridflow-data";
  /// Extra server settings (name, value), e.g. {"fsync", "off"} for tests.
  std::vector<std::pair<std::string, std::string>> settings;
  /// How long to wait for the server to accept connections. Default 60 s.
  std::chrono::seconds start_timeout{60};
};

/// Owns one running PostgreSQL cluster. PostgreSQL refuses to run as root:
/// when this process is root, initdb, pg_ctl and postgres run as the
/// `postgres` system user (created by Debian's postgresql package) and the
/// data dir is handed to that user.
class embedded_postgres {
public:
  explicit embedded_postgres(embedded_postgres_config cfg);

  /// Stops the server if this object started it.
  ~embedded_postgres();

  embedded_postgres(const embedded_postgres&) = delete;
  embedded_postgres& operator=(const embedded_postgres&) = delete;

  /// initdb on first use, then starts the server and waits until it accepts
  /// connections. Throws embedded_postgres_error when the data dir is used
  /// by another live process of ours; a server left running by a killed
  /// process (or a stale postmaster.pid) is stopped/cleaned first.
  void start();

  /// Fast shutdown (pg_ctl stop -m fast). Idempotent.
  void stop();

  /// Whether the server this object started still runs: its postmaster
  /// (postmaster.pid) is a live, not-yet-reaped postgres process. False
  /// after stop(), or when the postmaster died (kill -9, OOM killer, crash).
  bool alive() const;

  /// Starts the server again after its postmaster died, as start() does
  /// (PostgreSQL recovers from its WAL). Throws embedded_postgres_error when
  /// it does not come up, e.g. while backends of the dead postmaster still
  /// hold its shared memory; the caller retries later.
  void restart();

  /// Stops a server that runs in `data_dir` without holding it (used by the
  /// test harness's cleanup step).
  static void stop_existing(const std::filesystem::path& data_dir);

  /// libpq key=value connection string for database `dbname`.
  std::string connection_string(const std::string& dbname = "postgres") const;

  /// Connection string of a server already running in `data_dir`.
  static std::string
  connection_string_for(const std::filesystem::path& data_dir,
                        const std::string& dbname);

  /// Folder of the server binaries (initdb, pg_ctl, pg_dump, ...).
  static std::filesystem::path find_bin_dir();

  const std::filesystem::path& data_dir() const { return data_dir_; }

private:
  void init_cluster();
  void write_settings();
  void take_lock();

  embedded_postgres_config cfg_;
  std::filesystem::path data_dir_;
  std::filesystem::path bin_dir_;
  int lock_fd_ = -1;
  bool running_ = false;
};

/// Result of running a helper program.
struct command_result {
  int exit_code = -1;
  std::string output; ///< stdout and stderr, interleaved
};

/// Runs `argv` (argv[0] a path), as the postgres user when `as_postgres` and
/// this process is root. Blocks until it exits.
command_result run_command(const std::vector<std::string>& argv,
                           bool as_postgres);

} // namespace ogf::persistence
