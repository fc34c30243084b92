#include "chaos/schedule.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

WallTime At(const char* rfc3339) {
  auto t = ParseTime(rfc3339);
  EXPECT_TRUE(t) << rfc3339;
  return *t;
}

Json Parse(const std::string& text) { return Json::parse(text); }

const char kTemplate[] = R"({"metadata": {"labels": {"team": "db"}},
  "spec": {"target": {"deployment": "api"},
           "database": {"service": "db", "credentialsSecret": "creds"},
           "fault": {"type": "ConnectionLeak", "connectionLeak": {"connections": 3}},
           "duration": "30s"}})";

Json Schedule(const std::string& fields) {
  return Parse(R"({"metadata": {"name": "nightly", "namespace": "shop", "uid": "u-1"},
                   "spec": {)" +
               fields + R"(, "experimentTemplate": )" + kTemplate + "}}");
}

// A schedule created at `created`, never reconciled, observed at `now`.
ScheduleObserved Obs(const std::string& fields, const char* created, const char* now) {
  ScheduleObserved o;
  o.ns = "shop";
  o.name = "nightly";
  o.uid = "u-1";
  o.generation = 1;
  o.created = At(created);
  o.spec = ParseScheduleSpec(Schedule(fields));
  EXPECT_TRUE(o.spec.spec) << o.spec.error;
  o.zone = TimeZone();
  o.now = At(now);
  return o;
}

// The status a previous DecideSchedule wrote, observed again at `now`.
ScheduleObserved Then(ScheduleObserved o, const ScheduleDecision& d, const char* now) {
  o.status = d.status;
  o.now = At(now);
  return o;
}

ScheduledRun Due(const std::string& name, const char* due, Phase phase) {
  return {name, At(due), phase, false};
}

std::vector<std::string> Reasons(const ScheduleDecision& d) {
  std::vector<std::string> r;
  for (const auto& e : d.events) r.push_back(e.reason);
  return r;
}

TEST(Schedule, NeverFiresAtCreation) {
  // Created on a minute boundary that the cron names: that minute is not a run.
  auto o = Obs(R"("schedule": "0 10 * * *")", "2026-12-04T10:00:00Z", "2026-12-04T10:00:05Z");
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.status.schedule_since, At("2026-12-04T10:00:00Z"));
  EXPECT_EQ(d.status.next_schedule_time, At("2026-12-05T10:00:00Z"));
  ASSERT_TRUE(d.requeue_after);
  EXPECT_EQ(*d.requeue_after, 1h);  // at most an hour: a clock that jumps is caught
}

TEST(Schedule, FiresWhenDueWithANameFromTheTimeAndOnlyOnce) {
  auto o = Obs(R"("schedule": "* * * * *")", "2026-12-04T10:00:30Z", "2026-12-04T10:00:31Z");
  auto d0 = DecideSchedule(o);
  EXPECT_FALSE(d0.create);
  EXPECT_EQ(d0.status.next_schedule_time, At("2026-12-04T10:01:00Z"));
  EXPECT_LE(*d0.requeue_after, 30s);

  auto d1 = DecideSchedule(Then(o, d0, "2026-12-04T10:01:00.200Z"));
  ASSERT_TRUE(d1.create);
  const Json& run = *d1.create;
  const std::string name = "nightly-" + std::to_string(1796378460 / 60);
  EXPECT_EQ(run.at("metadata").at("name").as_string(), name);
  EXPECT_EQ(run.at("metadata").at("namespace").as_string(), "shop");
  EXPECT_EQ(run.at("metadata").at("labels").at(kScheduleLabel).as_string(), "nightly");
  EXPECT_EQ(run.at("metadata").at("labels").at("team").as_string(), "db");
  EXPECT_EQ(run.at("metadata").at("annotations").at(kScheduledAtAnnotation).as_string(),
            "2026-12-04T10:01:00Z");
  const Json& owner = run.at("metadata").at("ownerReferences").at(0);
  EXPECT_EQ(owner.at("kind").as_string(), "ChaosSchedule");
  EXPECT_EQ(owner.at("uid").as_string(), "u-1");
  EXPECT_TRUE(owner.at("controller").as_bool());
  EXPECT_EQ(run.at("spec").at("duration").as_string(), "30s");
  EXPECT_EQ(d1.status.last_schedule_time, At("2026-12-04T10:01:00Z"));
  EXPECT_EQ(d1.status.active, std::vector<std::string>{name});
  EXPECT_EQ(Reasons(d1), std::vector<std::string>{"Scheduled"});

  // The same minute again, with the status written: nothing more.
  auto o2 = Then(o, d1, "2026-12-04T10:01:05Z");
  o2.runs = {Due(name, "2026-12-04T10:01:00Z", Phase::kActive)};
  auto d2 = DecideSchedule(o2);
  EXPECT_FALSE(d2.create);
  EXPECT_TRUE(d2.events.empty());
}

