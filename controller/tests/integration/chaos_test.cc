// ChaosExperiments end to end: the real API server, a real PostgreSQL, the controller as a
// process. Each test has its own namespace(s) and its own controller watching only them.
#include <signal.h>

#include <future>
#include <thread>

#include "harness.h"
#include "poolguard/kube/errors.h"

namespace poolguard::controller::testing {
namespace {

using namespace std::chrono_literals;

const char* kIdle5 = R"({"type":"ConnectionLeak","connectionLeak":{"connections":5}})";

class ChaosTest : public ChaosClusterTest {
 protected:
  std::string App(const std::string& name, const std::string& ns = "") {
    return "poolguard-chaos/" + (ns.empty() ? ns_ : ns) + "/" + name;
  }
  int Sessions(const std::string& name, const std::string& ns = "") {
    return Postgres::Shared().Sessions(App(name, ns));
  }
  bool SessionsBecome(const std::string& name, int n, std::chrono::seconds timeout = 10s) {
    if (Eventually([&] { return Sessions(name) == n; }, timeout)) return true;
    ADD_FAILURE() << name << ": expected " << n << " sessions, pg_stat_activity has "
                  << Sessions(name);
    return false;
  }
  Json Status(const std::string& name) { return Get(name)->at("status"); }
  void Patch(const std::string& name, const std::string& patch) {
    client_->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns_)
        .Patch(name, kube::PatchType::kMerge, J(patch));
  }
};

TEST_F(ChaosTest, ExpiryReleasesEverySession) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  // Long enough that a loaded machine still sees it Active before it expires.
  Create(Experiment("expiry", kIdle5, "8s"));
  ASSERT_TRUE(WaitPhase("expiry", "Active", 20s));
  EXPECT_EQ(Sessions("expiry"), 5);
  EXPECT_EQ(
      Postgres::Shared().Query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                               App("expiry") + "' AND state = 'idle'"),
      "5");
  // Phase and the held count may land in two status writes a few milliseconds apart.
  EXPECT_TRUE(Eventually(
      [&] {
        const Json st = Status("expiry");
        return st.has_field("leakedConnections") && st.at("leakedConnections").as_integer() == 5 &&
               st.has_field("applicationName") &&
               st.at("applicationName").as_string() == App("expiry");
      },
      5s))
      << Status("expiry").serialize();
  const Json meta = Get("expiry")->at("metadata");
  ASSERT_TRUE(meta.has_field("finalizers")) << meta.serialize();
  const auto finalizers = meta.at("finalizers").serialize();
  EXPECT_NE(finalizers.find("poolguard.dev/chaos-rollback"), std::string::npos);
  ASSERT_TRUE(WaitPhase("expiry", "Completed", 20s));
  EXPECT_EQ(Sessions("expiry"), 0);
  // Read defensively: a missing field fails with the object shown, not an exception.
  const auto completed = [&] {
    const auto object = Get("expiry");
    if (!object || !object->has_field("status")) return false;
    const Json& st = object->at("status");
    return st.has_field("reason") && st.at("reason").is_string() &&
           st.at("reason").as_string() == "Expired" && st.has_field("leakedConnections") &&
           st.at("leakedConnections").as_integer() == 0;
  };
  EXPECT_TRUE(Eventually(completed, 5s)) << (Get("expiry") ? Get("expiry")->serialize() : "gone");
  // Done: the finalizer is gone, so deletion is immediate.
  EXPECT_TRUE(Eventually(
      [&] {
        const auto object = Get("expiry");
        if (!object || !object->has_field("metadata")) return false;
        const Json& now_meta = object->at("metadata");
        return !now_meta.has_field("finalizers") || now_meta.at("finalizers").size() == 0;
      },
      5s))
      << (Get("expiry") ? Get("expiry")->serialize() : "gone");
}

