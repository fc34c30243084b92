#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "poolguard/kube/client.h"

namespace poolguard::kube {

/// Where aggregated events go. The default sink writes core/v1 Events through a Client;
/// tests substitute their own. Implementations are called from one thread at a time.
class EventSink {
 public:
  virtual ~EventSink() = default;
  /// Creates `event` (a core/v1 Event); returns the created object.
  virtual Json Create(const std::string& ns, const Json& event) = 0;
  /// Updates count / lastTimestamp / message of an existing event by merge patch.
  virtual Json Patch(const std::string& ns, const std::string& name, const Json& patch) = 0;
};

std::unique_ptr<EventSink> NewClientEventSink(std::shared_ptr<Client> client);

struct EventRecorderOptions {
  std::string component = "poolguard";  // source.component / reportingController
  std::string host;                     // source.host / reportingInstance
  /// Repeats of the same (object, type, reason, message) within this window bump the
  /// existing Event's count instead of creating a new one.
  std::chrono::seconds aggregation_window{600};
  size_t cache_size = 4096;  // distinct events remembered for aggregation
};

/// Records core/v1 Events about objects, aggregating repeats (same involved object, type,
/// reason and message) into one Event whose `count` grows, as kubectl expects. Record()
/// never blocks on the network: events are queued and written by a thread of the
/// recorder's own; a failed write is logged and dropped (events are best effort).
/// Thread-safe.
class EventRecorder {
 public:
  EventRecorder(std::unique_ptr<EventSink> sink, EventRecorderOptions options = {},
                std::shared_ptr<Clock> clock = Clock::Real());
  ~EventRecorder();  // flushes what is queued, then stops

  /// `type` is "Normal" or "Warning"; `reason` UpperCamelCase; `involved` the object (its
  /// apiVersion, kind, metadata.namespace/name/uid/resourceVersion are referenced).
  void Record(const Json& involved, const std::string& type, const std::string& reason,
              const std::string& message);
  /// Blocks until everything recorded so far has been written (or dropped).
  void Flush();
  /// Events written (created + patched) so far; for tests and metrics.
  uint64_t Written() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace poolguard::kube
