#include "chaos/notify.h"

namespace poolguard::controller {

std::optional<Notification> ChaosNotification(const std::string& ns, const std::string& name,
                                              const std::string& target, Phase before,
                                              const ChaosStatus& after, WallTime now) {
  if (after.phase == before) return std::nullopt;
  if (after.phase != Phase::kRejected && after.phase != Phase::kFailed) return std::nullopt;
  Notification n;
  n.kind = "ChaosExperiment";
  n.event = std::string(PhaseName(after.phase));
  n.ns = ns;
  n.name = name;
  n.target = target;
  n.message = after.reason.empty() ? after.message : after.reason + ": " + after.message;
  n.at = now;
  n.started = after.started_at.value_or(now);
  return n;
}

}  // namespace poolguard::controller