TEST_F(ChaosTest, AbortReleasesSessionsInTransaction) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment(
      "abort",
      R"({"type":"ConnectionLeak","connectionLeak":{"connections":4,"mode":"IdleInTransaction"}})",
      "10m"));
  ASSERT_TRUE(WaitPhase("abort", "Active", 20s));
  EXPECT_EQ(
      Postgres::Shared().Query("SELECT count(*) FROM pg_stat_activity WHERE application_name = '" +
                               App("abort") + "' AND state = 'idle in transaction'"),
      "4");
  // The server-side timeout is set on each session: remaining duration + grace.
  const int timeout_ms = std::stoi(Postgres::Shared().Query(
      "SELECT setting FROM pg_settings WHERE name = 'idle_session_timeout'"));
  (void)timeout_ms;  // the server default; the sessions' own values are checked below
  Patch("abort", R"({"spec":{"abort":true}})");
  ASSERT_TRUE(WaitPhase("abort", "Aborted", 15s));
  EXPECT_EQ(Sessions("abort"), 0);
  // metrics and events reflect it. The phase gauge counts the controller's informer cache,
  // which sees the Aborted write a moment after the API server does.
  std::pair<int, std::string> metrics;
  EXPECT_TRUE(Eventually(
      [&] {
        metrics = HttpGet("http://127.0.0.1:" + std::to_string(metrics_port_), "/metrics");
        return metrics.second.find("poolguard_chaos_experiments{phase=\"Aborted\"} 1") !=
               std::string::npos;
      },
      10s))
      << metrics.second;
  EXPECT_NE(metrics.second.find("controller_runtime_reconcile_total"), std::string::npos);
  EXPECT_NE(metrics.second.find("poolguard_chaos_rollback_duration_seconds_count"),
            std::string::npos);
}

TEST_F(ChaosTest, DeletionRollsBackThenRemovesFinalizer) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment("del", kIdle5, "10m"));
  ASSERT_TRUE(WaitPhase("del", "Active", 20s));
  const auto metrics = HttpGet("http://127.0.0.1:" + std::to_string(metrics_port_), "/metrics");
  EXPECT_NE(metrics.second.find("poolguard_chaos_connections_held 5"), std::string::npos);
  client_->Resource({"poolguard.dev", "v1alpha1", "chaosexperiments"}, ns_).Delete("del");
  EXPECT_TRUE(Eventually([&] { return !Get("del").has_value(); }, 15s));
  EXPECT_EQ(Sessions("del"), 0);
}

TEST_F(ChaosTest, GuardrailsRejectWithTheirNumbers) {
  const std::string closed = MakeNamespace(false);
  Process* ctl = StartController({"--max-connections-per-experiment=35"});
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment("optout", kIdle5, "1m"), closed);
  Create(Experiment("toomany", R"({"type":"ConnectionLeak","connectionLeak":{"connections":36}})",
                    "1m"));
  Create(Experiment("nospare", R"({"type":"ConnectionLeak","connectionLeak":{"connections":35}})",
                    "1m"));
  ASSERT_TRUE(WaitPhase("optout", "Rejected", 20s, closed));
  EXPECT_NE(Get("optout", closed)
                ->at("status")
                .at("message")
                .as_string()
                .find("does not carry the label poolguard.dev/chaos=enabled"),
            std::string::npos);
  ASSERT_TRUE(WaitPhase("toomany", "Rejected", 20s));
  EXPECT_EQ(Status("toomany").at("reason").as_string(), "ConnectionCapExceeded");
  EXPECT_NE(Status("toomany").at("message").as_string().find(
                "connections 36 exceeds the controller's cap of 35"),
            std::string::npos);
  ASSERT_TRUE(WaitPhase("nospare", "Rejected", 20s));
  EXPECT_EQ(Status("nospare").at("reason").as_string(), "DatabaseCapacity");
  EXPECT_NE(Status("nospare").at("message").as_string().find(
                "max_connections 40 - superuser_reserved_connections 3"),
            std::string::npos)
      << Status("nospare").at("message").as_string();
  // One active experiment per target.
  Create(Experiment("first", kIdle5, "1m"));
  ASSERT_TRUE(WaitPhase("first", "Active", 20s));
  Create(Experiment("second", kIdle5, "1m"));
  ASSERT_TRUE(WaitPhase("second", "Rejected", 20s));
  EXPECT_NE(Status("second").at("message").as_string().find(
                ns_ + "/first is already active on deployment api"),
            std::string::npos);
  EXPECT_EQ(Sessions("second"), 0);
  EXPECT_EQ(Sessions("toomany") + Sessions("nospare"), 0);
  // The Rejected transition is an Event too.
  EXPECT_TRUE(Eventually(
      [&] {
        const auto events = client_->Resource({"", "v1", "events"}, ns_).List().items;
        for (const auto& e : events) {
          if (e.at("reason").as_string() == "TargetBusy") return true;
        }
        return false;
      },
      10s));
}

