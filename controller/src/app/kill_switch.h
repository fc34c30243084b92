#pragma once

// The cluster-wide chaos kill switch: the annotation poolguard.dev/chaos-kill-switch on one
// Namespace (the controller's own by default). While it is present, every running
// ChaosExperiment is rolled back (Aborted, reason KillSwitch) and new ones are Rejected.
// Read by polling that one Namespace (one small GET every interval; the controller may
// already get namespaces), so it needs no new right and no watch.

#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "app/manager.h"
#include "poolguard/kube/client.h"

namespace poolguard::controller {

inline constexpr char kKillSwitchAnnotation[] = "poolguard.dev/chaos-kill-switch";

/// Reads the switch: the annotation's value (present, even empty: on), nullopt when absent;
/// throws on a read error.
using KillSwitchReader = std::function<std::optional<std::string>()>;

/// Polls the switch on a thread of its own; `on_change` runs (on that thread) whenever it
/// is turned on or off, so that every experiment is looked at again at once.
class KillSwitch final : public Runnable {
 public:
  KillSwitch(std::string where, KillSwitchReader read, std::chrono::milliseconds interval,
             std::function<void()> on_change);
  ~KillSwitch() override { Stop(); }

  /// "" while off; else what to tell people: where it is set and its value.
  std::string Engaged() const;

  std::string Name() const override { return "chaos kill switch"; }
  bool NeedsLeaderElection() const override { return false; }
  void Start() override;
  void Stop() override;
  /// One read now (Start does the first before it returns).
  void Poll();

 private:
  std::string where_;
  KillSwitchReader read_;
  std::chrono::milliseconds interval_;
  std::function<void()> on_change_;
  mutable std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;
  bool on_ = false;
  std::string value_;
  std::string last_error_;
  std::thread thread_;
};

/// The reader for the annotation on Namespace `ns` (a missing Namespace reads as off).
KillSwitchReader NamespaceAnnotationReader(std::shared_ptr<kube::Client> client, std::string ns);

}  // namespace poolguard::controller
