// Child processes for system tests: the real offgridflow-batch binary.
#pragma once

#include <chrono>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <sys/types.h>

namespace ogf::testing {

/// A running child process; killed (SIGKILL) when destroyed if still alive.
class child_process {
public:
  /// Starts `argv` with extra environment variables; stdout and stderr go to
  /// `log_path`.
  child_process(std::vector<std::string> argv,
                std::map<std::string, std::string> env, std::string log_path);
  ~child_process();

  child_process(const child_process&) = delete;
  child_process& operator=(const child_process&) = delete;

  pid_t pid() const { return pid_; }

  void signal(int sig);

  /// Waits for exit; the exit code (128+signal when killed), or nullopt on
  /// timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);

  /// Everything the process wrote so far.
  std::string output() const;

private:
  pid_t pid_ = -1;
  std::string log_path_;
  std::optional<int> exit_code_;
};

/// How a command that ran to its end ended, and what it wrote.
struct command_output {
  int exit_code = -1; ///< 128+signal when killed; -1 when it timed out
  std::string out;    ///< its stdout
  std::string err;    ///< its stderr
  std::chrono::milliseconds took{0};
};

/// Runs `argv` (argv[0] a path) with extra environment variables until it
/// exits, stdout and stderr captured apart (in files under `dir`). Killed
/// after `timeout`.
command_output run_to_exit(std::vector<std::string> argv,
                           std::map<std::string, std::string> env,
                           const std::string& dir,
                           std::chrono::milliseconds timeout);

/// In a forked child: sets `env`, then replaces the process with `argv`
/// (argv[0] a path; exit code 127 when that fails).
[[noreturn]] void exec_child(std::vector<std::string>& argv,
                             const std::map<std::string, std::string>& env);

/// Path of the offgridflow-batch binary under test.
std::string server_binary();

/// A free TCP port on 127.0.0.1 (bound and released; good enough here).
int free_port();

} // namespace ogf::testing
