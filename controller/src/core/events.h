#pragma once

// The port through which reconcilers record Kubernetes Events on their objects.

#include <string>

#include "core/json.h"

namespace poolguard::controller {

/// Records a core/v1 Event about `object` (kube::EventRecorder in the process, aggregating
/// repeats; a recording fake in tests). Never blocks on the network. Thread-safe.
class Events {
 public:
  virtual ~Events() = default;
  /// `type` Normal or Warning; `reason` UpperCamelCase.
  virtual void Record(const Json& object, const std::string& type, const std::string& reason,
                      const std::string& message) = 0;
};

}  // namespace poolguard::controller
