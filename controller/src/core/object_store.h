#pragma once

// The port through which a reconciler reads and writes its own kind.

#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace poolguard::controller {

/// Reads and writes the objects of one custom resource (ChaosExperiment, Remediation): reads from
/// the informer cache, writes (always compare-and-swap on resourceVersion) to the API server.
/// Thread-safe.
/// Index functions the stores of both kinds are built with.
std::vector<std::string> RemediationTargetIndex(const kube::Json& object);  // "ns/deployment"
std::vector<std::string> ScheduleRunIndex(const kube::Json& object);        // "ns/schedule"
inline constexpr char kTargetIndex[] = "target";
inline constexpr char kScheduleIndex[] = "schedule";
/// An informer's objects by status.phase (the phase gauges; IndexCounts only).
inline constexpr char kPhaseIndex[] = "phase";

class ObjectStore {
 public:
  virtual ~ObjectStore() = default;
  virtual std::optional<kube::Json> Get(const std::string& key) = 0;
  virtual std::vector<kube::Json> List() = 0;
  /// The objects an index maps `value` to (the informer's indexers; see app.cc). The
  /// default filters List() with `index_of`, for stores without indexes (test fakes).
  virtual std::vector<kube::Json> ByIndex(const std::string& index, const std::string& value);
  /// PUT of the object (metadata changes such as finalizers); returns the server's copy.
  virtual kube::Json Update(const kube::Json& object) = 0;
  virtual kube::Json UpdateStatus(const kube::Json& object) = 0;
};

}  // namespace poolguard::controller
