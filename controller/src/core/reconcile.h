#pragma once

// The reconcile contract both kinds follow (level-based: read the current state, decide,
// write status, run at most one effect) and what a decision hands back besides status.

#include <chrono>
#include <optional>
#include <string>

namespace poolguard::controller {

/// What Reconcile(key) asks of its Controller: nothing more (the key is forgotten until an
/// event enqueues it), or a look again after `requeue_after`. An exception instead asks for
/// a rate-limited retry of the same key.
struct ReconcileResult {
  std::optional<std::chrono::milliseconds> requeue_after;
};

/// An Event a decision wants recorded on its object.
struct EventNote {
  std::string type;  // Normal | Warning
  std::string reason;
  std::string message;
  bool operator==(const EventNote&) const = default;
};

}  // namespace poolguard::controller
