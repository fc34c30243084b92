#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>

#include "poolguard/kube/client.h"

namespace poolguard::kube {

struct LeaderElectionConfig {
  std::string lease_namespace;
  std::string lease_name;
  std::string identity;  // unique per candidate, e.g. pod name + random suffix
  /// How long a lease is honoured by the others after its last renewal.
  std::chrono::milliseconds lease_duration{15000};
  /// How long the leader keeps trying to renew before it gives up leading.
  std::chrono::milliseconds renew_deadline{10000};
  /// How often candidates try to acquire and the leader renews.
  std::chrono::milliseconds retry_period{2000};
  /// On Stop(), give the lease up (holder cleared) so another takes over at once.
  bool release_on_cancel = true;
  std::function<void()> on_started_leading;  // called on the elector's thread
  std::function<void()> on_stopped_leading;  // called when leadership is lost or released
  std::function<void(const std::string& identity)> on_new_leader;  // optional
};

/// Leader election on a coordination.k8s.io/v1 Lease, like client-go's: a candidate takes
/// the lease when it is free or when its holder has not renewed it for lease_duration (as
/// measured on the candidate's own clock from when it last saw the record change), and the
/// leader renews it every retry_period; writes are compare-and-swap on resourceVersion, so
/// at most one candidate wins. Run() starts its own thread; thread-safe.
class LeaderElector {
 public:
  LeaderElector(std::shared_ptr<Client> client, LeaderElectionConfig config);
  ~LeaderElector();  // Stop()
  LeaderElector(const LeaderElector&) = delete;
  LeaderElector& operator=(const LeaderElector&) = delete;

  void Run();
  /// Stops campaigning; if leading, calls on_stopped_leading and releases the lease
  /// (release_on_cancel). Blocks until the thread has exited.
  void Stop();
  bool IsLeader() const;
  /// Holder identity last observed.
  std::string CurrentLeader() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace poolguard::kube