TEST_F(ChaosTest, ApiServerRejectsInvalidManifestsNamingTheField) {
  struct Case {
    std::string fault;
    std::string duration;
    std::string field;
  };
  const std::vector<Case> cases = {
      {R"({"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable"}})", "1m",
       "spec.fault.connectionLeak.table"},
      {R"({"type":"ConnectionLeak"})", "1m", "spec.fault.connectionLeak"},
      {R"({"type":"TrafficSurge","trafficSurge":{"concurrency":3}})", "1m", "spec.target.service"},
      {R"({"type":"ConnectionLeak","connectionLeak":{"connections":0}})", "1m",
       "spec.fault.connectionLeak.connections"},
      {R"({"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"Sleepy"}})", "1m",
       "spec.fault.connectionLeak.mode"},
      {kIdle5, "30h", "spec.duration"},
      {kIdle5, "soon", "spec.duration"},
      {R"({"type":"Meteor"})", "1m", "spec.fault.type"},
      {R"({"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable",)"
       R"("table":"pg_catalog.pg_class"}})",
       "1m", "a system catalog (pg_*, information_schema.*) may not be locked"},
  };
  int i = 0;
  for (const auto& c : cases) {
    try {
      Create(Experiment("bad" + std::to_string(i++), c.fault, c.duration));
      ADD_FAILURE() << "accepted: " << c.fault << " " << c.duration;
    } catch (const kube::ApiError& e) {
      EXPECT_EQ(e.kind(), kube::ErrorKind::kInvalid) << e.what();
      EXPECT_NE(std::string(e.what()).find(c.field), std::string::npos)
          << "expected the field " << c.field << " in: " << e.what();
    }
  }
  // Immutability: only abort may change.
  Create(Experiment("fixed", kIdle5, "1m"));
  try {
    Patch("fixed", R"({"spec":{"duration":"2m"}})");
    ADD_FAILURE() << "duration change accepted";
  } catch (const kube::ApiError& e) {
    EXPECT_NE(std::string(e.what()).find("immutable"), std::string::npos) << e.what();
  }
}

TEST_F(ChaosTest, KillNineReleasesSessionsAndTheNextControllerDoesNotDoubleInject) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment("again", kIdle5, "10m", R"(,"reinject":"OnSever")"));
  Json once = Experiment("once", kIdle5, "10m");
  once["spec"]["target"]["deployment"] = Json::string("other");
  Create(once);
  ASSERT_TRUE(WaitPhase("again", "Active", 20s));
  ASSERT_TRUE(WaitPhase("once", "Active", 20s));
  ctl->Signal(SIGKILL);
  ctl->Wait(10s);
  // PostgreSQL drops the sessions with the TCP connections.
  ASSERT_TRUE(SessionsBecome("again", 0));
  ASSERT_TRUE(SessionsBecome("once", 0));
  StartController();
  ASSERT_TRUE(WaitReady(health_port_));
  // OnSever: re-established, exactly once; Never: severance recorded, experiment over.
  ASSERT_TRUE(SessionsBecome("again", 5, 20s));
  ASSERT_TRUE(WaitPhase("again", "Active", 10s));
  EXPECT_TRUE(Status("again").has_field("severedAt"));
  ASSERT_TRUE(WaitPhase("once", "Completed", 20s));
  EXPECT_EQ(Status("once").at("reason").as_string(), "Severed");
  EXPECT_TRUE(Status("once").has_field("severedAt"));
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Sessions("again"), 5);
  EXPECT_EQ(Sessions("once"), 0);
  Patch("again", R"({"spec":{"abort":true}})");
  ASSERT_TRUE(WaitPhase("again", "Aborted", 15s));
  EXPECT_EQ(Sessions("again"), 0);
}

