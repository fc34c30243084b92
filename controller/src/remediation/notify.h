#pragma once

// When a Remediation's status change is worth telling a person about.

#include <optional>
#include <string>

#include "core/notification.h"
#include "remediation/status.h"

namespace poolguard::controller {

/// A notification when `after` enters AwaitingApproval, Exhausted (as NeedsHuman) or
/// Resolved — a new phase, or the same phase for a new incident; nullopt otherwise.
std::optional<Notification> RemediationNotification(const std::string& ns, const std::string& name,
                                                    const std::string& target,
                                                    const RemediationStatus& before,
                                                    const RemediationStatus& after, WallTime now);

}  // namespace poolguard::controller
