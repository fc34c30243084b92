// poolguard-localnode: the local cluster's node agent. See docs/localnode.md.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <map>
#include <string>
#include <thread>

#include "agent.h"
#include "poolguard/common/logging.h"
#include "poolguard/kube/log.h"

namespace {

const char* kUsage = R"(poolguard-localnode: runs the local cluster's pods as local processes.

  --kubeconfig=PATH            credentials (required)
  --node-name=NAME             [localnode]
  --state-dir=DIR              pod dirs, logs, data, recorded PIDs (required)
  --images=FILE                image table [<source>/localnode/images.yaml]
  --source-dir=DIR             ${REPO} in the image table [the source tree it was built from]
  --build-dir=DIR              ${BUILD} in the image table [the build tree of this binary]
  --pod-network=A.B.C          pods get A.B.C.2-253, the host side A.B.C.1 [10.244.0]
  --service-network=A.B.C      Service 10.0.0.k is proxied on A.B.C.k [10.245.0]
  --netns=NAME                 the pod network's namespace and host veth (made afresh at
                               start, removed at stop) [poolguard-C]
  --kubelet-port=N             [10250]
  --tls-cert-file, --tls-private-key-file, --client-ca-file   kubelet port TLS (no server if unset)
  --restart-backoff-seconds=N  [10]
  --no-mount-namespaces        run containers in the host mount namespace (no volumes, no hosts file)
  --podsource-library=PATH     preloaded into containers so their connections leave from the
                               pod IP; empty: none [libpoolguard-podsource.so beside the agent]
  --log-level=LEVEL            [info]
)";

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  using poolguard::localnode::AgentOptions;
  AgentOptions o;
  fs::path exe = fs::canonical("/proc/self/exe");
  o.build_dir = exe.parent_path().parent_path().string();
  o.source_dir = POOLGUARD_SOURCE_DIR;
  // Built beside the agent (localnode/CMakeLists.txt).
  if (fs::path lib = exe.parent_path() / "libpoolguard-podsource.so"; fs::exists(lib))
    o.podsource_library = lib.string();
  std::string level = "info";
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto eq = a.find('=');
    std::string k = a.substr(0, eq), v = eq == std::string::npos ? "" : a.substr(eq + 1);
    try {
      if (k == "--kubeconfig")
        o.kubeconfig = v;
      else if (k == "--node-name")
        o.node_name = v;
      else if (k == "--state-dir")
        o.state_dir = v;
      else if (k == "--images")
        o.images_file = v;
      else if (k == "--source-dir")
        o.source_dir = v;
      else if (k == "--build-dir")
        o.build_dir = v;
      else if (k == "--pod-network")
        o.pod_network = v;
      else if (k == "--service-network")
        o.service_network = v;
      else if (k == "--netns")
        o.netns = v;
      else if (k == "--kubelet-port")
        o.kubelet_port = std::stoi(v);
      else if (k == "--tls-cert-file")
        o.tls_cert_file = v;
      else if (k == "--tls-private-key-file")
        o.tls_key_file = v;
      else if (k == "--client-ca-file")
        o.client_ca_file = v;
      else if (k == "--restart-backoff-seconds")
        o.backoff_base_seconds = std::stoi(v);
      else if (k == "--no-mount-namespaces")
        o.mount_namespaces = false;
      else if (k == "--podsource-library")
        o.podsource_library = v;
      else if (k == "--log-level")
        level = v;
      else if (k == "--help" || k == "-h") {
        std::cout << kUsage;
        return 0;
      } else {
        std::cerr << "unknown option " << a << "\n" << kUsage;
        return 2;
      }
    } catch (const std::exception&) {
      std::cerr << "bad value for " << k << ": '" << v << "'\n";
      return 2;
    }
  }
  if (o.kubeconfig.empty() || o.state_dir.empty()) {
    std::cerr << "--kubeconfig and --state-dir are required\n" << kUsage;
    return 2;
  }
  if (o.images_file.empty()) o.images_file = o.source_dir + "/localnode/images.yaml";
  auto lvl = poolguard::logging::ParseLevel(level);
  poolguard::logging::Setup("localnode", lvl.value_or(spdlog::level::info),
                            poolguard::logging::Format::kText);
  poolguard::kube::SetLogSink([](poolguard::kube::LogLevel l, const std::string& m) {
    if (l == poolguard::kube::LogLevel::kError)
      spdlog::error("kube: {}", m);
    else if (l == poolguard::kube::LogLevel::kWarning)
      spdlog::warn("kube: {}", m);
    else
      spdlog::debug("kube: {}", m);
  });

  // Signals are taken by a thread of their own; every other thread (and, reset in the
  // child, no container) sees them blocked.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
  signal(SIGPIPE, SIG_IGN);
  static std::atomic<bool> stop{false};
  std::thread([set] {
    int sig = 0;
    sigwait(&set, &sig);
    spdlog::info("signal {}: shutting down", sig);
    stop = true;
  }).detach();

  try {
    poolguard::localnode::Agent agent(o);
    agent.Run(stop);
  } catch (const std::exception& e) {
    spdlog::critical("{}", e.what());
    return 1;
  }
  return 0;
}
