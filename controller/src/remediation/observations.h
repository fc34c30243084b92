#pragma once

// What one Remediation tick observed: the input of Diagnose and Next, gathered by the
// Collector (remediation/collector.h) and assembled by the pure functions of
// remediation/collect.h.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/database.h"
#include "core/pg_admin.h"  // SessionRow, LoginResult
#include "remediation/signals.h"
#include "remediation/status.h"

namespace poolguard::controller {

struct PodState {
  std::string name;
  bool ready = false;
  std::string reason;  // e.g. CrashLoopBackOff, Pending
};

/// A probe that ran (Pass/Fail), could not run (Error) or was not attempted (Inconclusive).
struct ProbeResult {
  Outcome outcome = Outcome::kInconclusive;
  std::string detail;
};

/// A Deployment's or StatefulSet's rollout, as its status reports it.
struct RolloutObservation {
  int64_t generation = 0;
  int64_t observed_generation = 0;
  int replicas = 0;  // spec.replicas
  int status_replicas = 0;
  int updated_replicas = 0;
  int available_replicas = 0;  // readyReplicas for a StatefulSet
  std::string restarted_at;    // the pod template's kubectl.kubernetes.io/restartedAt
  bool progress_deadline_exceeded = false;
};

/// Everything one tick gathered. Fields that were not gathered keep their defaults, which
/// read as "not known" (Inconclusive), never as healthy.
struct Observations {
  int64_t generation = 0;

  // Detection (the caller runs Detect first) and the raw signals it used.
  DetectionState detection;
  std::vector<Signal> signals;

  // Diagnosis inputs.
  std::optional<std::vector<PodState>> db_pods;
  ProbeResult tcp;  // TCP connect to the database's endpoints
  LoginResult login = LoginResult::kNotTried;
  std::string login_detail;
  bool prometheus_configured = false;
  ProbeResult prometheus;  // did the Prometheus API answer this tick
  std::optional<DbErrorCounts> logs;
  std::optional<double> pool_timeouts;  // increase of the preset's pool-timeout counter
  std::optional<double> auth_errors;    // increase of the preset's authentication-error counter
  std::optional<DbCapacity> capacity;
  std::optional<std::vector<SessionRow>> sessions;
  std::string sessions_matched_by;    // how the target's sessions were told apart
  std::optional<DbPoolView> db_pool;  // the target's pools as the database shows them
  // Other clients' sessions idle this long hold slots (spec.detection.database).
  std::chrono::milliseconds idle_slot_holder{10000};

  // Verification inputs (over verification.window where they are rates).
  std::optional<double> error_ratio;
  std::optional<double> p99_latency_seconds;
  std::optional<double> request_rate;
  ProbeResult test_request;  // one business request through the target
  Baseline baseline;         // pre-incident levels the collector keeps while healthy

  // Action inputs (see remediation_plan.h).
  std::optional<RolloutObservation> deployment;  // the target's Deployment
  std::optional<RolloutObservation> database;    // the database's StatefulSet
  std::optional<int> pool_size;  // the pool size env value on the target's Deployment
  int target_replicas = 1;
  std::string approval;        // the poolguard.dev/approve annotation
  std::string rejection;       // the poolguard.dev/reject annotation
  std::string decided_by;      // poolguard.dev/decided-by: who set either (the console writes it)
  std::string action_request;  // poolguard.dev/request-action: a person's manual action
  std::string chaos_experiment;
  std::string chaos_report;  // where a report of the experiment will be (a game day's)
  std::optional<WallTime> chaos_started_at;
};

}  // namespace poolguard::controller
