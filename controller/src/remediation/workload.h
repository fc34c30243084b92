#pragma once

// Reading a Deployment's or StatefulSet's object: its rollout, and the pool size its pod
// template sets. Pure.

#include <optional>
#include <string>

#include "core/json.h"
#include "remediation/observations.h"

namespace poolguard::controller {

/// The rollout fields of a Deployment or StatefulSet object.
RolloutObservation ReadRollout(const Json& workload);
/// The integer value of env `env` in `container` (empty: the first) of a pod template
/// holder (Deployment); nullopt when absent or not a number.
std::optional<int> ReadEnvInt(const Json& workload, const std::string& container,
                              const std::string& env);

}  // namespace poolguard::controller