TEST(Schedule, ARunCreatedBeforeACrashIsRecordedNotCreatedAgain) {
  auto o = Obs(R"("schedule": "* * * * *")", "2026-12-04T10:00:30Z", "2026-12-04T10:01:02Z");
  const std::string name = "nightly-" + std::to_string(1796378460 / 60);
  o.runs = {Due(name, "2026-12-04T10:01:00Z", Phase::kActive)};
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T10:01:00Z"));
  EXPECT_EQ(d.status.active, std::vector<std::string>{name});
}

TEST(Schedule, ForbidSkipsARunWhileAnotherIsActive) {
  auto o = Obs(R"("schedule": "*/5 * * * *")", "2026-12-04T09:00:00Z", "2026-12-04T10:05:01Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-04T09:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T10:00:00Z");
  o.runs = {Due("nightly-29939640", "2026-12-04T10:00:00Z", Phase::kActive)};
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(Reasons(d), std::vector<std::string>{"SkippedConcurrent"});
  EXPECT_NE(d.events[0].message.find("nightly-29939640 still running"), std::string::npos);
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T10:05:00Z"));  // not retried later
  EXPECT_LE(*d.requeue_after, 5s);  // active runs are looked at again soon
}

TEST(Schedule, AllowRunsAlongside) {
  auto o = Obs(R"("schedule": "*/5 * * * *", "concurrencyPolicy": "Allow")", "2026-12-04T09:00:00Z",
               "2026-12-04T10:05:01Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-04T09:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T10:00:00Z");
  o.runs = {Due("nightly-29939640", "2026-12-04T10:00:00Z", Phase::kActive)};
  auto d = DecideSchedule(o);
  ASSERT_TRUE(d.create);
  EXPECT_EQ(d.status.active.size(), 2u);
  EXPECT_TRUE(d.abort.empty());
}

// Replace aborts the active run and starts the new one only once it has rolled back (it
// holds the target until then: the new one would be rejected), within the deadline.
TEST(Schedule, ReplaceAbortsTheActiveRunThenStartsTheNextOnceItEnded) {
  auto o = Obs(R"("schedule": "*/5 * * * *", "concurrencyPolicy": "Replace")",
               "2026-12-04T09:00:00Z", "2026-12-04T10:05:01Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-04T09:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T10:00:00Z");
  o.runs = {Due("nightly-29939640", "2026-12-04T10:00:00Z", Phase::kActive)};
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.abort, std::vector<std::string>{"nightly-29939640"});
  EXPECT_EQ(Reasons(d), std::vector<std::string>{"Replacing"});
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T10:00:00Z"));  // still due
  EXPECT_EQ(*d.requeue_after, 1s);

  // Rolling back: not aborted again, nothing said again.
  auto o2 = Then(o, d, "2026-12-04T10:05:03Z");
  o2.runs[0].aborting = true;
  o2.runs[0].phase = Phase::kRollingBack;
  auto d2 = DecideSchedule(o2);
  EXPECT_FALSE(d2.create);
  EXPECT_TRUE(d2.abort.empty());
  EXPECT_TRUE(d2.events.empty());

  // Aborted: the run due at 10:05 starts now.
  auto o3 = Then(o2, d2, "2026-12-04T10:05:05Z");
  o3.runs[0].phase = Phase::kAborted;
  auto d3 = DecideSchedule(o3);
  ASSERT_TRUE(d3.create);
  EXPECT_EQ(d3.create->at("metadata").at("name").as_string(), "nightly-29939645");
  EXPECT_EQ(d3.status.last_schedule_time, At("2026-12-04T10:05:00Z"));
}

