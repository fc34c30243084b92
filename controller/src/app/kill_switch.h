#pragma once

// The cluster-wide chaos kill switch: the annotation poolguard.dev/chaos-kill-switch on one
// Namespace (the controller's own by default). While it is present, every running
// ChaosExperiment is rolled back (Aborted, reason KillSwitch) and new ones are Rejected.
// Read by a watch of that one Namespace (list/watch with resourceNames: that Namespace
// only), so a change is seen at once; until the watch has synced — or if it never does, as
// with an older ClusterRole without that right — by polling it (one GET every interval).

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "app/manager.h"
#include "app/periodic.h"
#include "poolguard/kube/client.h"

namespace poolguard::controller {

inline constexpr char kKillSwitchAnnotation[] = "poolguard.dev/chaos-kill-switch";

/// Reads the switch: the annotation's value (present, even empty: on), nullopt when absent;
/// throws on a read error.
using KillSwitchReader = std::function<std::optional<std::string>()>;

/// Polls the switch on a thread of its own, or takes it from a watch; `on_change` runs
/// whenever it is turned on or off (or its value changes), so that every experiment is
/// looked at again at once.
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
  /// The annotation as a watch of the Namespace saw it (nullopt: absent, or the Namespace
  /// gone). A poll that read before it cannot undo it.
  void Observed(const std::optional<std::string>& value);
  /// While `synced` says so, the watch keeps the switch and the poll makes no request;
  /// until then (and if never) it polls every interval. Before Start.
  void SetWatch(std::function<bool()> synced) { watch_synced_ = std::move(synced); }

 private:
  void PollUnlessWatched();
  /// Applies a read; with `only_if_seq`, only if no watch event came since that sequence.
  void Apply(const std::optional<std::string>& read, std::optional<uint64_t> only_if_seq);

  std::string where_;
  KillSwitchReader read_;
  std::function<void()> on_change_;
  std::function<bool()> watch_synced_;
  mutable std::mutex mutex_;
  uint64_t watch_seq_ = 0;  // watch events applied
  bool on_ = false;
  std::string value_;
  std::string last_error_;
  Periodic poller_;  // last: stopped (by its destructor too) before the rest goes
};

/// The switch's value on a Namespace object: its annotation, nullopt when absent.
std::optional<std::string> KillSwitchValue(const kube::Json& ns_object);
/// The reader for the annotation on Namespace `ns` (a missing Namespace reads as off).
KillSwitchReader NamespaceAnnotationReader(std::shared_ptr<kube::Client> client, std::string ns);

}  // namespace poolguard::controller
