#pragma once

// When a ChaosExperiment's status change is worth telling a person about.

#include <optional>
#include <string>

#include "chaos/types.h"
#include "core/notification.h"

namespace poolguard::controller {

/// A notification when `after` enters Rejected or Failed; nullopt otherwise.
std::optional<Notification> ChaosNotification(const std::string& ns, const std::string& name,
                                              const std::string& target, Phase before,
                                              const ChaosStatus& after, WallTime now);

}  // namespace poolguard::controller
