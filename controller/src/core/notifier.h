#pragma once

// The port through which reconcilers tell people: webhooks in the process, a recording
// fake in tests.

#include <optional>

#include "core/notification.h"

namespace poolguard::controller {

class Notifier {
 public:
  virtual ~Notifier() = default;
  /// Queues `n` for the cluster-wide webhooks and `extra` (the object's own, if any). Never
  /// blocks on the network and never throws: reconciling goes on whatever the receivers do.
  virtual void Notify(const Notification& n, const std::optional<WebhookTarget>& extra) = 0;
};

}  // namespace poolguard::controller
