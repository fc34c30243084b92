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
/// round-robin order, and bytes are copied both ways by a thread of its own.
class ServiceProxy {
 public:
  struct Backend {
    std::string ip;
    int port = 0;
    bool operator==(const Backend&) const = default;
  };
  using ListenAddress = std::pair<std::string, int>;
  using Table = std::map<ListenAddress, std::vector<Backend>>;

  ServiceProxy();
  ~ServiceProxy();
  ServiceProxy(const ServiceProxy&) = delete;
  ServiceProxy& operator=(const ServiceProxy&) = delete;

  /// Opens listeners for new addresses, closes those no longer present, and swaps the
  /// backends. Addresses that cannot be bound are logged and retried on the next call.
  void Update(const Table& table);
  void Stop();

 private:
  struct Listener;
  struct Shared;
  std::shared_ptr<Shared> shared_;
  std::map<ListenAddress, std::shared_ptr<Listener>> listeners_;
};

}  // namespace poolguard::localnode
