// A leader-election candidate for the lease contention test: campaigns for a Lease and
// prints "leading <id>" / "stopped <id>" lines. SIGTERM stops it cleanly (releasing the
// lease); the test uses SIGKILL to simulate a crash.
//
// Usage: kube_lease_candidate KUBECONFIG NAMESPACE LEASE IDENTITY LEASE_MS RENEW_MS RETRY_MS

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "poolguard/kube/config.h"
#include "poolguard/kube/leader_election.h"

int main(int argc, char** argv) {
  if (argc != 8) {
    std::fprintf(stderr,
                 "usage: %s KUBECONFIG NAMESPACE LEASE IDENTITY LEASE_MS RENEW_MS RETRY_MS\n",
                 argv[0]);
    return 2;
  }
  // Block SIGTERM/SIGINT in every thread; the main thread waits for them with sigwait.
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  pthread_sigmask(SIG_BLOCK, &set, nullptr);

  using namespace poolguard::kube;
  try {
    auto client = Client::Create(LoadKubeconfigFile(argv[1]));
    LeaderElectionConfig c;
    c.lease_namespace = argv[2];
    c.lease_name = argv[3];
    c.identity = argv[4];
    c.lease_duration = std::chrono::milliseconds(std::atol(argv[5]));
    c.renew_deadline = std::chrono::milliseconds(std::atol(argv[6]));
    c.retry_period = std::chrono::milliseconds(std::atol(argv[7]));
    std::string id = c.identity;
    c.on_started_leading = [id] {
      std::printf("leading %s\n", id.c_str());
      std::fflush(stdout);
    };
    c.on_stopped_leading = [id] {
      std::printf("stopped %s\n", id.c_str());
      std::fflush(stdout);
    };
    LeaderElector elector(client, c);
    elector.Run();
    std::printf("started %s\n", id.c_str());
    std::fflush(stdout);
    int sig = 0;
    sigwait(&set, &sig);
    elector.Stop();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "lease candidate: %s\n", e.what());
    return 1;
  }
  return 0;
}
