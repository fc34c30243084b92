// The Remediation reconciler with recording fakes of its ports: the collector gathers from
// fixtures (the pods' answers, the Deployment, the database), the reconciler decides and
// acts, and the test compares what it wrote and did, in order, tick by tick.

#include "remediation/reconciler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <thread>

#include "fakes/fakes.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using fakes::ActionLog;
using Lines = std::vector<std::string>;

// "phase=Remediating actions=[RestartDeployment:InProgress:<key>]"
std::string DescribeRemediation(const Json& object) {
  const RemediationStatus s = ParseRemediationStatus(object);
  std::string out = "phase=" + std::string(RemediationPhaseName(s.phase));
  if (s.incident) {
    out += " actions=[";
    for (size_t i = 0; i < s.incident->actions.size(); ++i) {
      const ActionRecord& a = s.incident->actions[i];
      out += (i ? "," : "") + std::string(ActionName(a.action)) + ":" +
             std::string(ActionResultName(a.result)) + ":" + a.key;
    }
    out += "]";
  }
  if (const Condition* c = FindCondition(s.conditions, rem::kSpecValid); c && c->status != "True") {
    out += " " + c->reason;
  }
  return out;
}

class RecordingMetrics final : public RemediationMetrics {
 public:
  explicit RecordingMetrics(ActionLog* log) : log_(log) {}
  void IncidentOpened(double) override { log_->Add("metric incident-opened"); }
  void IncidentResolved(double) override { log_->Add("metric incident-resolved"); }
  void ActionFinished(const std::string& action, const std::string& result) override {
    log_->Add("metric action " + action + " " + result);
  }

 private:
  ActionLog* log_;
};

constexpr char kPodUrl[] = "http://10.0.0.7:8000";

class RemediationReconcilerTest : public ::testing::Test {
 protected:
  RemediationReconcilerTest()
      : store_(&log_, DescribeRemediation),
        cluster_(&log_),
        admin_(&log_),
        events_(&log_),
        metrics_(&log_),
        clock_(std::make_shared<fakes::JumpClock>()),
        collector_(&cluster_, &reader_, &admin_, &probes_, CollectorOptions{}, clock_),
        reconciler_(&store_, &collector_, &cluster_, &reader_, &admin_, &events_, &metrics_,
                    clock_) {
    reader_.services["demo/db:5432"] = {Endpoint{"10.0.0.5", 5432}};
    reader_.secrets["demo/db-credentials"] = DbTarget{{}, "app", "secret", "app"};
    cluster_.endpoints = {PodEndpoint{"api-5f7d-abcde", "10.0.0.7", 8000, true}};
    DeploymentView api;
    api.rollout = Rollout();
    api.pool_size = 5;
    cluster_.deployment = api;
    cluster_.statefulset = Rollout();
    cluster_.db_pods = {PodState{"db-0", true, ""}};
    probes_.Answer(std::string(kPodUrl) + "/metrics", 200, "");
    probes_.Answer(std::string(kPodUrl) + "/items", 200, "[]");
    Healthy(true);
  }

  static RolloutObservation Rollout() {
    RolloutObservation r;
    r.generation = r.observed_generation = 1;
    r.replicas = r.status_replicas = r.updated_replicas = r.available_replicas = 1;
    return r;
  }

  void Healthy(bool ok) {
    probes_.Answer(std::string(kPodUrl) + "/health", ok ? 200 : 503,
                   ok ? R"({"status":"ok"})" : R"({"status":"degraded"})");
  }