TEST(Schedule, SuspendedStartsNothingAndResumingDoesNotCatchUp) {
  auto o = Obs(R"("schedule": "* * * * *", "suspend": true)", "2026-12-04T09:00:00Z",
               "2026-12-04T10:00:01Z");
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_FALSE(d.status.next_schedule_time);
  EXPECT_EQ(FindCondition(d.status.conditions, "Ready")->reason, "Suspended");

  // Resumed (an edit: generation 2) at 10:30:20: the minutes missed while suspended do
  // not run, and 10:30:00 (before the edit) does not either.
  auto o2 = Obs(R"("schedule": "* * * * *")", "2026-12-04T09:00:00Z", "2026-12-04T10:30:20Z");
  o2.status = d.status;
  o2.generation = 2;
  auto d2 = DecideSchedule(o2);
  EXPECT_FALSE(d2.create);
  EXPECT_TRUE(d2.events.empty());
  EXPECT_EQ(d2.status.schedule_since, At("2026-12-04T10:30:20Z"));
  EXPECT_EQ(d2.status.next_schedule_time, At("2026-12-04T10:31:00Z"));
}

TEST(Schedule, AnEditedCronDoesNotFireForATimeBeforeTheEdit) {
  auto o = Obs(R"("schedule": "0 10 * * *")", "2026-12-01T00:00:00Z", "2026-12-04T10:00:30Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-01T00:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T09:00:00Z");
  o.generation = 2;  // was "0 9 * * *"
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.status.next_schedule_time, At("2026-12-05T10:00:00Z"));
}

TEST(Schedule, LateRunsWithinTheDeadlineStartAndOlderOnesAreReportedMissed) {
  // Down from 10:00 to 10:05:20: 10:05 is 20 s late (within 60 s) and runs; 10:04 is the
  // latest missed one.
  auto o = Obs(R"("schedule": "* * * * *")", "2026-12-04T09:00:00Z", "2026-12-04T10:05:20Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-04T09:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T10:00:00Z");
  auto d = DecideSchedule(o);
  ASSERT_TRUE(d.create);
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T10:05:00Z"));
  EXPECT_EQ(d.status.last_missed_time, At("2026-12-04T10:04:00Z"));
  EXPECT_EQ(Reasons(d), (std::vector<std::string>{"MissedSchedule", "Scheduled"}));

  // With a 10 s deadline nothing runs: 10:05 itself is 20 s late. Reported once.
  auto o2 = Obs(R"("schedule": "* * * * *", "startingDeadlineSeconds": 10)", "2026-12-04T09:00:00Z",
                "2026-12-04T10:05:20Z");
  o2.status = o.status;
  auto d2 = DecideSchedule(o2);
  EXPECT_FALSE(d2.create);
  EXPECT_EQ(d2.status.last_missed_time, At("2026-12-04T10:05:00Z"));
  EXPECT_EQ(Reasons(d2), std::vector<std::string>{"MissedSchedule"});
  EXPECT_TRUE(DecideSchedule(Then(o2, d2, "2026-12-04T10:05:25Z")).events.empty());
}

