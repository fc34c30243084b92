#pragma once

#include <string>

#include "poolguard/kube/log.h"

namespace poolguard::kube::internal {

void Log(LogLevel level, const std::string& message);

}  // namespace poolguard::kube::internal
