#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace poolguard::localnode {

/// The userspace proxy (kube-proxy's original mode): one listening socket per
/// (service address, port); each accepted connection goes to a ready endpoint, tried in
/// round-robin order, and bytes are copied both ways by a thread of its own. With a
/// network namespace fd, listening sockets, accepted connections and backend connections
/// all live in that namespace (the pod network).
class ServiceProxy {
 public:
  struct Backend {
    std::string ip;
    int port = 0;
    bool operator==(const Backend&) const = default;
  };
  using ListenAddress = std::pair<std::string, int>;
  using Table = std::map<ListenAddress, std::vector<Backend>>;

  explicit ServiceProxy(int netns_fd = -1);
  ~ServiceProxy();
  ServiceProxy(const ServiceProxy&) = delete;
  ServiceProxy& operator=(const ServiceProxy&) = delete;

  /// Opens listeners for new addresses, closes those no longer present, and swaps the
  /// backends. Addresses that cannot be bound are logged and retried on the next call.
  void Update(const Table& table);
  void Stop();
  /// The network namespace for sockets opened from now on (-1: the agent's own).
  void SetNetns(int netns_fd) { netns_fd_ = netns_fd; }

 private:
  struct Listener;
  struct Shared;
  int netns_fd_ = -1;
  std::shared_ptr<Shared> shared_;
  std::map<ListenAddress, std::shared_ptr<Listener>> listeners_;
};

}  // namespace poolguard::localnode
