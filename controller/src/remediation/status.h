#pragma once

// The Remediation resource's status: the incident timeline a person reads and the state a
// restarted controller resumes from, with its JSON codec.

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/condition.h"
#include "core/json.h"
#include "remediation/spec.h"

namespace poolguard::controller {

/// Incidents kept in status.history (the CRD allows 20).
inline constexpr size_t kMaxHistory = 10;

/// A probe's or check's result. Error and Inconclusive are not evidence either way: a
/// probe that could not run says nothing about whether the target is healthy.
enum class Outcome { kPass, kFail, kError, kInconclusive };
std::string_view OutcomeName(Outcome outcome);
Outcome ParseOutcome(std::string_view name);  // unknown: Inconclusive
inline bool IsEvidence(Outcome o) { return o == Outcome::kPass || o == Outcome::kFail; }

enum class Health { kUnknown, kHealthy, kDegraded };
std::string_view HealthName(Health health);
Health ParseHealth(std::string_view name);

/// What detection remembers between ticks (see Detect in remediation/signals.h). Kept in
/// status so that a restarted controller does not restart the `for` window.
struct DetectionState {
  Health health = Health::kUnknown;
  std::optional<WallTime> failing_since;  // first failing tick of the current bad run
  std::optional<WallTime> passing_since;  // first passing tick of the current good run
  std::vector<std::string> failing;       // names of the signals failing at the last tick
  std::string reason;                     // why the health is what it is, for people
  bool operator==(const DetectionState&) const = default;
};

enum class Conclusion {
  kUnknown,
  kConnectionPoolExhausted,
  kLockContention,
  kServerSlotsExhausted,
  kDatabaseDown,
  kCredentialsRejected,
  kNetworkUnreachable,
};
std::string_view ConclusionName(Conclusion conclusion);
Conclusion ParseConclusion(std::string_view name);

enum class Confidence { kLow, kMedium, kHigh };
std::string_view ConfidenceName(Confidence confidence);
Confidence ParseConfidence(std::string_view name);

struct CheckResult {
  std::string name;
  Outcome result = Outcome::kInconclusive;
  std::string evidence;
  bool operator==(const CheckResult&) const = default;
};

struct Diagnosis {
  std::vector<CheckResult> checks;
  Conclusion conclusion = Conclusion::kUnknown;
  Confidence confidence = Confidence::kLow;
  std::string summary;             // why this conclusion at this confidence
  std::vector<int> blocking_pids;  // root lock holders that are not the target's own sessions
  bool operator==(const Diagnosis&) const = default;
};

enum class ActionResult {
  kInProgress,          // intent recorded; the effect is being applied or waited for
  kVerifying,           // the effect finished; verification is running
  kVerified,            // healed
  kVerificationFailed,  // the effect finished but the target did not recover
  kFailed,              // the effect itself failed or timed out
  kPlanned,             // dry run: what would have been done
};
std::string_view ActionResultName(ActionResult result);
ActionResult ParseActionResult(std::string_view name);

/// One rung of an incident. Written with `started_at` and kInProgress before the effect
/// runs, so a controller that dies mid-action finds it and continues it instead of
/// starting it again.
struct ActionRecord {
  RemediationAction action = RemediationAction::kRestartDeployment;
  int rung = 0;  // 1-based position among the incident's executed actions
  std::optional<WallTime> started_at, applied_at, finished_at;
  ActionResult result = ActionResult::kInProgress;
  std::string key;  // idempotency key: the restartedAt value the restart patches in
  std::string detail;
  std::string verification;
  std::string approved_by;   // who approved it, when it needed approval
  std::string requested_by;  // who asked for it, when a person did (a manual action)
  std::optional<int> from_pool_size, to_pool_size;  // IncreasePoolSize
  std::vector<int> pids;                            // TerminateBlockingSessions
  int healthy_streak = 0;                           // verification: checks passed in a row
  int failed_streak = 0;                            // verification: checks failed in a row
  bool operator==(const ActionRecord&) const = default;
};

/// A pool size raised during an incident, to be put back once the cause is gone.
struct PoolSizeRevert {
  std::string env;
  int from = 0;  // the value before IncreasePoolSize: what the revert restores
  int to = 0;
  std::optional<WallTime> started_at, finished_at;
  std::string result;  // Reverted | Failed, once finished
  bool operator==(const PoolSizeRevert&) const = default;
};

/// Pre-incident levels that verification compares against.
struct Baseline {
  std::optional<double> error_ratio;
  std::optional<double> p99_latency_seconds;
  std::optional<double> request_rate;  // requests per second
  bool operator==(const Baseline&) const = default;
};

/// What the signals said when the incident was detected (DESIGN.md §2 `signals`).
struct IncidentSignals {
  std::string health;  // "degraded: 2/2 pods failing /health"
  std::optional<double> error_ratio;
  std::optional<double> p99_latency_seconds;
  std::optional<double> pool_timeouts;
  bool pool_saturated = false;
  std::string log_sample;
  std::vector<std::string> failing;
  bool operator==(const IncidentSignals&) const = default;
};

struct Incident {
  std::string id;                        // what the approve annotation names
  std::optional<WallTime> first_bad_at;  // first failing signal
  std::optional<WallTime> detected_at, diagnosed_at, resolved_at, closed_at;
  std::optional<double> detection_seconds, recovery_seconds;
  std::string chaos_experiment;  // "ns/name" of the active experiment on the target
  std::string chaos_report;      // its report (a game day's), from its poolguard.dev/report
  IncidentSignals signals;
  Baseline baseline;
  std::optional<Diagnosis> diagnosis;
  std::vector<ActionRecord> actions;
  std::optional<PoolSizeRevert> pool_revert;
  std::string outcome;  // Resolved | RecoveredWithoutAction | Exhausted reason, once closed
  std::string verdict;  // "detected in 2.0 s, healed at rung 2 (RestartDatabase) in 8.4 s"
  bool operator==(const Incident&) const = default;
};

enum class RemediationPhase {
  kNone,  // no status yet
  kWatching,
  kDetected,
  kDiagnosing,
  kRemediating,
  kVerifying,
  kResolved,
  kExhausted,
  kAwaitingApproval,
  kInvalid,  // the spec failed validation: nothing is done until it is fixed
};
std::string_view RemediationPhaseName(RemediationPhase phase);
RemediationPhase ParseRemediationPhase(std::string_view name);

/// What the last read of pg_stat_activity found of the target's sessions, so a user can
/// see a bad match (status.sessions).
struct SessionsStatus {
  std::string matched_by;  // SessionFilter::Describe(): `role "app" or a client address of 2 pods`
  int target = 0;          // client sessions matched as the target's
  int others = 0;          // the other client sessions (the controller's own left out)
  std::optional<WallTime> observed_at;  // when these counts were read
  bool operator==(const SessionsStatus&) const = default;
};
/// How often status.sessions follows the counts alone: a busy shared server changes them
/// every tick, and each change would be a status write.
inline constexpr std::chrono::seconds kSessionsStatusRefresh{60};

/// The last manual action a person asked for (the request-action annotation), and what
/// became of it: recorded once, so a request is acted on at most once.
struct ManualRequest {
  std::string id;      // the request's id (its annotation names it)
  std::string action;  // RestartDeployment, ...
  std::string by;      // who asked
  std::string state;   // Accepted | Refused
  std::string message;
  std::optional<WallTime> at;
  bool operator==(const ManualRequest&) const = default;
};

struct RemediationStatus {
  RemediationPhase phase = RemediationPhase::kNone;
  int64_t observed_generation = 0;
  std::string message;
  DetectionState detection;
  std::optional<SessionsStatus> sessions;
  std::optional<Incident> incident;
  std::vector<Incident> history;  // newest first, at most kMaxHistory
  std::optional<ManualRequest> manual_request;
  std::vector<Condition> conditions;
  bool operator==(const RemediationStatus&) const = default;
};
RemediationStatus ParseRemediationStatus(const Json& object);  // from the whole object
Json ToJson(const RemediationStatus& status);
Json ToJson(const Incident& incident);
Incident ParseIncident(const Json& json);

/// The most status keeps of one free text (messages, evidence, details) and of a log line,
/// and of one list (pids, failing signals): whatever the target, the database or the API
/// server said, the object stays far below etcd's size limit.
inline constexpr size_t kMaxStatusText = 1024;
inline constexpr size_t kMaxLogSample = 512;
inline constexpr size_t kMaxStatusList = 64;
/// Cuts every free text and list of `status` to those bounds (Next and the other steps
/// return bounded statuses, so that what is written reads back the same).
void BoundTexts(RemediationStatus* status);

/// The incident id for one detected at `t`: "20270115T080000Z", short enough to type
/// into the approve annotation.
std::string IncidentId(WallTime t);

/// Condition types and reasons, one place.
namespace rem {
inline constexpr char kHealthy[] = "Healthy";
inline constexpr char kNeedsHuman[] = "NeedsHuman";
inline constexpr char kSpecValid[] = "SpecValid";
inline constexpr char kDryRun[] = "DryRun";

inline constexpr char kInvalidSpec[] = "InvalidSpec";
inline constexpr char kTargetClaimed[] = "TargetClaimed";
inline constexpr char kSpecAccepted[] = "SpecAccepted";
inline constexpr char kSignalsHealthy[] = "SignalsHealthy";
inline constexpr char kDegraded[] = "Degraded";
inline constexpr char kNoSignals[] = "NoSignals";
inline constexpr char kDiagnosed[] = "Diagnosed";
inline constexpr char kActionStarted[] = "ActionStarted";
inline constexpr char kActionApplied[] = "ActionApplied";
inline constexpr char kActionFailed[] = "ActionFailed";
inline constexpr char kVerificationFailed[] = "VerificationFailed";
inline constexpr char kResolved[] = "Resolved";
inline constexpr char kRecoveredWithoutAction[] = "RecoveredWithoutAction";
inline constexpr char kRecovered[] = "Recovered";  // healthy again after a failed rung
inline constexpr char kSuperseded[] = "Superseded";
inline constexpr char kRungsExhausted[] = "RungsExhausted";
inline constexpr char kNoApplicableAction[] = "NoApplicableAction";
inline constexpr char kRejected[] = "Rejected";  // a person refused the pending action
inline constexpr char kManualActionAccepted[] = "ManualActionAccepted";
inline constexpr char kManualActionRefused[] = "ManualActionRefused";
inline constexpr char kActionBudgetSpent[] = "ActionBudgetSpent";
inline constexpr char kRemediationLoop[] = "RemediationLoop";
inline constexpr char kCooldown[] = "Cooldown";
inline constexpr char kApprovalRequired[] = "ApprovalRequired";
inline constexpr char kApproved[] = "Approved";
inline constexpr char kPlanOnly[] = "PlanOnly";
inline constexpr char kPoolSizeRevert[] = "PoolSizeRevert";
inline constexpr char kPoolSizeReverted[] = "PoolSizeReverted";
inline constexpr char kPoolSizeRevertFailed[] = "PoolSizeRevertFailed";
inline constexpr char kNoIncident[] = "NoIncident";
}  // namespace rem

}  // namespace poolguard::controller
