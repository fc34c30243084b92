#include "chaos/types.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

Json J(const std::string& s) { return Json::parse(s); }

TEST(Duration, Parses) {
  EXPECT_EQ(ParseDuration("90s"), 90s);
  EXPECT_EQ(ParseDuration("2m"), 120s);
  EXPECT_EQ(ParseDuration("1h30m"), 5400s);
  EXPECT_EQ(ParseDuration("250ms"), 250ms);
  EXPECT_EQ(ParseDuration("1.5s"), 1500ms);
  EXPECT_FALSE(ParseDuration(""));
  EXPECT_FALSE(ParseDuration("10"));
  EXPECT_FALSE(ParseDuration("5d"));
  EXPECT_FALSE(ParseDuration("-1s"));
  EXPECT_EQ(FormatDuration(90s), "1m30s");
  EXPECT_EQ(FormatDuration(0ms), "0s");
}

struct SpecCase {
  std::string name;
  std::string spec;
  std::string error;  // empty: valid
};

void PrintTo(const SpecCase& c, std::ostream* os) { *os << c.name; }

class SpecTable : public ::testing::TestWithParam<SpecCase> {};

TEST_P(SpecTable, Parses) {
  const auto& c = GetParam();
  const auto r = ParseChaosSpec(J("{\"spec\":" + c.spec + "}"));
  if (c.error.empty()) {
    EXPECT_TRUE(r.spec) << r.error;
  } else {
    EXPECT_FALSE(r.spec);
    EXPECT_NE(r.error.find(c.error), std::string::npos) << r.error;
  }
}

const std::string kBase =
    R"("target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},"duration":"30s")";

INSTANTIATE_TEST_SUITE_P(
    Specs, SpecTable,
    ::testing::Values(
        SpecCase{"IdleLeak",
                 "{" + kBase +
                     R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
                 ""},
        SpecCase{
            "LockTableNeedsTable",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable"}}})",
            "spec.fault.connectionLeak.table"},
        SpecCase{"LeakNeedsBlock", "{" + kBase + R"(,"fault":{"type":"ConnectionLeak"}})",
                 "spec.fault.connectionLeak: Required"},
        SpecCase{
            "BadTable",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable","table":"x; drop"}}})",
            "spec.fault.connectionLeak.table: Invalid"},
        SpecCase{"UnknownType", "{" + kBase + R"(,"fault":{"type":"Meteor"}})", "spec.fault.type"},
        SpecCase{"CredentialRotation", "{" + kBase + R"(,"fault":{"type":"CredentialRotation"}})",
                 ""},
        SpecCase{
            "CredentialRotationKeepingSessions",
            "{" + kBase +
                R"(,"fault":{"type":"CredentialRotation","credentialRotation":{"terminateSessions":false}}})",
            ""},
        SpecCase{"DatabaseDown", "{" + kBase + R"(,"fault":{"type":"DatabaseDown"}})", ""},
        SpecCase{
            "DatabaseDownHung",
            "{" + kBase + R"(,"fault":{"type":"DatabaseDown","databaseDown":{"mode":"Hung"}}})",
            ""},
        SpecCase{
            "DatabaseDownFrozen",
            "{" + kBase + R"(,"fault":{"type":"DatabaseDown","databaseDown":{"mode":"Frozen"}}})",
            "spec.fault.databaseDown.mode: Unsupported value \"Frozen\": supported values: "
            "\"Stopped\", \"Hung\""},
        SpecCase{"DatabaseDownBadName",
                 "{" + kBase +
                     R"(,"fault":{"type":"DatabaseDown","databaseDown":{"statefulSet":"db/x"}}})",
                 "spec.fault.databaseDown.statefulSet: Invalid value"},
        SpecCase{"NetworkPartition", "{" + kBase + R"(,"fault":{"type":"NetworkPartition"}})", ""},
        SpecCase{
            "NetworkPartitionOfAnotherService",
            "{" + kBase +
                R"(,"fault":{"type":"NetworkPartition","networkPartition":{"service":"db-rw","terminateSessions":false}}})",
            ""},
        SpecCase{
            "NetworkPartitionBadName",
            "{" + kBase +
                R"(,"fault":{"type":"NetworkPartition","networkPartition":{"service":"db.x"}}})",
            "spec.fault.networkPartition.service: Invalid value"},
        SpecCase{
            "PartitionBlockOnALeak",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1},"networkPartition":{}}})",
            "spec.fault.networkPartition: Forbidden"},
        SpecCase{
            "StopConditions",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},"stopConditions":{"remediationNeedsHuman":true,"prometheus":{"url":"http://p:9090","query":"up","above":1,"for":"30s"}}})",
            ""},
        SpecCase{
            "StopConditionHttps",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},"stopConditions":{"prometheus":{"url":"https://p:9090","query":"up","above":1}}})",
            "spec.stopConditions.prometheus.url: Invalid value"},
        SpecCase{
            "StopConditionWithoutBound",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}},"stopConditions":{"prometheus":{"url":"http://p:9090","query":"up"}}})",
            "spec.stopConditions.prometheus.above: Required value"},
        // A block for another type is a mistake the schema refuses; so does the controller.
        SpecCase{
            "RotationWithALeakBlock",
            "{" + kBase +
                R"(,"fault":{"type":"CredentialRotation","connectionLeak":{"connections":3}}})",
            "spec.fault.connectionLeak: Forbidden"},
        SpecCase{
            "LeakWithARotationBlock",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3},"credentialRotation":{}}})",
            "spec.fault.credentialRotation: Forbidden"},
        SpecCase{
            "SurgeNeedsService",
            "{" + kBase + R"(,"fault":{"type":"TrafficSurge","trafficSurge":{"concurrency":4}}})",
            "spec.target.service"},
        SpecCase{
            "DurationTooLong",
            R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c"},"duration":"25h","fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
            "spec.duration"},
        SpecCase{
            "NoSecret",
            R"({"target":{"deployment":"api"},"database":{"service":"db"},"duration":"1m","fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
            "spec.database.credentialsSecret"},
        // A system catalog: locking it stops every session on the server.
        SpecCase{
            "CatalogTable",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable","table":"pg_catalog.pg_class"}}})",
            "a system catalog"},
        SpecCase{
            "UnqualifiedCatalogTable",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable","table":"PG_CLASS"}}})",
            "a system catalog"},
        SpecCase{
            "InformationSchema",
            "{" + kBase +
                R"(,"fault":{"type":"ConnectionLeak","connectionLeak":{"connections":1,"mode":"LockTable","table":"information_schema.tables"}}})",
            "a system catalog"},
        // Names reach URL paths: only what Kubernetes allows.
        SpecCase{
            "DeploymentNotADnsName",
            R"({"target":{"deployment":"api/../x"},"database":{"service":"db","credentialsSecret":"c"},"duration":"1m","fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
            "spec.target.deployment: Invalid value \"api/../x\""},
        SpecCase{
            "ServiceNotADnsLabel",
            R"({"target":{"deployment":"api"},"database":{"service":"db.x","credentialsSecret":"c"},"duration":"1m","fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
            "spec.database.service: Invalid value"},
        SpecCase{
            "SecretWithAQuery",
            R"({"target":{"deployment":"api"},"database":{"service":"db","credentialsSecret":"c?x=1"},"duration":"1m","fault":{"type":"ConnectionLeak","connectionLeak":{"connections":3}}})",
            "spec.database.credentialsSecret: Invalid value"}),
    [](const auto& tc) { return tc.param.name; });

