#pragma once

// The Remediation reconciler's side effects, behind small interfaces: PostgreSQL (the
// diagnostic connection), HTTP to the target's pods and to Prometheus, and a TCP probe.
// Kubernetes reads and writes go through remediation_cluster.h.

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "chaos/fault_engine.h"  // DbTarget, Endpoint
#include "remediation/diagnose.h"

namespace poolguard::controller {

/// A diagnostic query that could not run; the message names the database endpoint and
/// never contains the password.
class DiagnosticError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// How to tell the target's own sessions from the rest.
struct SessionFilter {
  std::string target_application_name = "poolguard-target";
  std::vector<std::string> target_addresses;  // the target pods' IPs (client_addr)
};

/// The result of a fresh login with the target's credentials.
struct LoginAttempt {
  LoginResult result = LoginResult::kNotTried;
  std::string detail;  // the server's message (no password)
};

/// SQL the diagnosis and TerminateBlockingSessions need. Thread-safe.
class DiagnosticDb {
 public:
  virtual ~DiagnosticDb() = default;
  /// pg_stat_activity (client backends of every database; this connection left out) joined
  /// with pg_blocking_pids(pid) and the strongest granted relation lock of each session.
  /// Runs on a connection kept open across calls (one per endpoint/user/database) so that
  /// it is already in when the server's slots run out; a broken one is reopened once.
  /// Throws DiagnosticError.
  virtual std::vector<SessionRow> Sessions(const DbTarget& db, const SessionFilter& filter) = 0;
  /// max_connections, superuser_reserved_connections and client backends in use, on the
  /// kept connection. Throws DiagnosticError.
  virtual DbCapacity Capacity(const DbTarget& db) = 0;
  /// A fresh connection with the credentials, closed at once: Ok, AuthRejected (28P01,
  /// 28000), TooManyClients (53300), Refused (nothing listens / unreachable), OtherError.
  virtual LoginAttempt Login(const DbTarget& db) = 0;
  /// pg_terminate_backend for each of `pids` that is still a client backend and not one of
  /// the target's own sessions; returns the pids actually terminated. Throws
  /// DiagnosticError.
  virtual std::vector<int> Terminate(const DbTarget& db, const std::vector<int>& pids,
                                     const SessionFilter& filter) = 0;
  /// Closes kept connections to databases not in `keep` (objects deleted or retargeted).
  virtual void Retain(const std::vector<DbTarget>& keep) = 0;
};
std::unique_ptr<DiagnosticDb> NewDiagnosticDb();

/// TCP connect within `timeout`: Pass, Fail (refused, unreachable, timed out).
ProbeResult TcpConnect(const Endpoint& endpoint, std::chrono::milliseconds timeout);

/// One HTTP GET's answer.
struct HttpResult {
  int status = 0;  // 0: no answer
  std::string body;
  bool timed_out = false;
  std::string error;  // transport error text when status is 0
};

/// Plain-HTTP GETs with a deadline (the target's pods, Prometheus). Thread-safe.
class HttpGetter {
 public:
  virtual ~HttpGetter() = default;
  /// `url` is http://host[:port]/path?query. Never throws on transport errors.
  virtual HttpResult Get(const std::string& url, std::chrono::milliseconds timeout) = 0;
};
std::unique_ptr<HttpGetter> NewHttpGetter();

}  // namespace poolguard::controller
