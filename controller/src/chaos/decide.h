#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "chaos/types.h"
#include "core/database.h"
#include "core/reconcile.h"

namespace poolguard::controller {

/// Everything the decision needs, gathered by the reconciler (Kubernetes cache, the fault
/// engine, PostgreSQL). Fields that were not gathered keep their defaults.
struct ChaosObserved {
  std::string ns, name;
  int64_t generation = 0;
  bool deleting = false;
  bool has_finalizer = false;
  ChaosStatus status;
  SpecParse spec;
  WallTime now;
  bool shutting_down = false;  // the controller is exiting (SIGTERM)
  /// The cluster-wide kill switch: "" while off, else where it is set and its value.
  std::string kill_switch;

  // Guardrails (gathered only before injection).
  std::optional<bool> namespace_opted_in;
  std::optional<bool> target_exists;               // the Deployment spec.target.deployment names
  std::vector<std::string> active_on_same_target;  // "ns/name" of other experiments
  int max_connections_per_experiment = 200;
  int capacity_margin = 5;
  /// TrafficSurge: clients of every experiment this controller holds, and its cap on them.
  int surge_clients_in_use = 0;
  int max_surge_clients = 2000;
  std::optional<DbCapacity> capacity;
  std::string resolve_error;  // the database or target could not be resolved
  std::string database_endpoint;
  std::string database_role;  // CredentialRotation: the Secret's username
  /// DatabaseDown: the StatefulSet's spec.replicas before injection (nullopt: not found).
  std::optional<int> database_replicas;

  // The fault.
  /// Sessions/clients alive in this process; CredentialRotation: 1 while the role's password
  /// is the experiment's (a login with it succeeds), else 0; DatabaseDown: 1 while the
  /// StatefulSet is at 0 replicas.
  int held = 0;
  std::optional<int> db_sessions;  // pg_stat_activity rows with our application_name
  std::string inject_error;        // the last Inject failed with this

  // Stop conditions (gathered while the fault is in place and the spec has some).
  std::string needs_human;           // "Remediation ns/name needs a person: ..." or ""
  std::optional<double> stop_value;  // the stop query's value now (nullopt: none, or no answer)
};

enum class ChaosEffect {
  kNone,
  kInject,    // make `Want()` sessions/clients live (terminating orphans first)
  kRollback,  // close everything; terminate orphan sessions
  kRemoveFinalizer,
};

struct ChaosDecision {
  bool add_finalizer = false;  // before anything else (and so before the first connection)
  ChaosStatus status;          // written before the effect runs
  ChaosEffect effect = ChaosEffect::kNone;
  std::optional<std::chrono::milliseconds> requeue_after;
  std::vector<EventNote> events;
};

/// Condition types, reasons and event reasons: one place.
namespace reasons {
inline constexpr char kAccepted[] = "Accepted";
inline constexpr char kFaultActive[] = "FaultActive";

inline constexpr char kInvalidSpec[] = "InvalidSpec";
inline constexpr char kNamespaceNotOptedIn[] = "NamespaceNotOptedIn";
inline constexpr char kConnectionCapExceeded[] = "ConnectionCapExceeded";
inline constexpr char kSurgeCapExceeded[] = "SurgeCapExceeded";
inline constexpr char kTargetNotFound[] = "TargetNotFound";
inline constexpr char kTargetBusy[] = "TargetBusy";
inline constexpr char kDatabaseCapacity[] = "DatabaseCapacity";
inline constexpr char kResolutionFailed[] = "ResolutionFailed";
inline constexpr char kDatabaseNotRunning[] = "DatabaseNotRunning";
inline constexpr char kKillSwitch[] = "KillSwitch";
inline constexpr char kStopCondition[] = "StopCondition";
inline constexpr char kGuardrailsPassed[] = "GuardrailsPassed";
inline constexpr char kInjecting[] = "Injecting";
inline constexpr char kInjected[] = "Injected";
inline constexpr char kInjectionFailed[] = "InjectionFailed";
inline constexpr char kExpired[] = "Expired";
inline constexpr char kAborted[] = "Aborted";
inline constexpr char kSevered[] = "Severed";
inline constexpr char kReinjecting[] = "Reinjecting";
inline constexpr char kDeleted[] = "Deleted";
inline constexpr char kControllerShutdown[] = "ControllerShutdown";
inline constexpr char kRolledBack[] = "RolledBack";
inline constexpr char kNotInjected[] = "NotInjected";
}  // namespace reasons

/// The most a status message keeps (longer ones, such as a database's error text, are cut).
inline constexpr size_t kMaxStatusMessage = 1024;

/// The ChaosExperiment state machine as a pure function of what was observed. Level-based:
/// calling it again with the same observation gives the same answer.
ChaosDecision DecideChaos(const ChaosObserved& observed);

}  // namespace poolguard::controller