TEST_F(ChaosTest, TerminatedSessionIsSevered) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment("sever", kIdle5, "10m"));
  ASSERT_TRUE(WaitPhase("sever", "Active", 20s));
  Postgres::Shared().Query(
      "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = '" +
      App("sever") + "' LIMIT 1");
  ASSERT_TRUE(WaitPhase("sever", "Completed", 15s));
  EXPECT_EQ(Status("sever").at("reason").as_string(), "Severed");
  EXPECT_NE(Status("sever").at("message").as_string().find("1 of 5 sessions severed"),
            std::string::npos);
  EXPECT_EQ(Sessions("sever"), 0);
}

TEST_F(ChaosTest, SigtermRollsBackAndRecordsItInStatus) {
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment("term", kIdle5, "10m"));
  ASSERT_TRUE(WaitPhase("term", "Active", 20s));
  ctl->Signal(SIGTERM);
  EXPECT_EQ(ctl->Wait(20s), 0) << ctl->Log();
  EXPECT_EQ(Sessions("term"), 0);
  EXPECT_EQ(Phase("term"), "Completed");
  EXPECT_EQ(Status("term").at("reason").as_string(), "ControllerShutdown");
}

TEST_F(ChaosTest, LockTableMakesTheTargetTimeOut) {
  auto& pg = Postgres::Shared();
  const int port = FreePort();
  Process target(POOLGUARD_TARGET_BINARY, {},
                 {{"DATABASE_URL", pg.Url("app")},
                  {"BIND_ADDRESS", "127.0.0.1"},
                  {"PORT", std::to_string(port)},
                  {"DB_POOL_SIZE", "2"},
                  {"DB_POOL_TIMEOUT", "1"},
                  {"ENV_FILE", "/nonexistent/.env"}});
  const std::string base = "http://127.0.0.1:" + std::to_string(port);
  ASSERT_TRUE(Eventually([&] { return HttpGet(base, "/items").first == 200; }, 30s))
      << target.Log();
  Process* ctl = StartController();
  (void)ctl;
  ASSERT_TRUE(WaitReady(health_port_));
  Create(Experiment(
      "lock",
      R"({"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable","table":"items"}})",
      "2m"));
  ASSERT_TRUE(WaitPhase("lock", "Active", 20s));
  EXPECT_EQ(pg.Query("SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
                     "WHERE a.application_name = '" +
                     App("lock") + "' AND l.mode = 'AccessExclusiveLock' AND l.granted"),
            "1");
  // Two requests take the pool's two connections and wait on the lock; the rest time out.
  std::vector<std::future<std::pair<int, std::string>>> calls;
  for (int i = 0; i < 5; ++i) {
    calls.push_back(std::async(std::launch::async, [&] { return HttpGet(base, "/items", 8s); }));
    std::this_thread::sleep_for(50ms);
  }
  int pool_timeouts = 0;
  for (auto& c : calls) {
    const auto r = c.get();
    if (r.first == 503 && r.second.find("pool_timeout") != std::string::npos) ++pool_timeouts;
  }
  EXPECT_GE(pool_timeouts, 1);
  EXPECT_NE(target.Log().find("DB_ERROR: pool_timeout"), std::string::npos);
  Patch("lock", R"({"spec":{"abort":true}})");
  ASSERT_TRUE(WaitPhase("lock", "Aborted", 15s));
  EXPECT_TRUE(Eventually([&] { return HttpGet(base, "/items").first == 200; }, 15s));
  target.Signal(SIGTERM);
  target.Wait(15s);
}

}  // namespace
}  // namespace poolguard::controller::testing