TEST(Schedule, AMissedRunIsOneTheCronNamedEvenAfterLongDowntime) {
  // Monthly, the controller away 40 days: nothing was due in the week before the window,
  // and the run reported missed is the 1 January one, not an invented time.
  auto o = Obs(R"("schedule": "@monthly")", "2026-12-01T00:00:00Z", "2027-01-10T00:00:00Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-01T00:00:00Z");
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.status.last_missed_time, At("2027-01-01T00:00:00Z"));
}

TEST(Schedule, HistoryKeepsTheNewestFinishedRunsOfEachKind) {
  auto o = Obs(R"("schedule": "@hourly", "successfulHistoryLimit": 2, "failedHistoryLimit": 1)",
               "2026-12-04T00:00:00Z", "2026-12-04T09:30:00Z");
  o.runs = {Due("n-1", "2026-12-04T01:00:00Z", Phase::kCompleted),
            Due("n-2", "2026-12-04T02:00:00Z", Phase::kAborted),
            Due("n-3", "2026-12-04T03:00:00Z", Phase::kCompleted),
            Due("n-4", "2026-12-04T04:00:00Z", Phase::kFailed),
            Due("n-5", "2026-12-04T05:00:00Z", Phase::kCompleted),
            Due("n-6", "2026-12-04T06:00:00Z", Phase::kRejected),
            Due("n-7", "2026-12-04T07:00:00Z", Phase::kActive)};
  o.runs.push_back({"n-0", At("2026-12-04T00:30:00Z"), Phase::kCompleted, true});  // going
  auto d = DecideSchedule(o);
  std::sort(d.remove.begin(), d.remove.end());
  EXPECT_EQ(d.remove, (std::vector<std::string>{"n-1", "n-2", "n-4"}));
  EXPECT_EQ(d.status.active, std::vector<std::string>{"n-7"});
  EXPECT_EQ(d.status.last_successful_time, At("2026-12-04T05:00:00Z"));
}

TEST(Schedule, TheKillSwitchSkipsARun) {
  auto o = Obs(R"("schedule": "* * * * *")", "2026-12-04T10:00:30Z", "2026-12-04T10:01:01Z");
  o.kill_switch = "namespace poolguard-system: game day over";
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(Reasons(d), std::vector<std::string>{"SkippedKillSwitch"});
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T10:01:00Z"));
}

TEST(Schedule, EveryCountsFromTheLastRun) {
  auto o = Obs(R"("schedule": "@every 20s")", "2026-12-04T10:00:00Z", "2026-12-04T10:00:10Z");
  auto d0 = DecideSchedule(o);
  EXPECT_FALSE(d0.create);
  EXPECT_EQ(d0.status.next_schedule_time, At("2026-12-04T10:00:20Z"));
  auto d1 = DecideSchedule(Then(o, d0, "2026-12-04T10:00:21Z"));
  ASSERT_TRUE(d1.create);
  EXPECT_EQ(d1.create->at("metadata").at("name").as_string(), "nightly-1796378420");
  EXPECT_EQ(d1.status.next_schedule_time, At("2026-12-04T10:00:40Z"));
}

TEST(Schedule, EveryCountsFromTheResumeNotFromTheRunBeforeTheSuspend) {
  auto o = Obs(R"("schedule": "@every 20s")", "2026-12-04T10:00:00Z", "2026-12-04T10:05:07Z");
  o.status.observed_generation = 1;
  o.status.schedule_since = At("2026-12-04T10:00:00Z");
  o.status.last_schedule_time = At("2026-12-04T10:01:00Z");
  o.generation = 3;  // suspended, then resumed at 10:05:07
  auto d = DecideSchedule(o);
  EXPECT_FALSE(d.create);
  EXPECT_EQ(d.status.next_schedule_time, At("2026-12-04T10:05:27Z"));
}

