#pragma once

// Test support: a program run as a child process, its output in a file. Header-only, like
// shell.h.

#include <fcntl.h>  // O_CLOEXEC
#include <signal.h>
#include <stdlib.h>  // mkostemp
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace poolguard::testing {

/// `binary args...` with only `env` (and PATH) in its environment, stdout and stderr in a
/// temporary file. The destructor kills it (SIGKILL) if it still runs.
class ChildProcess {
 public:
  ChildProcess(const std::string& binary, const std::vector<std::string>& args,
               const std::map<std::string, std::string>& env = {}) {
    char tmpl[] = "/tmp/poolguard-test-log-XXXXXX";
    const int fd = mkostemp(tmpl, O_CLOEXEC);
    if (fd < 0) throw std::runtime_error("mkstemp failed for the log of " + binary);
    log_path_ = tmpl;
    std::vector<std::string> strings;
    const char* path = std::getenv("PATH");
    strings.push_back("PATH=" + std::string(path != nullptr ? path : "/usr/bin"));
    for (const auto& [k, v] : env) strings.push_back(k + "=" + v);
    std::vector<std::string> argv_s = {binary};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    // Built before fork: the child only calls async-signal-safe functions.
    std::vector<char*> envp, argv;
    for (auto& s : strings) envp.push_back(s.data());
    envp.push_back(nullptr);
    for (auto& s : argv_s) argv.push_back(s.data());
    argv.push_back(nullptr);
    pid_ = fork();
    if (pid_ == 0) {
      dup2(fd, 1);  // dup2's copies are not close-on-exec
      dup2(fd, 2);
      // Nothing else of the test's: its listening sockets and connections would stay open
      // in the child (a fake server's port still accepting after the test closed it).
      close_range(3, ~0U, 0);
      execve(binary.c_str(), argv.data(), envp.data());
      _exit(127);
    }
    close(fd);
    if (pid_ < 0) {
      unlink(log_path_.c_str());
      throw std::runtime_error("fork failed for " + binary);
    }
  }
  ~ChildProcess() {
    if (pid_ > 0 && !exit_code_) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    unlink(log_path_.c_str());
  }
  ChildProcess(const ChildProcess&) = delete;
  ChildProcess& operator=(const ChildProcess&) = delete;

  pid_t pid() const { return pid_; }
  void Signal(int sig) {
    if (!exit_code_) kill(pid_, sig);
  }
  /// The exit code (128+signal) if the process has exited, without waiting.
  std::optional<int> Poll() {
    int status = 0;
    if (!exit_code_ && waitpid(pid_, &status, WNOHANG) == pid_) {
      exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    }
    return exit_code_;
  }
  /// Waits for exit; returns the exit code (128+signal), -1 on timeout.
  int Wait(std::chrono::milliseconds timeout) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!Poll()) {
      if (std::chrono::steady_clock::now() >= deadline) return -1;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    return *exit_code_;
  }
  /// SIGKILL, and waits for it: its exit code is 137.
  void Kill() {
    if (exit_code_) return;
    kill(pid_, SIGKILL);
    int status = 0;
    waitpid(pid_, &status, 0);
    exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
  /// Everything it has written to stdout and stderr so far.
  std::string Log() const {
    std::ifstream in(log_path_);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

 private:
  pid_t pid_ = -1;
  std::optional<int> exit_code_;
  std::string log_path_;
};

}  // namespace poolguard::testing
