#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>

#include "child_process.h"  // ChildProcess (tests/support)
#include "net.h"            // FreePort (tests/support)
#include "scratch_pg.h"     // ScratchPg (tests/support)
#include "shell.h"          // Run (tests/support)

namespace poolguard::testing {

/// A real PostgreSQL server for the whole test binary (scripts/pg: initdb in a temporary
/// folder, a free port), torn down at exit. Role `app`/`app` is an ordinary login role.
class PgServer {
 public:
  static PgServer& Shared();

  std::string Url(const std::string& user, const std::string& password,
                  const std::string& database) const;
  std::string SuperuserUrl(const std::string& database = "postgres") const {
    return Url("postgres", "postgres", database);
  }
  /// Creates a fresh database owned by `app`; returns its name.
  std::string CreateDatabase();
  void Stop() { server_.Stop(); }
  void Start() { server_.Start(); }
  int max_connections() const { return max_connections_; }
  int port() const { return server_.port(); }

 private:
  PgServer();
  int max_connections_ = 40;  // before server_, which is started with it
  ScratchPg server_;
  int databases_ = 0;
};

struct HttpResult {
  int status = 0;  // 0 when the request failed at the transport
  std::string body;
  std::chrono::milliseconds elapsed{0};
  std::string error;
};

HttpResult HttpCall(const std::string& base_url, const std::string& method, const std::string& path,
                    const std::string& body = "",
                    const std::string& content_type = "application/json",
                    std::chrono::seconds timeout = std::chrono::seconds(30));

/// A poolguard-target process with the given environment (nothing inherited but PATH),
/// its output captured in a file.
class TargetProcess {
 public:
  explicit TargetProcess(std::map<std::string, std::string> env);
  TargetProcess(const TargetProcess&) = delete;
  TargetProcess& operator=(const TargetProcess&) = delete;

  const std::string& base_url() const { return base_url_; }
  /// Polls /livez until it answers; false if the process exited or time ran out.
  bool WaitUntilServing(std::chrono::seconds timeout = std::chrono::seconds(60));
  /// Waits for the process to exit by itself; returns its exit code, or -1 on timeout.
  int WaitForExit(std::chrono::seconds timeout);
  /// SIGTERM, then waits; returns the exit code (-1 if it had to be killed).
  int Terminate(std::chrono::seconds timeout = std::chrono::seconds(20));
  std::string Log() const { return process_->Log(); }
  pid_t pid() const { return process_->pid(); }

 private:
  std::string base_url_;
  std::unique_ptr<ChildProcess> process_;
};

}  // namespace poolguard::testing
