#pragma once

#include <functional>
#include <string>
#include <vector>

namespace poolguard::localnode {

/// The pod network: a network namespace of its own (`ip netns`), joined to the host by a
/// veth pair. The host side (named like the namespace) has the gateway address
/// `<pod network>.1/24` and a route to the Service proxy network; the namespace side is
/// `eth0`, which carries each pod address and each Service proxy address as a /32, with
/// a default route via the gateway. So pod and proxy addresses exist only inside the
/// namespace; the host (and the API server) reach them through the veth, and pods reach
/// the host at the gateway address. Needs root.
class PodNetwork {
 public:
  struct Config {
    std::string netns;            // e.g. poolguard-3; also the host-side veth name
    std::string pod_network;      // A.B.C: gateway A.B.C.1, pods .2-253
    std::string service_network;  // A.B.C: Service proxy addresses
  };

  /// The default namespace name for a pod network A.B.C: "poolguard-C".
  static std::string DefaultName(const std::string& pod_network);

  explicit PodNetwork(Config config);
  ~PodNetwork();
  PodNetwork(const PodNetwork&) = delete;
  PodNetwork& operator=(const PodNetwork&) = delete;

  /// Removes whatever an earlier run left (TearDown) and creates the namespace afresh.
  /// Throws std::runtime_error naming the failing `ip` command.
  void SetUp();
  /// Kills every process still in the namespace, deletes the veth pair and the namespace.
  /// Safe to call when nothing exists.
  static void TearDown(const Config& config);
  void TearDown();

  void AddAddress(const std::string& ip);
  void DelAddress(const std::string& ip);

  /// An fd of the namespace (valid after SetUp) for setns(fd, CLONE_NEWNET).
  int fd() const { return fd_; }
  std::string gateway() const { return config_.pod_network + ".1"; }
  /// An address the namespace always holds (never given to a pod), so its routes survive
  /// the last pod's address going away.
  std::string anchor() const { return config_.pod_network + ".254"; }
  const Config& config() const { return config_; }

 private:
  Config config_;
  int fd_ = -1;
};

/// Runs `fn` on a thread of its own that has joined the network namespace `netns_fd`
/// (-1: the current one) and waits for it: sockets it creates belong to that namespace.
/// Returns false (errno set) when setns fails.
bool RunInNetns(int netns_fd, const std::function<void()>& fn);

/// Runs a command, returns its exit code (-1 if it did not exit) and its combined output.
int RunCommand(const std::vector<std::string>& argv, std::string* output = nullptr);

}  // namespace poolguard::localnode