  // A Ladder Remediation of demo/api that acts at once (no `for`, no cooldown).
  Json Remediation(const std::string& name, const std::string& created,
                   const std::string& actions = R"(["RestartDeployment"])") {
    return Json::parse(R"({"apiVersion":"poolguard.dev/v1alpha1","kind":"Remediation",
      "metadata":{"name":")" +
                       name + R"(","namespace":"demo","generation":1,
                  "creationTimestamp":")" +
                       created + R"("},
      "spec":{"target":{"deployment":"api","port":8000},
              "database":{"service":"db","port":5432,"credentialsSecret":"db-credentials"},
              "detection":{"interval":"1s","for":"0s"},
              "strategy":"Ladder","actions":)" +
                       actions + R"(,
              "verification":{"consecutiveHealthy":1,"window":"1s","timeout":"60s"},
              "safety":{"cooldown":"0s","maxActionsPerHour":5}}})");
  }

  // demo/api's Remediation's spec, and a collector's input for it (a tick's, not deep).
  RemediationSpec ApiSpec() {
    const RemediationSpecParse parsed =
        ParseRemediationSpec(Remediation("api", "2027-01-15T07:00:00Z"));
    EXPECT_TRUE(parsed.spec) << parsed.error;
    return parsed.spec.value_or(RemediationSpec{});
  }
  static CollectInput ApiInput() {
    CollectInput in;
    in.key = "demo/api";
    in.ns = "demo";
    return in;
  }

  // One tick, as the work queue runs it: Reconcile, then the clock moves on by the requeue
  // (at least a millisecond). Returns the lines the tick logged.
  Lines Tick(const std::string& key, bool* threw = nullptr) {
    ReconcileResult r;
    try {
      r = reconciler_.Reconcile(key);
      if (threw) *threw = false;
    } catch (const std::exception&) {
      if (threw == nullptr) throw;
      *threw = true;
    }
    clock_->Advance(std::max<std::chrono::milliseconds>(r.requeue_after.value_or(1s), 1ms));
    return log_.Take();
  }

  // Ticks until a line starting with `prefix` shows (at most `ticks`); all lines so far.
  Lines TickUntil(const std::string& key, const std::string& prefix, int ticks = 20) {
    Lines all;
    for (int i = 0; i < ticks; ++i) {
      for (auto& line : Tick(key)) all.push_back(std::move(line));
      if (std::any_of(all.begin(), all.end(),
                      [&](const std::string& l) { return l.rfind(prefix, 0) == 0; })) {
        break;
      }
    }
    return all;
  }

  static size_t Find(const Lines& lines, const std::string& prefix) {
    for (size_t i = 0; i < lines.size(); ++i) {
      if (lines[i].rfind(prefix, 0) == 0) return i;
    }
    return lines.size();
  }

  static bool IsEffect(const std::string& line) {
    return line.rfind("restart ", 0) == 0 || line.rfind("set-env ", 0) == 0 ||
           line.rfind("terminate-sessions ", 0) == 0;
  }

  ActionLog log_;
  fakes::FakeStore store_;
  fakes::FakeClusterReader reader_;
  fakes::FakeRemediationCluster cluster_;
  fakes::FakePgAdmin admin_;
  fakes::FakeProbes probes_;
  fakes::FakeEvents events_;
  RecordingMetrics metrics_;
  std::shared_ptr<fakes::JumpClock> clock_;
  Collector collector_;
  RemediationReconciler reconciler_;
};

// The pods' metrics endpoint is the preset's (or the spec's path); with preset None no
// metrics are asked, and a TCP connect to the pod's port tells a hung process from a dead one.
TEST_F(RemediationReconcilerTest, ThePresetDecidesWhichMetricsEndpointIsAsked) {
  auto asked = [&](const std::string& metrics) {
    Json remediation = Remediation("api", "2027-01-15T07:00:00Z");
    if (!metrics.empty()) remediation["spec"]["detection"]["metrics"] = Json::parse(metrics);
    store_.Remove("demo/api");
    store_.Put(remediation);
    probes_.TakeAsked();
    Tick("demo/api");
    std::vector<std::string> pod;
    for (const auto& a : probes_.TakeAsked()) {
      if (a.find("10.0.0.7") != std::string::npos) pod.push_back(a);
    }
    std::sort(pod.begin(), pod.end());
    return pod;
  };
  const std::string pod = kPodUrl;
  EXPECT_EQ(asked(""), (std::vector<std::string>{pod + "/health", pod + "/metrics"}));
  EXPECT_EQ(asked(R"({"preset":"HikariCP"})"),
            (std::vector<std::string>{pod + "/actuator/prometheus", pod + "/health"}));
  EXPECT_EQ(asked(R"({"preset":"HikariCP","path":"/manage/prometheus"})"),
            (std::vector<std::string>{pod + "/health", pod + "/manage/prometheus"}));
  EXPECT_EQ(asked(R"({"preset":"None"})"),
            (std::vector<std::string>{pod + "/health", "tcp 10.0.0.7:8000"}));
}

