// ScheduleReconciler's effects, in order, against recording fakes (no API server).
#include "chaos/schedule_reconciler.h"

#include <gtest/gtest.h>

#include "fakes/fakes.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
using fakes::ActionLog;

/// The experiments a schedule made, kept in a map; effects logged.
class FakeRuns final : public ScheduleRuns {
 public:
  explicit FakeRuns(ActionLog* log) : log_(log) {}
  std::vector<Json> List(const std::string& ns, const std::string& schedule) override {
    std::vector<Json> out;
    for (const auto& [key, o] : runs_) {
      if (key.rfind(ns + "/", 0) == 0 &&
          o.at("metadata").at("labels").at(kScheduleLabel).as_string() == schedule)
        out.push_back(o);
    }
    return out;
  }
  bool Create(const Json& experiment) override {
    const std::string key = kube::KeyOf(experiment);
    if (runs_.count(key) != 0) {
      log_->Add("create " + key + " exists");
      return false;
    }
    runs_[key] = experiment;
    log_->Add("create " + key);
    return true;
  }
  void Delete(const std::string& ns, const std::string& name) override {
    runs_.erase(ns + "/" + name);
    log_->Add("delete " + ns + "/" + name);
  }
  void Abort(const std::string& ns, const std::string& name, const std::string& by) override {
    runs_[ns + "/" + name]["spec"]["abort"] = Json::boolean(true);
    log_->Add("abort " + ns + "/" + name + " by " + by);
  }
  void SetPhase(const std::string& key, const char* phase) {
    runs_[key]["status"]["phase"] = Json::string(phase);
  }

 private:
  ActionLog* log_;
  std::map<std::string, Json> runs_;
};

std::string DescribeStatus(const Json& o) {
  const ScheduleStatus s = ParseScheduleStatus(o);
  std::string active;
  for (const auto& a : s.active) active += (active.empty() ? "" : ",") + a;
  return "last=" + (s.last_schedule_time ? FormatTime(*s.last_schedule_time) : "-") + " active=[" +
         active + "]";
}

class ScheduleReconcilerTest : public ::testing::Test {
 protected:
  ScheduleReconcilerTest()
      : store_(&log_, DescribeStatus),
        events_(&log_),
        runs_(&log_),
        clock_(std::make_shared<fakes::JumpClock>()) {}

  // 1'800'000'000 is 2027-01-15T08:00:00Z: created 30 s before 08:01.
  void Put(const std::string& policy) {
    store_.Put(Json::parse(R"({"apiVersion": "poolguard.dev/v1alpha1", "kind": "ChaosSchedule",
      "metadata": {"name": "nightly", "namespace": "shop", "uid": "u-1", "generation": 1,
                   "creationTimestamp": "2027-01-15T08:00:30Z"},
      "spec": {"schedule": "* * * * *", "concurrencyPolicy": ")" +
                           policy + R"(", "experimentTemplate": {"spec": {
        "target": {"deployment": "api"},
        "database": {"service": "db", "credentialsSecret": "creds"},
        "fault": {"type": "ConnectionLeak", "connectionLeak": {"connections": 3}},
        "duration": "90s"}}}})"));
  }
  ReconcileResult Reconcile() {
    ScheduleReconciler r(&store_, &runs_, &events_, clock_);
    return r.Reconcile("shop/nightly");
  }

  ActionLog log_;
  fakes::FakeStore store_;
  fakes::FakeEvents events_;
  FakeRuns runs_;
  std::shared_ptr<fakes::JumpClock> clock_;
};

TEST_F(ScheduleReconcilerTest, CreatesTheRunDueThenRecordsItAndNeverTwice) {
  Put("Forbid");
  clock_->Advance(31s);  // 08:00:31: created at 08:00:30, nothing due yet
  auto r = Reconcile();
  EXPECT_EQ(log_.Take(), std::vector<std::string>{"update-status shop/nightly last=- active=[]"});
  ASSERT_TRUE(r.requeue_after);
  EXPECT_LE(*r.requeue_after, 30s);

  clock_->Advance(30s);          // 08:01:01
  store_.FailNextStatusWrite();  // the controller "dies" before status is written
  EXPECT_THROW(Reconcile(), kube::ApiError);
  EXPECT_EQ(log_.Take(), (std::vector<std::string>{"create shop/nightly-30000001",
                                                   "event shop/nightly Normal Scheduled"}));
  // The retry finds the run it made and records it: no second experiment.
  Reconcile();
  EXPECT_EQ(log_.Take(),
            (std::vector<std::string>{
                "update-status shop/nightly last=2027-01-15T08:01:00Z active=[nightly-30000001]"}));
  Reconcile();
  EXPECT_TRUE(log_.Take().empty());

  // 08:02: the first still runs; Forbid skips this one.
  clock_->Advance(60s);
  Reconcile();
  EXPECT_EQ(log_.Take(),
            (std::vector<std::string>{
                "event shop/nightly Normal SkippedConcurrent",
                "update-status shop/nightly last=2027-01-15T08:02:00Z active=[nightly-30000001]"}));
}

TEST_F(ScheduleReconcilerTest, ReplaceAbortsTheActiveRunBeforeCreatingTheNext) {
  Put("Replace");
  clock_->Advance(61s);
  Reconcile();
  log_.Take();
  clock_->Advance(60s);  // 08:02: the 08:01 run is still active
  Reconcile();
  EXPECT_EQ(log_.Take(),
            (std::vector<std::string>{
                "abort shop/nightly-30000001 by ChaosSchedule nightly (concurrencyPolicy Replace)",
                "event shop/nightly Normal Replacing",
                "update-status shop/nightly last=2027-01-15T08:01:00Z active=[nightly-30000001]"}));
  // Once it has ended, the 08:02 run starts; the history limit (1 failed by default) keeps
  // the newest failed run.
  runs_.SetPhase("shop/nightly-30000001", "Aborted");
  clock_->Advance(2s);
  Reconcile();
  EXPECT_EQ(log_.Take(), (std::vector<std::string>{
                             "create shop/nightly-30000002", "event shop/nightly Normal Scheduled",
                             "update-status shop/nightly last=2027-01-15T08:02:00Z "
                             "active=[nightly-30000002]"}));
}

}  // namespace
}  // namespace poolguard::controller
