#include "remediation/notify.h"

#include "remediation/spec.h"

namespace poolguard::controller {

std::optional<Notification> RemediationNotification(const std::string& ns, const std::string& name,
                                                    const std::string& target,
                                                    const RemediationStatus& before,
                                                    const RemediationStatus& after, WallTime now) {
  const char* event = nullptr;
  switch (after.phase) {
    case RemediationPhase::kAwaitingApproval:
      event = "AwaitingApproval";
      break;
    case RemediationPhase::kExhausted:
      event = "NeedsHuman";
      break;
    case RemediationPhase::kResolved:
      event = "Resolved";
      break;
    default:
      return std::nullopt;
  }
  if (!after.incident) return std::nullopt;
  const std::string& id = after.incident->id;
  const bool same_incident = before.incident && before.incident->id == id;
  if (before.phase == after.phase && same_incident) return std::nullopt;

  Notification n;
  n.kind = "Remediation";
  n.event = event;
  n.ns = ns;
  n.name = name;
  n.incident = id;
  n.target = target;
  n.message = after.message;
  const Incident& in = *after.incident;
  if (in.diagnosis) n.conclusion = std::string(ConclusionName(in.diagnosis->conclusion));
  if (after.phase == RemediationPhase::kAwaitingApproval) {
    // The message begins with the action that waits ("RestartDatabase needs approval: ...").
    const std::string first = after.message.substr(0, after.message.find(' '));
    if (ParseAction(first)) n.pending_action = first;
  }
  n.detection_seconds = in.detection_seconds;
  n.recovery_seconds = in.recovery_seconds;
  n.at = now;
  n.started = in.detected_at.value_or(now);
  n.resolved = after.phase == RemediationPhase::kResolved;
  return n;
}

}  // namespace poolguard::controller