// Issue 16: one Prometheus request per tick for all of its queries; when Prometheus refuses
// the batch (a spec's query that is a scalar), each is asked on its own.
TEST_F(RemediationReconcilerTest, PrometheusIsAskedOnceATickOrOneByOneWhenItRefusesTheBatch) {
  Json remediation = Remediation("api", "2027-01-15T07:00:00Z");
  remediation["spec"]["detection"]["prometheus"] = Json::parse(R"({"url":"http://prom:9090"})");
  store_.Put(remediation);
  auto prometheus_asked = [&] {
    probes_.TakeAsked();
    Tick("demo/api");
    int n = 0;
    for (const auto& a : probes_.TakeAsked()) n += a.rfind("http://prom:9090/", 0) == 0;
    return n;
  };
  probes_.Answer("http://prom:9090/", 200,
                 R"({"status":"success","data":{"resultType":"vector","result":[
                    {"metric":{"poolguard_query":"0"},"value":[1,"0.5"]}]}})");
  EXPECT_EQ(prometheus_asked(), 1);
  probes_.Answer(
      "http://prom:9090/", 400,
      R"({"status":"error","errorType":"bad_data","error":"expected type instant vector"})");
  EXPECT_GT(prometheus_asked(), 1);
}

// Issue 16: the credentials Secret (get only, no watch) is read once per TTL, not per tick;
// a login the database rejects with the kept credentials reads it again at once, and logs
// in with the new ones.
TEST_F(RemediationReconcilerTest, TheSecretIsReadOncePerTtlAndAgainWhenALoginIsRejected) {
  const RemediationSpec spec = ApiSpec();
  CollectInput in = ApiInput();
  for (int i = 0; i < 3; ++i) collector_.Gather(in, spec);
  EXPECT_EQ(reader_.credential_reads, 1);

  // The Secret and the role's password change together (a rotation done right).
  reader_.secrets["demo/db-credentials"].password = "rotated";
  admin_.role_password = "rotated";
  in.deep = true;
  const Gathered g = collector_.Gather(in, spec);
  EXPECT_EQ(reader_.credential_reads, 2);
  EXPECT_EQ(g.db.login.result, LoginResult::kOk) << g.db.login.detail;
  collector_.Gather(in, spec);
  EXPECT_EQ(reader_.credential_reads, 2);  // the new ones are kept in turn

  // Kept for the TTL (5 minutes), then read again.
  clock_->Advance(std::chrono::minutes(5) - std::chrono::milliseconds(1));
  collector_.Gather(in, spec);
  EXPECT_EQ(reader_.credential_reads, 2);
  clock_->Advance(std::chrono::milliseconds(1));
  collector_.Gather(in, spec);
  EXPECT_EQ(reader_.credential_reads, 3);

  // No endpoint behind the database's Service: nothing to log in to, no Secret read.
  collector_.Forget("demo/api");
  reader_.services.erase("demo/db:5432");
  const Gathered none = collector_.Gather(in, spec);
  EXPECT_EQ(none.db.tcp.outcome, Outcome::kFail);
  EXPECT_EQ(reader_.credential_reads, 3);
}

// Issue 16: while the target is healthy its logs are read every healthy_logs_interval, over
// the time since the last read; once anything fails, every tick.
TEST_F(RemediationReconcilerTest, LogsAreReadLessOftenWhileHealthyAndEveryTickOtherwise) {
  CollectorOptions options;
  options.healthy_logs_interval = std::chrono::milliseconds(200);
  auto clock = std::make_shared<fakes::JumpClock>();
  Collector collector(&cluster_, &reader_, &admin_, &probes_, options, clock);
  const RemediationSpec spec = ApiSpec();
  CollectInput in = ApiInput();
  const int pods = static_cast<int>(cluster_.endpoints.size());
  ASSERT_GT(pods, 0);
  collector.Gather(in, spec);
  const Gathered skipped = collector.Gather(in, spec);
  EXPECT_EQ(cluster_.log_reads, pods);
  ASSERT_TRUE(skipped.logs.has_value());  // nothing new yet, not "not known"
  clock->Advance(std::chrono::milliseconds(199));
  collector.Gather(in, spec);
  EXPECT_EQ(cluster_.log_reads, pods);  // not yet
  clock->Advance(std::chrono::milliseconds(901));
  collector.Gather(in, spec);
  EXPECT_EQ(cluster_.log_reads, 2 * pods);
  EXPECT_GE(cluster_.last_log_since, 3);  // interval 1s + 1, widened to the gap + 1
  in.deep = true;
  collector.Gather(in, spec);
  collector.Gather(in, spec);
  EXPECT_EQ(cluster_.log_reads, 4 * pods);
}