TEST(Status, RoundTrips) {
  ChaosStatus s;
  s.phase = Phase::kActive;
  s.reason = "Injected";
  s.observed_generation = 3;
  s.started_at = TruncateToSeconds(std::chrono::system_clock::now());
  s.ends_at = *s.started_at + 60s;
  s.leaked_connections = 7;
  s.application_name = "poolguard-chaos/a/b";
  s.password_rotated = false;  // false is said, not left out: "set back" is news
  s.rotated_role = "app";
  s.service_partitioned = true;
  s.partitioned_service = "db";
  SetCondition(&s.conditions, {"FaultActive", "True", "Injected", "m", {}, 3}, *s.started_at);
  Json obj = Json::object();
  obj["status"] = ToJson(s);
  EXPECT_TRUE(ParseChaosStatus(obj) == s);
}

TEST(NetworkPartition, DefaultsToTheDatabaseServiceAndEndingSessions) {
  const auto r =
      ParseChaosSpec(J("{\"spec\":{" + kBase + R"(,"fault":{"type":"NetworkPartition"}}})"));
  ASSERT_TRUE(r.spec) << r.error;
  EXPECT_EQ(r.spec->partition_service, "db");
  EXPECT_TRUE(r.spec->terminate_sessions);
  EXPECT_EQ(r.spec->Want(), 1);
}

TEST(ApplicationName, FitsPostgresLimit) {
  EXPECT_EQ(ApplicationName("ns", "x"), "poolguard-chaos/ns/x");
  const std::string a = ApplicationName(std::string(60, 'a'), std::string(60, 'b'));
  const std::string b = ApplicationName(std::string(60, 'a'), std::string(59, 'b') + "c");
  EXPECT_EQ(a.size(), 63u);
  EXPECT_NE(a, b);
}

}  // namespace
}  // namespace poolguard::controller
