// Issue 14: what people are told, when, and in which shape.
#include "core/notification.h"

#include <gtest/gtest.h>

#include "chaos/notify.h"
#include "remediation/notify.h"

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;
const WallTime kT0 = std::chrono::system_clock::from_time_t(1'800'000'000);

RemediationStatus Status(RemediationPhase phase, const std::string& id, std::string message = "") {
  RemediationStatus st;
  st.phase = phase;
  st.message = std::move(message);
  if (!id.empty()) {
    st.incident = Incident{};
    st.incident->id = id;
    st.incident->detected_at = kT0 - 10s;
    st.incident->detection_seconds = 2.5;
    Diagnosis d;
    d.conclusion = Conclusion::kLockContention;
    st.incident->diagnosis = d;
  }
  return st;
}

TEST(RemediationNotification, OnlyWhenAPersonIsNeededOrItIsOver) {
  const auto watching = Status(RemediationPhase::kWatching, "");
  const auto diagnosing = Status(RemediationPhase::kDiagnosing, "i1");
  const auto awaiting = Status(RemediationPhase::kAwaitingApproval, "i1",
                               "RestartDatabase needs approval: set the annotation ...");
  auto n = RemediationNotification("shop", "api", "api", diagnosing, awaiting, kT0);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event, "AwaitingApproval");
  EXPECT_EQ(n->incident, "i1");
  EXPECT_EQ(n->pending_action, "RestartDatabase");
  EXPECT_EQ(n->conclusion, "LockContention");
  EXPECT_EQ(n->Key(), "Remediation/shop/api/i1/AwaitingApproval");
  // The same phase for the same incident: once only.
  EXPECT_FALSE(RemediationNotification("shop", "api", "api", awaiting, awaiting, kT0));
  // Phases nobody needs to hear of.
  EXPECT_FALSE(RemediationNotification("shop", "api", "api", watching, diagnosing, kT0));

  auto exhausted = Status(RemediationPhase::kExhausted, "i1", "incident i1: every rung tried");
  n = RemediationNotification("shop", "api", "api", awaiting, exhausted, kT0);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event, "NeedsHuman");
  EXPECT_FALSE(n->resolved);

  auto resolved = Status(RemediationPhase::kResolved, "i1");
  resolved.incident->recovery_seconds = 8.4;
  n = RemediationNotification("shop", "api", "api", Status(RemediationPhase::kVerifying, "i1"),
                              resolved, kT0);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event, "Resolved");
  EXPECT_TRUE(n->resolved);
  EXPECT_EQ(n->recovery_seconds, 8.4);
  // A new incident that goes straight to the same phase is news again.
  EXPECT_TRUE(RemediationNotification("shop", "api", "api", resolved,
                                      Status(RemediationPhase::kResolved, "i2"), kT0));
}

TEST(ChaosNotification, RejectedAndFailedOnly) {
  ChaosStatus after;
  after.phase = Phase::kRejected;
  after.reason = "CapacityExceeded";
  after.message = "20 connections do not fit";
  auto n = ChaosNotification("shop", "leak", "api", Phase::kPending, after, kT0);
  ASSERT_TRUE(n);
  EXPECT_EQ(n->event, "Rejected");
  EXPECT_EQ(n->message, "CapacityExceeded: 20 connections do not fit");
  EXPECT_FALSE(ChaosNotification("shop", "leak", "api", Phase::kRejected, after, kT0));
  after.phase = Phase::kCompleted;
  EXPECT_FALSE(ChaosNotification("shop", "leak", "api", Phase::kActive, after, kT0));
  after.phase = Phase::kFailed;
  EXPECT_TRUE(ChaosNotification("shop", "leak", "api", Phase::kActive, after, kT0));
}