TEST_F(RemediationReconcilerTest, AHealthyTargetGetsStatusOnceAndNoAction) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  const Lines first = Tick("demo/api");
  ASSERT_FALSE(first.empty());
  EXPECT_EQ(first.front(), "update-status demo/api phase=Watching");
  for (int i = 0; i < 5; ++i) {
    for (const auto& line : Tick("demo/api")) EXPECT_FALSE(IsEffect(line)) << line;
  }
}

TEST_F(RemediationReconcilerTest, TheIntentIsInStatusBeforeTheEffectAndEachTickActsOnce) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  Tick("demo/api");
  Healthy(false);
  std::vector<Lines> ticks;
  for (int i = 0; i < 20; ++i) {
    ticks.push_back(Tick("demo/api"));
    if (Find(ticks.back(), "restart ") < ticks.back().size()) break;
  }
  for (const Lines& tick : ticks) {
    EXPECT_LE(std::count_if(tick.begin(), tick.end(), IsEffect), 1)
        << ::testing::PrintToString(tick);
  }
  const Lines& acting = ticks.back();
  const size_t restart = Find(acting, "restart Deployment demo/api key=");
  ASSERT_LT(restart, acting.size()) << "no restart in 20 ticks";
  const std::string key = acting[restart].substr(acting[restart].find("key=") + 4);
  // Written before, in an earlier tick or earlier in this one: the record, InProgress, with
  // the key the patch carries.
  const std::string intent = "RestartDeployment:InProgress:" + key;
  bool recorded = false;
  for (const Lines& tick : ticks) {
    for (size_t i = 0; i < tick.size(); ++i) {
      if (&tick == &acting && i >= restart) break;
      if (tick[i].rfind("update-status demo/api", 0) == 0 &&
          tick[i].find(intent) != std::string::npos) {
        recorded = true;
      }
    }
  }
  EXPECT_TRUE(recorded) << "no status with " << intent << " before the restart";
  EXPECT_EQ(
      Find(acting, "metric incident-opened") < acting.size() ||
          std::any_of(ticks.begin(), ticks.end(),
                      [](const Lines& t) { return Find(t, "metric incident-opened") < t.size(); }),
      true);
}

TEST_F(RemediationReconcilerTest, AFailedEffectStaysInProgressAndIsRetriedWithTheSameKey) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  Tick("demo/api");
  Healthy(false);
  cluster_.fail_restarts = 1;
  const Lines first = TickUntil("demo/api", "restart ");
  const size_t failed = Find(first, "restart Deployment demo/api key=");
  ASSERT_LT(failed, first.size());
  const std::string key = first[failed].substr(first[failed].find("key=") + 4);
  EXPECT_LT(Find(first, "event demo/api Warning ActionError"), first.size())
      << ::testing::PrintToString(first);
  // Still one record, still InProgress: nothing new was started.
  const RemediationStatus after_failure = ParseRemediationStatus(*store_.Get("demo/api"));
  ASSERT_TRUE(after_failure.incident);
  ASSERT_EQ(after_failure.incident->actions.size(), 1u);
  EXPECT_EQ(after_failure.incident->actions[0].result, ActionResult::kInProgress);

  const Lines retry = TickUntil("demo/api", "restart ");
  const size_t again = Find(retry, "restart ");
  ASSERT_LT(again, retry.size()) << ::testing::PrintToString(retry);
  EXPECT_EQ(retry[again], "restart Deployment demo/api key=" + key);
  EXPECT_EQ(ParseRemediationStatus(*store_.Get("demo/api")).incident->actions.size(), 1u);
}

