#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/condition.h"
#include "core/duration.h"
#include "core/json.h"

namespace poolguard::controller {

inline constexpr char kChaosFinalizer[] = "poolguard.dev/chaos-rollback";
inline constexpr char kChaosOptInLabel[] = "poolguard.dev/chaos";
/// Who set spec.abort, when the console did; named in the Aborted message.
inline constexpr char kAbortedByAnnotation[] = "poolguard.dev/aborted-by";
inline constexpr char kChaosOptInValue[] = "enabled";
/// Where a report of the experiment will be (scripts/gameday sets it): copied into the
/// incident it causes (status.incident.chaosReport), at most kMaxReportLength bytes.
inline constexpr char kChaosReportAnnotation[] = "poolguard.dev/report";
inline constexpr size_t kMaxReportLength = 512;

enum class FaultType {
  kConnectionLeak,
  kTrafficSurge,
  kCredentialRotation,
  kDatabaseDown,
  kNetworkPartition,
};
enum class LeakMode { kIdle, kIdleInTransaction, kLockTable };
enum class Reinject { kNever, kOnSever };
/// NetworkPartition: the selector key added to the Service, its value the experiment's UID.
/// A key no pod carries, so the Service selects nothing while it is there.
inline constexpr char kPartitionSelectorKey[] = "poolguard.dev/partitioned-by";
/// DatabaseDown: the StatefulSet scaled to 0 (Stopped), or the server left running but
/// answering no login (Hung: a superuser session holds pg_catalog.pg_authid locked).
enum class DownMode { kStopped, kHung };

/// A ChaosExperiment's spec, validated. The API server enforces the CRD schema; the
/// controller validates again so objects written before a schema change, or by a client
/// that bypassed it, fail with a message instead of misbehaving.
struct ChaosSpec {
  std::string target_deployment;
  std::string target_service;  // TrafficSurge
  int target_port = 8000;
  std::string db_service;
  int db_port = 5432;
  std::string credentials_secret;
  FaultType type = FaultType::kConnectionLeak;
  LeakMode mode = LeakMode::kIdle;
  int connections = 0;
  std::string table;
  int concurrency = 0;
  std::string path = "/items";
  long long requests = 0;  // TrafficSurge: requests in all, then the clients stop (0: no limit)
  // CredentialRotation, NetworkPartition: end the role's sessions once the fault is in place.
  bool terminate_sessions = true;
  std::string db_statefulset;  // DatabaseDown: the StatefulSet stopped (scaled to 0)
  DownMode down_mode = DownMode::kStopped;
  std::string partition_service;  // NetworkPartition: the Service whose endpoints go away
  std::chrono::milliseconds duration{0};
  Reinject reinject = Reinject::kNever;
  bool abort = false;
  std::string aborted_by;  // the poolguard.dev/aborted-by annotation (the console sets it)

  // Stop conditions (spec.stopConditions): end the experiment early, as Aborted.
  bool stop_on_needs_human = false;  // a Remediation of the target says NeedsHuman=True
  std::string stop_prometheus_url;   // with a query: stop when its value is above `above`
  std::string stop_query;
  double stop_above = 0;
  std::chrono::milliseconds stop_for{0};  // ... for this long
  bool HasStopConditions() const { return stop_on_needs_human || !stop_query.empty(); }
  /// DatabaseDown, Stopped: the fault is the StatefulSet's replicas.
  bool StopsDatabase() const {
    return type == FaultType::kDatabaseDown && down_mode == DownMode::kStopped;
  }
  /// DatabaseDown, Hung: the fault is one session of the engine's, holding a catalog lock.
  bool HangsDatabase() const {
    return type == FaultType::kDatabaseDown && down_mode == DownMode::kHung;
  }

  /// Sessions (ConnectionLeak), clients (TrafficSurge), or one (the rotated password, the
  /// stopped StatefulSet, the partitioned Service) the fault holds.
  int Want() const {
    switch (type) {
      case FaultType::kConnectionLeak:
        return connections;
      case FaultType::kTrafficSurge:
        return concurrency;
      case FaultType::kCredentialRotation:
      case FaultType::kDatabaseDown:
      case FaultType::kNetworkPartition:
        return 1;
    }
    return 0;
  }
  bool operator==(const ChaosSpec&) const = default;
};

/// Either a spec or a message naming the offending field ("spec.fault.connectionLeak: ...").
struct SpecParse {
  std::optional<ChaosSpec> spec;
  std::string error;
};
SpecParse ParseChaosSpec(const Json& object);

enum class Phase {
  kNone,  // no status yet
  kPending,
  kInjecting,
  kActive,
  kRollingBack,
  kCompleted,
  kAborted,
  kFailed,
  kRejected,
};
std::string_view PhaseName(Phase phase);
Phase ParsePhase(std::string_view name);
bool IsTerminal(Phase phase);
/// Phases in which the fault may be in place (the experiment claims its target).
bool HoldsTarget(Phase phase);

struct ChaosStatus {
  Phase phase = Phase::kNone;
  std::string reason;
  std::string message;
  int64_t observed_generation = 0;
  std::optional<WallTime> started_at, ends_at, finished_at, severed_at;
  std::optional<WallTime> stop_condition_since;  // the PromQL stop condition first held
  std::optional<int> leaked_connections;
  std::optional<int> surge_clients;
  std::optional<bool> password_rotated;     // CredentialRotation: the role's password is ours now
  std::string rotated_role;                 // CredentialRotation: whose password it is
  std::optional<bool> database_stopped;     // DatabaseDown: the StatefulSet is at 0 replicas
  std::optional<int> restore_replicas;      // DatabaseDown: its replicas before (intent first)
  std::optional<bool> service_partitioned;  // NetworkPartition: our key is in the selector
  std::string partitioned_service;          // NetworkPartition: which Service (intent first)
  std::string application_name;
  std::string database_endpoint;
  std::vector<Condition> conditions;
  bool operator==(const ChaosStatus&) const = default;
};
ChaosStatus ParseChaosStatus(const Json& object);  // from the whole object
Json ToJson(const ChaosStatus& status);

/// The application_name every leak session of the experiment carries: at most 63 bytes
/// (PostgreSQL's NAMEDATALEN - 1); long names are shortened with a hash so they stay unique.
std::string ApplicationName(std::string_view ns, std::string_view name);

}  // namespace poolguard::controller