Notification Awaiting() {
  Notification n;
  n.kind = "Remediation";
  n.event = "AwaitingApproval";
  n.ns = "shop";
  n.name = "api";
  n.incident = "20270115T080000Z";
  n.target = "api";
  n.message = "RestartDatabase needs approval";
  n.conclusion = "LockContention";
  n.pending_action = "RestartDatabase";
  n.detection_seconds = 2.5;
  n.at = kT0;
  n.started = kT0 - 10s;
  return n;
}

TEST(SlackPayload, SaysWhatWaitsAndLinksTheConsole) {
  const Json p = SlackPayload(Awaiting(), "http://console.example:8080/");
  const std::string text = p.at("text").as_string();
  EXPECT_NE(text.find("Remediation shop/api needs approval for RestartDatabase (incident "
                      "20270115T080000Z)"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("http://console.example:8080/?select=shop/api"), std::string::npos);
  const std::string block = p.at("blocks").at(0).at("text").at("text").as_string();
  EXPECT_NE(block.find("diagnosis LockContention"), std::string::npos) << block;
  EXPECT_NE(block.find("detected in 2.5 s"), std::string::npos) << block;
  // No console URL: no link.
  EXPECT_EQ(SlackPayload(Awaiting(), "").at("text").as_string().find("http"), std::string::npos);
}

TEST(AlertmanagerPayload, VersionFourFiringThenResolved) {
  const Json p = AlertmanagerPayload(Awaiting(), "http://console.example:8080");
  EXPECT_EQ(p.at("version").as_string(), "4");
  EXPECT_EQ(p.at("status").as_string(), "firing");
  const Json& alert = p.at("alerts").at(0);
  EXPECT_EQ(alert.at("labels").at("alertname").as_string(), "PoolGuardAwaitingApproval");
  EXPECT_EQ(alert.at("labels").at("namespace").as_string(), "shop");
  EXPECT_EQ(alert.at("labels").at("remediation").as_string(), "api");
  EXPECT_EQ(alert.at("labels").at("incident").as_string(), "20270115T080000Z");
  EXPECT_EQ(alert.at("labels").at("severity").as_string(), "warning");
  EXPECT_EQ(alert.at("annotations").at("pending_action").as_string(), "RestartDatabase");
  EXPECT_EQ(alert.at("startsAt").as_string(), FormatTime(kT0 - 10s));
  EXPECT_EQ(alert.at("endsAt").as_string(), "0001-01-01T00:00:00Z");
  EXPECT_EQ(alert.at("generatorURL").as_string(), "http://console.example:8080/?select=shop/api");

  Notification done = Awaiting();
  done.event = "Resolved";
  done.resolved = true;
  const Json r = AlertmanagerPayload(done, "");
  EXPECT_EQ(r.at("status").as_string(), "resolved");
  EXPECT_EQ(r.at("alerts").at(0).at("endsAt").as_string(), FormatTime(kT0));
  EXPECT_EQ(r.at("alerts").at(0).at("labels").at("severity").as_string(), "info");
}

TEST(CheckWebhookUrl, HttpOrHttpsWithAHost) {
  EXPECT_EQ(CheckWebhookUrl("https://hooks.slack.com/services/T/B/x"), "");
  EXPECT_EQ(CheckWebhookUrl("http://alertmanager:9093/api/v2/alerts"), "");
  EXPECT_NE(CheckWebhookUrl("ftp://x"), "");
  EXPECT_NE(CheckWebhookUrl("http://"), "");
  EXPECT_NE(CheckWebhookUrl("http:///path"), "");
  EXPECT_NE(CheckWebhookUrl("http://a b"), "");
  EXPECT_NE(CheckWebhookUrl("http://x/" + std::string(3000, 'a')), "");
  EXPECT_EQ(ParseWebhookFormat("alertmanager"), WebhookFormat::kAlertmanager);
  EXPECT_EQ(ParseWebhookFormat(""), WebhookFormat::kSlack);
  EXPECT_FALSE(ParseWebhookFormat("teams"));
}

}  // namespace
}  // namespace poolguard::controller