TEST_F(RemediationReconcilerTest, AVerifiedFixResolvesTheIncidentAndCountsItOnce) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  Tick("demo/api");
  Healthy(false);
  // A game day: a verdict, and the incident links the report the experiment names.
  cluster_.chaos =
      ChaosLink{"demo/break-it", clock_->WallNow(), "https://ci.example/gd/report.md#break-it"};
  TickUntil("demo/api", "restart ");
  Healthy(true);  // the restart healed it
  Lines rest;
  for (int i = 0; i < 20; ++i) {
    for (auto& line : Tick("demo/api")) rest.push_back(std::move(line));
    if (ParseRemediationStatus(*store_.Get("demo/api")).phase == RemediationPhase::kResolved) break;
  }
  const RemediationStatus s = ParseRemediationStatus(*store_.Get("demo/api"));
  EXPECT_EQ(s.phase, RemediationPhase::kResolved) << ::testing::PrintToString(rest);
  ASSERT_TRUE(s.incident);
  EXPECT_EQ(s.incident->actions.at(0).result, ActionResult::kVerified);
  EXPECT_EQ(s.incident->chaos_experiment, "demo/break-it");
  EXPECT_EQ(s.incident->chaos_report, "https://ci.example/gd/report.md#break-it");
  EXPECT_NE(s.incident->verdict.find("healed at rung 1 (RestartDeployment)"), std::string::npos)
      << s.incident->verdict;
  for (const auto& line : rest) EXPECT_FALSE(IsEffect(line)) << line;  // no second restart
  EXPECT_EQ(std::count(rest.begin(), rest.end(), "metric action RestartDeployment Verified"), 1);
  EXPECT_EQ(std::count(rest.begin(), rest.end(), "metric incident-resolved"), 1);
  // Further ticks on a healthy target write nothing and count nothing again.
  for (int i = 0; i < 3; ++i) {
    for (const auto& line : Tick("demo/api")) {
      EXPECT_EQ(line.rfind("metric", 0), std::string::npos) << line;
      EXPECT_FALSE(IsEffect(line)) << line;
    }
  }
}

TEST_F(RemediationReconcilerTest, ASecondRemediationOnTheSameTargetIsRefusedAndDoesNothing) {
  store_.Put(Remediation("first", "2027-01-15T07:00:00Z"));
  store_.Put(Remediation("second", "2027-01-15T07:05:00Z"));
  Tick("demo/first");
  Healthy(false);
  const Lines lines = Tick("demo/second");
  EXPECT_EQ(lines, (Lines{"update-status demo/second phase=Invalid TargetClaimed",
                          "event demo/second Warning TargetClaimed"}));
  for (int i = 0; i < 5; ++i) {
    for (const auto& line : Tick("demo/second")) EXPECT_FALSE(IsEffect(line)) << line;
  }
}

TEST_F(RemediationReconcilerTest, AnInvalidSpecIsMarkedAndNotRequeued) {
  Json bad = Remediation("api", "2027-01-15T07:00:00Z");
  bad["spec"]["detection"]["interval"] = Json::string("10ms");
  store_.Put(bad);
  const ReconcileResult r = reconciler_.Reconcile("demo/api");
  EXPECT_FALSE(r.requeue_after);
  EXPECT_EQ(log_.Take(), (Lines{"update-status demo/api phase=Invalid InvalidSpec",
                                "event demo/api Warning InvalidSpec"}));
}

TEST_F(RemediationReconcilerTest, ADeletedRemediationWritesNothing) {
  EXPECT_FALSE(reconciler_.Reconcile("demo/gone").requeue_after);
  EXPECT_EQ(log_.Take(), Lines{});
}

TEST_F(RemediationReconcilerTest, AConflictingStatusWriteThrowsBeforeAnyEffect) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  Tick("demo/api");
  Healthy(false);
  // Every other status write conflicts (another writer got there first): the tick throws
  // (the queue retries it), and never after running an effect whose intent is not stored.
  int conflicts = 0;
  bool restarted = false;
  for (int i = 0; i < 40 && !restarted; ++i) {
    if (i % 2 == 0) store_.FailNextStatusWrite();
    bool threw = false;
    const Lines lines = Tick("demo/api", &threw);
    if (threw) {
      ++conflicts;
      for (const auto& line : lines) EXPECT_FALSE(IsEffect(line)) << line;
    }
    restarted = Find(lines, "restart ") < lines.size();
  }
  EXPECT_GT(conflicts, 0);
  EXPECT_TRUE(restarted) << "the loop did not get past the conflicts";
}

