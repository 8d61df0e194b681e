#include "persistence/embedded_postgres.hpp"

#include <algorithm>
#include <array>
#include <cerrno>
#include <csignal>
#include <cstring>
#include <fstream>
#include <optional>
#include <sstream>
#include <thread>

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace fs = std::filesystem;

namespace ogf::persistence {

namespace {

constexpr int socket_port = 5432;
constexpr const char* missing_binaries_hint =
    "PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH, "
    "via pg_config --bindir, or under /usr/lib/postgresql/*/bin; install "
    "Debian's 'postgresql' package (scripts/setup does)";

bool is_root() {
  return geteuid() == 0;
}

bool has_server_binaries(const fs::path& dir) {
  std::error_code ec;
  return fs::exists(dir / "initdb", ec) && fs::exists(dir / "pg_ctl", ec) &&
         fs::exists(dir / "postgres", ec);
}

std::string trim(std::string s) {
  while (!s.empty() &&
         (s.back() == '\n' || s.back() == '\r' || s.back() == ' '))
    s.pop_back();
  return s;
}

/// FNV-1a, stable across binaries (std::hash is not promised to be).
std::uint64_t stable_hash(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

/// The socket lives in the data dir, unless that path is too long for a
/// Unix socket address (108 bytes): then in a folder under /tmp named after
/// the data dir, so every process computes the same place.
fs::path socket_dir_for(const fs::path& data_dir) {
  auto candidate = data_dir / (".s.PGSQL." + std::to_string(socket_port));
  if (candidate.string().size() < 100)
    return data_dir;
  std::ostringstream name;
  name << "ogf-pg-" << std::hex << stable_hash(data_dir.string());
  return fs::temp_directory_path() / name.str();
}

struct postgres_user {
  uid_t uid;
  gid_t gid;
};

postgres_user lookup_postgres_user() {
  auto* pw = getpwnam("postgres");
  if (pw == nullptr)
    throw embedded_postgres_error(
        "running as root, but there is no 'postgres' system user to run the "
        "embedded PostgreSQL server as (PostgreSQL refuses to run as root); "
        "install Debian's 'postgresql' package, which creates it");
  return {pw->pw_uid, pw->pw_gid};
}

void hand_to_postgres(const fs::path& path) {
  if (!is_root())
    return;
  auto user = lookup_postgres_user();
  if (chown(path.c_str(), user.uid, user.gid) != 0)
    throw embedded_postgres_error(
        "cannot hand " + path.string() +
        " to the postgres user: " + std::strerror(errno));
}

/// As root the server runs as `postgres`, which must be able to walk down to
/// the data dir: every ancestor needs o+x (or to belong to postgres).
void check_reachable_by_postgres(const fs::path& dir) {
  if (!is_root())
    return;
  auto user = lookup_postgres_user();
  for (auto p = dir.parent_path(); !p.empty(); p = p.parent_path()) {
    struct stat st {};
    if (stat(p.c_str(), &st) == 0) {
      bool ok = (st.st_mode & S_IXOTH) != 0 ||
                (st.st_uid == user.uid && (st.st_mode & S_IXUSR) != 0) ||
                (st.st_gid == user.gid && (st.st_mode & S_IXGRP) != 0);
      if (!ok)
        throw embedded_postgres_error(
            "the postgres user (PostgreSQL refuses to run as root) cannot "
            "reach "
            "data dir " +
            dir.string() + ": folder " + p.string() +
            " is not traversable; chmod o+x it or use another --data-dir");
    }
    if (p == p.root_path())
      break;
  }
}

void make_private_dir(const fs::path& dir) {
  std::error_code ec;
  fs::create_directories(dir, ec);
  if (ec)
    throw embedded_postgres_error("data dir " + dir.string() +
                                  " cannot be created: " + ec.message());
  if (chmod(dir.c_str(), 0700) != 0)
    throw embedded_postgres_error("data dir " + dir.string() +
                                  " is not writable: " + std::strerror(errno));
  hand_to_postgres(dir);
}

/// A process that exists and has not exited: a killed postmaster whose
/// parent (init, in a container often nobody) has not reaped it yet is a
/// zombie, which kill(pid, 0) still finds.
bool process_alive(pid_t pid) {
  if (pid <= 0 || (kill(pid, 0) != 0 && errno != EPERM))
    return false;
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(stat, line);
  auto close = line.rfind(')');
  if (close == std::string::npos || close + 2 >= line.size())
    return true; // no /proc: trust kill()
  char state = line[close + 2];
  return state != 'Z' && state != 'X';
}

/// The postmaster's pid from postmaster.pid, or 0.
pid_t postmaster_pid(const fs::path& pgdata) {
  std::ifstream in(pgdata / "postmaster.pid");
  long pid = 0;
  if (in >> pid)
    return static_cast<pid_t>(pid);
  return 0;
}

bool is_postgres_process(pid_t pid) {
  std::ifstream comm("/proc/" + std::to_string(pid) + "/comm");
  std::string name;
  std::getline(comm, name);
  return name.rfind("postgres", 0) == 0 || name.rfind("postmaster", 0) == 0;
}

} // namespace

command_result run_command(const std::vector<std::string>& argv,
                           bool as_postgres) {
  std::optional<postgres_user> user;
  if (as_postgres && is_root())
    user = lookup_postgres_user();
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0)
    throw embedded_postgres_error(std::string("pipe: ") + std::strerror(errno));
  std::vector<char*> args;
  for (const auto& a : argv)
    args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t child = fork();
  if (child < 0)
    throw embedded_postgres_error(std::string("fork: ") + std::strerror(errno));
  if (child == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    int devnull = open("/dev/null", O_RDONLY);
    if (devnull >= 0)
      dup2(devnull, STDIN_FILENO);
    // Our own descriptors (sockets, lock files) must not leak into the
    // server, which outlives this call.
    for (int fd = 3; fd < 1024; ++fd)
      close(fd);
    if (user) {
      if (setgroups(0, nullptr) != 0 || setgid(user->gid) != 0 ||
          setuid(user->uid) != 0)
        _exit(126);
    }
    // Keep PostgreSQL's own messages in one predictable language.
    setenv("LC_ALL", "C", 1);
    unsetenv("PGDATA");
    execv(args[0], args.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  command_result result;
  std::array<char, 4096> buf;
  for (;;) {
    auto n = read(pipe_fds[0], buf.data(), buf.size());
    if (n > 0) {
      result.output.append(buf.data(), static_cast<size_t>(n));
    } else if (n == 0 || errno != EINTR) {
      break;
    }
  }
  close(pipe_fds[0]);
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR) {
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
  return result;
}

fs::path embedded_postgres::find_bin_dir() {
  // 1. PATH
  if (const char* path = std::getenv("PATH")) {
    std::stringstream ss(path);
    std::string dir;
    while (std::getline(ss, dir, ':'))
      if (!dir.empty() && has_server_binaries(dir)) {
        // Links (e.g. /usr/local/bin/pg_ctl) point into the real bin dir,
        // which also has pg_dump and friends.
        std::error_code ec;
        auto real = fs::canonical(fs::path(dir) / "pg_ctl", ec);
        return ec ? fs::path(dir) : real.parent_path();
      }
  }
  // 2. pg_config --bindir
  for (const char* pg_config :
       {"/usr/bin/pg_config", "/usr/local/bin/pg_config"}) {
    std::error_code ec;
    if (!fs::exists(pg_config, ec))
      continue;
    auto r = run_command({pg_config, "--bindir"}, false);
    if (r.exit_code == 0 && has_server_binaries(trim(r.output)))
      return trim(r.output);
  }
  // 3. Debian's versioned folders, newest first
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/usr/lib/postgresql", ec))
    if (has_server_binaries(entry.path() / "bin"))
      candidates.push_back(entry.path() / "bin");
  if (!candidates.empty()) {
    std::sort(candidates.begin(), candidates.end(),
              [](const fs::path& a, const fs::path& b) {
                auto va = std::atoi(a.parent_path().filename().c_str());
                auto vb = std::atoi(b.parent_path().filename().c_str());
                return va > vb;
              });
    return candidates.front();
  }
  throw embedded_postgres_error(missing_binaries_hint);
}

embedded_postgres::embedded_postgres(embedded_postgres_config cfg)
    : cfg_(std::move(cfg)) {
  std::error_code ec;
  data_dir_ = fs::absolute(cfg_.data_dir, ec).lexically_normal();
  if (ec)
    throw embedded_postgres_error("bad data dir " + cfg_.data_dir.string());
  if (!data_dir_.has_filename())
    data_dir_ = data_dir_.parent_path();
  bin_dir_ = find_bin_dir();
}

embedded_postgres::~embedded_postgres() {
  try {
    stop();
  } catch (...) {
    // Destructors never throw; the server is left for the next start to
    // clean up.
  }
  if (lock_fd_ >= 0)
    close(lock_fd_);
}

void embedded_postgres::take_lock() {
  if (lock_fd_ >= 0)
    return; // held since an earlier start() of this object
  auto lock_path = data_dir_ / "offgridflow.lock";
  lock_fd_ = open(lock_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600);
  if (lock_fd_ < 0)
    throw embedded_postgres_error("data dir " + data_dir_.string() +
                                  " is not writable: " + std::strerror(errno));
  if (flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw embedded_postgres_error(
        "data dir " + data_dir_.string() +
        " is in use by another offgridflow-batch process; stop it first or "
        "use another --data-dir");
}

void embedded_postgres::init_cluster() {
  auto pgdata = data_dir_ / "pgdata";
  std::error_code ec;
  if (fs::exists(pgdata / "PG_VERSION", ec))
    return;
  make_private_dir(pgdata);
  auto r = run_command({(bin_dir_ / "initdb").string(), "-D", pgdata.string(),
                        "-U", "postgres", "--auth=trust", "-E", "UTF8",
                        "--locale=C", "--no-sync"},
                       true);
  if (r.exit_code != 0)
    throw embedded_postgres_error("initdb failed in " + pgdata.string() + ": " +
                                  r.output);
  std::ofstream conf(pgdata / "postgresql.conf", std::ios::app);
  conf << "\n# Written by offgridflow-batch: per-start settings live here.\n"
       << "include_if_exists = 'offgridflow.conf'\n";
  if (!conf)
    throw embedded_postgres_error("cannot write " +
                                  (pgdata / "postgresql.conf").string());
}

void embedded_postgres::write_settings() {
  auto pgdata = data_dir_ / "pgdata";
  auto path = pgdata / "offgridflow.conf";
  {
    std::ofstream conf(path, std::ios::trunc);
    auto quote = [](const std::string& v) {
      std::string out = "'";
      for (char c : v) {
        if (c == '\'')
          out += "''";
        else
          out += c;
      }
      return out + "'";
    };
    conf << "listen_addresses = ''\n"
         << "port = " << socket_port << "\n"
         << "unix_socket_directories = "
         << quote(socket_dir_for(data_dir_).string()) << "\n";
    for (const auto& [name, value] : cfg_.settings)
      conf << name << " = " << quote(value) << "\n";
    if (!conf)
      throw embedded_postgres_error("cannot write " + path.string());
  }
  hand_to_postgres(path);
}

void embedded_postgres::start() {
  if (running_)
    return;
  check_reachable_by_postgres(data_dir_);
  make_private_dir(data_dir_);
  take_lock();
  auto socket_dir = socket_dir_for(data_dir_);
  if (socket_dir != data_dir_)
    make_private_dir(socket_dir);
  init_cluster();
  auto pgdata = data_dir_ / "pgdata";
  // We hold the lock, so a live postmaster here was left by a process of
  // ours that was killed: stop it and start clean. A dead one only left a
  // stale postmaster.pid behind.
  if (auto pid = postmaster_pid(pgdata); pid > 0) {
    if (process_alive(pid) && is_postgres_process(pid)) {
      run_command({(bin_dir_ / "pg_ctl").string(), "-D", pgdata.string(), "-m",
                   "fast", "-w", "stop"},
                  true);
    } else {
      std::error_code ec;
      fs::remove(pgdata / "postmaster.pid", ec);
    }
  }
  write_settings();
  auto log = data_dir_ / "postgres.log";
  auto r = run_command({(bin_dir_ / "pg_ctl").string(), "-D", pgdata.string(),
                        "-l", log.string(), "-w", "-t",
                        std::to_string(cfg_.start_timeout.count()), "start"},
                       true);
  if (r.exit_code != 0) {
    std::string tail;
    std::ifstream in(log);
    std::string line;
    std::vector<std::string> lines;
    while (std::getline(in, line))
      lines.push_back(line);
    for (auto i = lines.size() > 8 ? lines.size() - 8 : 0; i < lines.size();
         ++i)
      tail += lines[i] + "\n";
    throw embedded_postgres_error("PostgreSQL did not start in " +
                                  pgdata.string() + ": " + r.output + tail);
  }
  running_ = true;
}

bool embedded_postgres::alive() const {
  if (!running_)
    return false;
  auto pid = postmaster_pid(data_dir_ / "pgdata");
  return process_alive(pid) && is_postgres_process(pid);
}

void embedded_postgres::restart() {
  // start() finds the dead postmaster's postmaster.pid and removes it; the
  // server itself refuses to start while the old shared memory is in use.
  running_ = false;
  start();
}

void embedded_postgres::stop() {
  if (!running_)
    return;
  running_ = false;
  stop_existing(data_dir_);
}

void embedded_postgres::stop_existing(const fs::path& data_dir) {
  auto pgdata = fs::absolute(data_dir) / "pgdata";
  if (postmaster_pid(pgdata) == 0)
    return;
  auto r =
      run_command({(find_bin_dir() / "pg_ctl").string(), "-D", pgdata.string(),
                   "-m", "fast", "-w", "-t", "60", "stop"},
                  true);
  if (r.exit_code != 0 && postmaster_pid(pgdata) != 0)
    throw embedded_postgres_error("PostgreSQL in " + pgdata.string() +
                                  " did not stop: " + r.output);
}

std::string
embedded_postgres::connection_string(const std::string& dbname) const {
  return connection_string_for(data_dir_, dbname);
}

std::string
embedded_postgres::connection_string_for(const fs::path& data_dir,
                                         const std::string& dbname) {
  auto dir = fs::absolute(data_dir).lexically_normal();
  if (!dir.has_filename())
    dir = dir.parent_path();
  std::string host;
  for (char c : socket_dir_for(dir).string()) {
    if (c == '\\' || c == '\'')
      host += '\\';
    host += c;
  }
  return "host='" + host + "' port=" + std::to_string(socket_port) +
         " user=postgres dbname=" + dbname;
}

} // namespace ogf::persistence
