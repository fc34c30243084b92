#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "chaos/decide.h"
#include "chaos/types.h"
#include "core/database.h"

namespace poolguard::controller {

/// What to inject for one experiment.
struct FaultPlan {
  FaultType type = FaultType::kConnectionLeak;
  LeakMode mode = LeakMode::kIdle;
  int count = 0;  // sessions or clients
  std::string table;
  std::string application_name;
  DbTarget db;
  /// Server-side idle_session_timeout / idle_in_transaction_session_timeout: the remaining
  /// duration plus a grace, so sessions end even if this process hangs.
  std::chrono::milliseconds session_timeout{0};
  std::vector<Endpoint> surge_endpoints;
  std::string surge_path;
  long long surge_requests = 0;  // requests in all, split evenly over the clients; 0: no limit
  /// LockTable: once the lock is held, end the role's other client sessions (not the
  /// controller's nor experiments'), so that they must log in again (DatabaseDown, Hung).
  bool end_role_sessions = false;
};

class InjectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// Holds faults in this process, keyed by experiment ("ns/name"). Thread-safe.
class FaultEngine {
 public:
  virtual ~FaultEngine() = default;
  /// Makes `plan.count` sessions/clients live for `key` (opens only the missing ones).
  /// Throws InjectError with a message fit for status (no credentials).
  virtual void Inject(const std::string& key, const FaultPlan& plan) = 0;
  /// Sessions/clients alive for `key` right now.
  virtual int Held(const std::string& key) = 0;
  /// Backend pids of the live leak sessions (to tell orphans from our own).
  virtual std::vector<int> Pids(const std::string& key) = 0;
  /// Closes everything for `key`. Idempotent.
  virtual void Rollback(const std::string& key) = 0;
  virtual std::vector<std::string> Keys() = 0;
  /// Total sessions and surge clients held (metrics).
  virtual int TotalSessions() = 0;
  virtual int TotalClients() = 0;
  /// Called (from the engine's monitor thread) when a session of `key` dies by itself.
  virtual void SetOnLost(std::function<void(const std::string& key)> callback) = 0;
};

std::unique_ptr<FaultEngine> NewFaultEngine();

}  // namespace poolguard::controller
