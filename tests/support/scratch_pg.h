#pragma once

// Test support: a throwaway PostgreSQL server driven through scripts/pg. Header-only, like
// shell.h; the including target defines POOLGUARD_SOURCE_DIR (the repository root).

#include <stdlib.h>  // mkdtemp

#include <exception>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <system_error>

#include "shell.h"  // Run

#ifndef POOLGUARD_SOURCE_DIR
#error "scratch_pg.h needs POOLGUARD_SOURCE_DIR, the repository root (for scripts/pg)"
#endif

namespace poolguard::testing {

/// One PostgreSQL server in a folder of its own under /tmp (`scripts/pg init` picks a free
/// port), started by the constructor and stopped and deleted by the destructor. The
/// superuser is postgres/postgres; roles and databases are the caller's to create.
class ScratchPg {
 public:
  enum class Host {
    kLoopback,  // listens on 127.0.0.1
    kNetns,     // a test host of its own: a network namespace (POOLGUARD_PG_NETNS=1, root)
  };

  /// `name` names the temporary folder (/tmp/NAME-XXXXXX).
  ScratchPg(const std::string& name, int max_connections, Host where = Host::kLoopback) {
    std::string tmpl = "/tmp/" + name + "-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed: " + tmpl);
    root_ = tmpl;
    dir_ = root_ + "/pg";
    try {
      Run(std::string(where == Host::kNetns ? "POOLGUARD_PG_NETNS=1 " : "") + Script("init") +
          " '' " + std::to_string(max_connections));
      Start();
      port_ = std::stoi(Run(Script("port")));
      host_ = Trimmed(Run(Script("host")));
    } catch (...) {
      TearDown();
      throw;
    }
  }
  ~ScratchPg() { TearDown(); }
  ScratchPg(const ScratchPg&) = delete;
  ScratchPg& operator=(const ScratchPg&) = delete;

  int port() const { return port_; }
  /// Where to reach the server: 127.0.0.1, or the test host's address with Host::kNetns.
  const std::string& host() const { return host_; }
  /// The scripts/pg folder (data/, server.log, port).
  const std::string& dir() const { return dir_; }
  std::string Url(const std::string& user, const std::string& password,
                  const std::string& database) const {
    return "postgresql://" + user + ":" + password + "@" + host_ + ":" + std::to_string(port_) +
           "/" + database;
  }

  void Stop() { Run(Script("stop")); }
  void Start() { Run(Script("start")); }

  /// The network namespace of the test host, to run other processes on it ("" on loopback).
  std::string Netns() const {
    std::ifstream in(dir_ + "/netns.env");
    for (std::string line; std::getline(in, line);) {
      if (line.rfind("NETNS=", 0) == 0) return Trimmed(line.substr(6));
    }
    return "";
  }

  /// The last lines of the server log (for failure messages); never throws.
  std::string LogTail(int lines = 40) const {
    try {
      return Run("tail -n " + std::to_string(lines) + " " + dir_ + "/server.log");
    } catch (const std::exception& e) {
      return e.what();
    }
  }

 private:
  std::string Script(const std::string& command) const {
    return std::string(POOLGUARD_SOURCE_DIR) + "/scripts/pg " + command + " " + dir_;
  }
  static std::string Trimmed(std::string s) {
    while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
    return s;
  }
  void TearDown() noexcept {
    try {
      Run(Script("destroy"));
    } catch (...) {
    }
    std::error_code ignored;
    std::filesystem::remove_all(root_, ignored);
  }

  std::string root_;  // the mkdtemp folder
  std::string dir_;   // root_/pg
  int port_ = 0;
  std::string host_;
};

}  // namespace poolguard::testing