// The informer's cache may not have seen this controller's own status write when the next
// tick comes (at once, after an intent is recorded): the tick goes on from what it wrote,
// not from the stale copy, which would end in a 409 after a whole collection.
TEST_F(RemediationReconcilerTest, ATickAfterItsOwnWriteGoesOnFromWhatItWrote) {
  store_.Put(Remediation("api", "2027-01-15T07:00:00Z"));
  Tick("demo/api");
  Healthy(false);
  store_.Lag();
  bool restarted = false;
  for (int i = 0; i < 20 && !restarted; ++i) {
    bool threw = false;
    const Lines lines = Tick("demo/api", &threw);
    EXPECT_FALSE(threw) << "tick " << i << " conflicted on the cache's stale copy";
    restarted = Find(lines, "restart ") < lines.size();
  }
  EXPECT_TRUE(restarted);
  // Once the cache serves a newer copy than the one written, that copy wins (someone else
  // wrote: a spec change, a hand edit).
  store_.Fresh();
  Json edited = *store_.Get("demo/api");
  edited["metadata"].erase("resourceVersion");  // Put gives it a new one, as a write would
  edited["spec"]["safety"]["dryRun"] = Json::boolean(true);
  store_.Put(edited);
  Healthy(true);
  bool wrote = false;
  for (int i = 0; i < 10; ++i) {
    bool threw = false;
    const Lines lines = Tick("demo/api", &threw);
    EXPECT_FALSE(threw) << "tick " << i << " wrote on its own older copy";
    wrote = wrote || Find(lines, "update-status ") < lines.size();
  }
  EXPECT_TRUE(wrote);
}

// A lock holder of the target's own role blocks its sessions: TerminateBlockingSessions
// ends the holder, within the target's database and role, sparing the target's sessions
// (by role, the credentials Secret's, and by its pods' addresses); a widened scope
// reaches further.
TEST_F(RemediationReconcilerTest, TerminateBlockingSessionsStaysInTheTargetsScope) {
  for (const std::string& scope : {std::string(""), std::string("Server")}) {
    Json remediation =
        Remediation("api", "2027-01-15T07:00:00Z", R"(["TerminateBlockingSessions"])");
    remediation["spec"]["strategy"] = Json::string("DiagnosisDriven");
    if (!scope.empty()) {
      remediation["spec"]["terminateBlockingSessions"]["scope"] = Json::string(scope);
    }
    store_.Remove("demo/api");
    store_.Put(remediation);
    SessionRow holder{
        700,        "psql",    "idle in transaction", 30, {}, "AccessExclusiveLock", "items", false,
        "postgres", "10.0.0.9"};
    SessionRow waiter{801, "api", "active", 5, {700}, "", "", true, "app", "10.0.0.7"};
    admin_.sessions = {holder, waiter, waiter};
    admin_.sessions[2].pid = 802;
    cluster_.logs =
        "2027-01-15T08:00:00.000Z error target: DB_ERROR: pool_timeout: QueuePool limit of "
        "size 5 overflow 0 reached, connection timed out, timeout 3.00\n";
    Healthy(false);
    const Lines lines = TickUntil("demo/api", "terminate-sessions ");
    const size_t terminate = Find(lines, "terminate-sessions ");
    ASSERT_LT(terminate, lines.size()) << ::testing::PrintToString(lines);
    EXPECT_EQ(lines[terminate],
              scope.empty()
                  ? "terminate-sessions 700 in database=app role=app sparing role=app "
                    "application_name= addresses=10.0.0.7"
                  : "terminate-sessions 700 in database= role= sparing role=app application_name= "
                    "addresses=10.0.0.7");
    admin_.sessions.clear();
    cluster_.logs.clear();
    Healthy(true);
  }
}

}  // namespace
}  // namespace poolguard::controller
