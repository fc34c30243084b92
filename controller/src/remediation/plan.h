#pragma once

// The Remediation loop's next step: a pure function of (spec, status, observations, now).
// The reconciler writes `Step::status` first (when it differs from what it read), then runs
// `Step::effect`, then requeues. State that must survive a controller restart lives in
// status and is written before the action it records, so a restarted controller or a new
// leader resumes an action instead of repeating it. See docs/remediation.md.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/reconcile.h"  // EventNote
#include "remediation/diagnose.h"
#include "remediation/status.h"

namespace poolguard::controller {

enum class StepKind {
  kObserve,        // nothing to act on; keep watching (status may still change)
  kRecordIntent,   // write the new action record (InProgress) to status; no effect yet
  kApply,          // apply the in-progress action's effect; idempotent, keyed by the intent
  kWait,           // the effect is under way (a rollout); continue waiting
  kVerify,         // the effect finished; verification is running
  kAwaitApproval,  // a person must set the approve annotation to the incident id
  kStop,           // Exhausted: nothing more will be done without a person
};
std::string_view StepKindName(StepKind kind);

enum class EffectKind {
  kNone,
  kRestartDeployment,  // set the pod template's restartedAt to `key`
  kRestartDatabase,    // the same on the database's StatefulSet
  kSetPoolSize,        // set env `env` of `container` (empty: first) to `pool_size`
  kTerminateSessions,  // pg_terminate_backend(pid) for each of `pids`
};
std::string_view EffectKindName(EffectKind kind);

struct Effect {
  EffectKind kind = EffectKind::kNone;
  std::string key;
  std::optional<int> pool_size;
  std::string env, container;
  std::vector<int> pids;
  bool operator==(const Effect&) const = default;
};

struct Step {
  StepKind kind = StepKind::kObserve;
  RemediationStatus status;  // written before the effect runs
  Effect effect;
  std::optional<std::chrono::milliseconds> requeue_after;
  std::vector<EventNote> events;
};

/// The next step of the loop (phases: Watching → Detected → Diagnosing → Remediating →
/// Verifying → Resolved, with AwaitingApproval and Exhausted on the side, and Invalid
/// while the spec does not validate). Level-based: the same inputs give the same step,
/// and a step whose status equals the current one changes nothing. A status in phase
/// Invalid (the spec has just been fixed) continues from PhaseOnceValid.
Step Next(const RemediationSpec& spec, const RemediationStatus& status,
          const Observations& observations, WallTime now);

/// The step for an object whose spec does not validate: phase Invalid, the message and
/// condition SpecValid=False naming the field, and nothing else: no effect, no requeue
/// (the spec change that fixes it enqueues the object). The incident, its action records
/// and the detection state are kept as they are.
Step InvalidSpec(const RemediationStatus& status, const std::string& error, int64_t generation,
                 WallTime now);

/// The step for a Remediation whose target another one owns: phase Invalid, condition
/// SpecValid=False with reason TargetClaimed naming the owner, one Warning event per
/// owner, no effect. An open incident is closed (outcome Superseded, into history): the
/// owner handles the target now, and nothing of it may be resumed later. Requeued, so it
/// takes over once the owner is deleted or retargeted.
Step TargetClaimed(const RemediationStatus& status, const std::string& owner,
                   const std::string& deployment, int64_t generation, WallTime now);

/// Where the loop continues once the spec is valid again: Watching, unless the incident
/// is still open, in which case the phase its records say (an action InProgress:
/// Remediating, so it is resumed with its key, never started again; Verifying; an
/// Exhausted outcome: Exhausted; diagnosed: Diagnosing; else Detected). Any phase other
/// than Invalid is returned as it is.
RemediationPhase PhaseOnceValid(const RemediationStatus& status);

/// Where an in-flight action stands.
enum class Progress { kUnknown, kNotApplied, kRunning, kDone, kFailed };
struct ActionProgress {
  Progress state = Progress::kUnknown;
  std::string detail;
};
/// A rollout's progress once its pod template carries the change (`applied`): the
/// controller has seen the generation, every replica is updated and available, and no old
/// replica remains. Without `applied` the change has not been made yet.
ActionProgress RolloutProgress(const std::optional<RolloutObservation>& rollout, bool applied);

/// "detected in 2.0 s, healed at rung 2 (RestartDatabase) in 8.4 s"; empty until the
/// incident has an outcome.
std::string Verdict(const Incident& incident);

/// Actions started (not merely planned) within the hour before `now`, over the current
/// incident and the history.
int ActionsInLastHour(const RemediationStatus& status, WallTime now);

}  // namespace poolguard::controller
