#pragma once

// A read-only cache of one built-in kind in the namespaces the controller serves (an
// informer's store): what per-tick reads use instead of a GET or LIST to the API server.

#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace poolguard::controller {

class ObjectCache {
 public:
  virtual ~ObjectCache() = default;
  /// The first full list has arrived: until then, callers read from the API server.
  virtual bool Synced() const = 0;
  /// "ns/name"; nullopt: not in the cache (absent, once Synced).
  virtual std::optional<Json> Get(const std::string& key) = 0;
  /// The objects an index (registered when the cache was built) maps `value` to.
  virtual std::vector<Json> ByIndex(const std::string& index, const std::string& value) = 0;
};

/// The caches per-tick reads may use; any may be null (then the API server is asked).
struct ReadCaches {
  ObjectCache* services = nullptr;
  ObjectCache* endpoint_slices = nullptr;  // index kServiceIndex: "<ns>/<service name>"
  ObjectCache* deployments = nullptr;
  ObjectCache* statefulsets = nullptr;
};

/// EndpointSlices' index by the Service they belong to.
inline constexpr char kServiceIndex[] = "service";

}  // namespace poolguard::controller