TEST(Schedule, WallTimesAreReadInTheTimeZone) {
  auto o = Obs(R"("schedule": "0 9 * * *", "timeZone": "Europe/Berlin")", "2026-12-04T00:00:00Z",
               "2026-12-04T08:00:02Z");
  o.zone = TimeZone::FromPosix("CET-1CEST,M3.5.0,M10.5.0/3");
  auto d = DecideSchedule(o);
  ASSERT_TRUE(d.create);
  EXPECT_EQ(d.status.last_schedule_time, At("2026-12-04T08:00:00Z"));
  EXPECT_NE(d.events.back().message.find("2026-12-04 09:00 Europe/Berlin"), std::string::npos)
      << d.events.back().message;
}

TEST(Schedule, AnInvalidSpecOrZoneIsReportedOnceAndStartsNothing) {
  ScheduleObserved o;
  o.name = "nightly";
  o.ns = "shop";
  o.generation = 1;
  o.now = At("2026-12-04T10:00:00Z");
  o.spec = ParseScheduleSpec(Schedule(R"("schedule": "61 * * * *")"));
  ASSERT_FALSE(o.spec.spec);
  o.zone = TimeZone();
  auto d = DecideSchedule(o);
  const Condition* ready = FindCondition(d.status.conditions, "Ready");
  ASSERT_NE(ready, nullptr);
  EXPECT_EQ(ready->status, "False");
  EXPECT_EQ(ready->reason, "InvalidSpec");
  EXPECT_NE(ready->message.find("spec.schedule: Invalid value \"61 * * * *\""), std::string::npos);
  EXPECT_EQ(Reasons(d), std::vector<std::string>{"InvalidSpec"});
  EXPECT_TRUE(DecideSchedule(Then(o, d, "2026-12-04T10:01:00Z")).events.empty());

  auto z = Obs(R"("schedule": "* * * * *", "timeZone": "Mars/Olympus")", "2026-12-04T09:00:00Z",
               "2026-12-04T10:00:01Z");
  z.zone.reset();
  z.zone_error = "unknown time zone \"Mars/Olympus\" (no such zone in /usr/share/zoneinfo)";
  auto dz = DecideSchedule(z);
  EXPECT_FALSE(dz.create);
  EXPECT_NE(FindCondition(dz.status.conditions, "Ready")->message.find("spec.timeZone: unknown"),
            std::string::npos);
}

TEST(Schedule, SpecErrorsNameTheField) {
  struct Case {
    const char* fields;
    const char* says;
  };
  for (const Case& c : std::initializer_list<Case>{
           {R"("schedule": "")", "spec.schedule: Required value"},
           {R"("schedule": "* * *")", "spec.schedule: Invalid value"},
           {R"("schedule": "@daily", "timeZone": "../etc/passwd")", "spec.timeZone: Invalid value"},
           {R"("schedule": "@daily", "concurrencyPolicy": "Queue")",
            "spec.concurrencyPolicy: Unsupported value \"Queue\""},
           {R"("schedule": "@daily", "startingDeadlineSeconds": 0)",
            "spec.startingDeadlineSeconds: must be 1-86400"},
           {R"("schedule": "@daily", "successfulHistoryLimit": -1)",
            "spec.successfulHistoryLimit: must be 0-100"},
       }) {
    const auto p = ParseScheduleSpec(Schedule(c.fields));
    EXPECT_FALSE(p.spec) << c.fields;
    EXPECT_NE(p.error.find(c.says), std::string::npos) << c.fields << " → " << p.error;
  }
  // The template is checked as the experiment it becomes.
  auto bad = Parse(R"({"spec": {"schedule": "@daily", "experimentTemplate":
      {"spec": {"target": {}, "duration": "30s"}}}})");
  EXPECT_EQ(ParseScheduleSpec(bad).error,
            "spec.experimentTemplate.spec.target.deployment: Required value");
  EXPECT_EQ(ParseScheduleSpec(Parse(R"({"spec": {"schedule": "@daily"}})")).error,
            "spec.experimentTemplate: Required value");
}

}  // namespace
}  // namespace poolguard::controller
