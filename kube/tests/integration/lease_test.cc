// Leader election on a real Lease: contention between two processes, failover after
// SIGKILL within the lease duration, and hand-over on clean release.

#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "cluster_fixture.h"
#include "poolguard/kube/leader_election.h"

extern char** environ;

namespace poolguard::kube::testing {
namespace {

using namespace std::chrono_literals;

const GroupVersionResource kLeases{"coordination.k8s.io", "v1", "leases", true};

std::string ReadAll(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

class LeaseTest : public ClusterTest {
 protected:
  std::string Holder(const std::string& lease) {
    try {
      Json l = client_->Resource(kLeases, ns_).Get(lease);
      if (!l.has_field("spec") || !l.at("spec").has_field("holderIdentity")) return "";
      return l.at("spec").at("holderIdentity").as_string();
    } catch (const ApiError& e) {
      if (IsNotFound(e)) return "";
      throw;
    }
  }

  // Starts a candidate process whose stdout goes to `out`.
  pid_t Spawn(const std::string& lease, const std::string& id, const std::string& out,
              std::chrono::milliseconds duration, std::chrono::milliseconds renew,
              std::chrono::milliseconds retry) {
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    std::vector<std::string> args = {POOLGUARD_LEASE_CANDIDATE,
                                     KubeconfigPath(),
                                     ns_,
                                     lease,
                                     id,
                                     std::to_string(duration.count()),
                                     std::to_string(renew.count()),
                                     std::to_string(retry.count())};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, argv[0], &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    EXPECT_EQ(rc, 0) << "cannot start " << argv[0];
    children_.push_back(pid);
    return pid;
  }

  void TearDown() override {
    for (pid_t p : children_) {
      kill(p, SIGKILL);
      waitpid(p, nullptr, 0);
    }
    ClusterTest::TearDown();
  }

  std::vector<pid_t> children_;
};

TEST_F(LeaseTest, TwoProcessesOneLeaderAndFailoverAfterSigkill) {
  const std::string lease = "contended";
  const auto duration = 4000ms, renew = 3000ms, retry = 500ms;
  std::string dir = ::testing::TempDir();
  std::string out_a = dir + "/lease-a-" + ns_ + ".log";
  std::string out_b = dir + "/lease-b-" + ns_ + ".log";
  pid_t a = Spawn(lease, "cand-a", out_a, duration, renew, retry);
  pid_t b = Spawn(lease, "cand-b", out_b, duration, renew, retry);

  std::string leader;
  ASSERT_TRUE(Eventually(
      [&] {
        leader = Holder(lease);
        return !leader.empty();
      },
      20s))
      << "nobody took the lease; candidate logs:\n"
      << ReadAll(out_a) << ReadAll(out_b);

  // For a few renewal periods, the holder stays put and only it says it leads.
  for (int i = 0; i < 6; ++i) {
    std::this_thread::sleep_for(retry);
    ASSERT_EQ(Holder(lease), leader);
  }
  const bool a_leads = leader == "cand-a";
  std::string leader_log = ReadAll(a_leads ? out_a : out_b);
  std::string follower_log = ReadAll(a_leads ? out_b : out_a);
  EXPECT_NE(leader_log.find("leading " + leader), std::string::npos) << leader_log;
  EXPECT_EQ(follower_log.find("leading"), std::string::npos) << follower_log;

  // Kill the leader without a chance to release: the other takes over within the lease
  // duration (plus a retry period and the API round trips).
  pid_t victim = a_leads ? a : b;
  const std::string survivor = a_leads ? "cand-b" : "cand-a";
  auto killed_at = std::chrono::steady_clock::now();
  ASSERT_EQ(kill(victim, SIGKILL), 0);
  waitpid(victim, nullptr, 0);
  ASSERT_TRUE(Eventually([&] { return Holder(lease) == survivor; }, 30s));
  auto takeover = std::chrono::steady_clock::now() - killed_at;
  EXPECT_LE(takeover, duration + 2 * retry + 2500ms)
      << "takeover took " << std::chrono::duration_cast<std::chrono::milliseconds>(takeover).count()
      << " ms";
  std::string survivor_out = a_leads ? out_b : out_a;
  EXPECT_TRUE(Eventually(
      [&] { return ReadAll(survivor_out).find("leading " + survivor) != std::string::npos; }, 5s));
}

TEST_F(LeaseTest, CleanStopReleasesTheLeaseForAnImmediateTakeover) {
  LeaderElectionConfig base;
  base.lease_namespace = ns_;
  base.lease_name = "released";
  base.lease_duration = 15s;  // long: a takeover faster than this proves the release
  base.renew_deadline = 10s;
  base.retry_period = 300ms;

  std::atomic<int> a_started{0}, a_stopped{0}, b_started{0};
  LeaderElectionConfig ca = base;
  ca.identity = "in-proc-a";
  ca.on_started_leading = [&] { ++a_started; };
  ca.on_stopped_leading = [&] { ++a_stopped; };
  LeaderElectionConfig cb = base;
  cb.identity = "in-proc-b";
  cb.on_started_leading = [&] { ++b_started; };

  LeaderElector a(NewTestClient(config_), ca);
  a.Run();
  ASSERT_TRUE(Eventually([&] { return a.IsLeader(); }, 10s));
  LeaderElector b(NewTestClient(config_), cb);
  b.Run();
  // b's first read of the Lease may take longer than a second on a loaded machine: wait
  // until it has seen a's record, after giving it a few retry periods to misbehave.
  std::this_thread::sleep_for(1s);
  EXPECT_TRUE(Eventually([&] { return b.CurrentLeader() == "in-proc-a"; }, 10s))
      << "b sees '" << b.CurrentLeader() << "' as the leader";
  EXPECT_FALSE(b.IsLeader());

  auto stopped_at = std::chrono::steady_clock::now();
  a.Stop();
  EXPECT_EQ(a_stopped, 1);
  EXPECT_FALSE(a.IsLeader());
  ASSERT_TRUE(Eventually([&] { return b.IsLeader(); }, 15s));
  // Without the release b would wait out the 15 s lease; 10 s leaves a loaded machine room.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped_at, 10s);
  EXPECT_EQ(a_started, 1);
  EXPECT_EQ(b_started, 1);
  EXPECT_EQ(Holder("released"), "in-proc-b");
  b.Stop();
}

}  // namespace
}  // namespace poolguard::kube::testing
