// The control API's request rules, as tables: each bad body names its field.
#include "requests.h"

#include <gtest/gtest.h>

namespace poolguard::console {
namespace {

Invalid Bad(const std::variant<BreakDbPool, Invalid>& v) {
  EXPECT_TRUE(std::holds_alternative<Invalid>(v));
  return std::holds_alternative<Invalid>(v) ? std::get<Invalid>(v) : Invalid{};
}

TEST(ParseBreakDbPool, ReferenceDefaults) {
  auto v = ParseBreakDbPool(R"({"namespace":"shop"})");
  ASSERT_TRUE(std::holds_alternative<BreakDbPool>(v));
  const auto& r = std::get<BreakDbPool>(v);
  EXPECT_EQ(r.ns, "shop");
  EXPECT_EQ(r.connections, 20);  // the reference design's leaked_conns
  EXPECT_EQ(r.mode, "Idle");
  EXPECT_EQ(r.duration, "2m");
  EXPECT_EQ(r.name, "");
}

TEST(ParseBreakDbPool, EachBadFieldIsNamed) {
  struct Case {
    const char* body;
    const char* field;
    const char* words;
  };
  const Case cases[] = {
      {"", "body", "required"},
      {"{", "body", "not valid JSON"},
      {"[]", "body", "JSON object"},
      {R"({})", "namespace", "required"},
      {R"({"namespace":"Shop"})", "namespace", "not a valid name"},
      {R"({"namespace":7})", "namespace", "must be a string"},
      {R"({"namespace":"a","connections":0})", "connections", "between 1 and 10000"},
      {R"({"namespace":"a","connections":10001})", "connections", "between 1 and 10000"},
      {R"({"namespace":"a","connections":"5"})", "connections", "integer"},
      {R"({"namespace":"a","connections":2.5})", "connections", "integer"},
      {R"({"namespace":"a","mode":"Hold"})", "mode", "Idle, IdleInTransaction or LockTable"},
      {R"({"namespace":"a","mode":"LockTable"})", "table", "required when mode is LockTable"},
      {R"({"namespace":"a","table":"items"})", "table", "only used when mode is LockTable"},
      {R"({"namespace":"a","duration":"forever"})", "duration", "90s, 2m"},
      {R"({"namespace":"a","duration":"25h"})", "duration", "from 1s to 24h"},
      {R"({"namespace":"a","duration":"500ms"})", "duration", "from 1s to 24h"},
      {R"({"namespace":"a","name":"Bad_Name"})", "name", "not a valid name"},
      {R"({"namespace":"a","target":"../x"})", "target", "not a valid name"},
      {R"({"namespace":"a","conections":3})", "conections", "unknown field"},
      // fuzz/corpus/console_requests/regression-empty-key: an empty name is still named.
      {R"({"":"$","namespace":"a"})", "\"\"", "unknown field"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body);
    const Invalid bad = Bad(ParseBreakDbPool(c.body));
    EXPECT_EQ(bad.field, c.field);
    EXPECT_NE(bad.message.find(c.words), std::string::npos) << bad.message;
  }
}

TEST(ParseBreakDbPool, LockTableWithItsTable) {
  auto v = ParseBreakDbPool(
      R"({"namespace":"a","mode":"LockTable","table":"public.items","connections":1,"duration":"1h30m","name":"lock-1"})");
  ASSERT_TRUE(std::holds_alternative<BreakDbPool>(v));
  EXPECT_EQ(std::get<BreakDbPool>(v).table, "public.items");
  EXPECT_EQ(std::get<BreakDbPool>(v).duration, "1h30m");
}

Json Rem(const std::string& name, const std::string& deployment) {
  return Json::parse(
      R"({"metadata":{"name":")" + name + R"("},"spec":{"target":{"deployment":")" + deployment +
      R"("},"database":{"service":"db","port":5432,"credentialsSecret":"creds","statefulSet":"db"}}})");
}

TEST(PickRemediation, TheOnlyOneByNameOrByTarget) {
  const std::vector<Json> one{Rem("api", "api")};
  ASSERT_TRUE(std::holds_alternative<Json>(PickRemediation(one, "", "")));
  const std::vector<Json> two{Rem("api", "api"), Rem("orders", "orders-svc")};
  auto by_target = PickRemediation(two, "", "orders-svc");
  ASSERT_TRUE(std::holds_alternative<Json>(by_target));
  EXPECT_EQ(std::get<Json>(by_target).at("metadata").at("name").as_string(), "orders");
  auto by_name = PickRemediation(two, "api", "");
  ASSERT_TRUE(std::holds_alternative<Json>(by_name));

  auto several = PickRemediation(two, "", "");
  ASSERT_TRUE(std::holds_alternative<Invalid>(several));
  EXPECT_EQ(std::get<Invalid>(several).field, "remediation");
  EXPECT_NE(std::get<Invalid>(several).message.find("api, orders"), std::string::npos);
  auto none = PickRemediation({}, "", "");
  ASSERT_TRUE(std::holds_alternative<Invalid>(none));
  EXPECT_EQ(std::get<Invalid>(none).field, "namespace");
  auto unknown = PickRemediation(two, "", "web");
  ASSERT_TRUE(std::holds_alternative<Invalid>(unknown));
  EXPECT_EQ(std::get<Invalid>(unknown).field, "target");
  auto wrong = PickRemediation(two, "nope", "");
  ASSERT_TRUE(std::holds_alternative<Invalid>(wrong));
  EXPECT_EQ(std::get<Invalid>(wrong).field, "remediation");
}

TEST(ChaosExperimentFor, TargetAndDatabaseFromTheRemediationAndWhoAsked) {
  BreakDbPool r;
  r.ns = "shop";
  r.mode = "LockTable";
  r.table = "items";
  r.connections = 1;
  r.duration = "90s";
  const Json x = ChaosExperimentFor(r, Rem("orders", "orders-svc"), "alice");
  EXPECT_EQ(x.at("kind").as_string(), "ChaosExperiment");
  EXPECT_EQ(x.at("metadata").at("generateName").as_string(), "db-pool-");
  EXPECT_EQ(x.at("metadata").at("namespace").as_string(), "shop");
  EXPECT_EQ(x.at("metadata").at("labels").at(kStartedByLabel).as_string(), "console");
  EXPECT_EQ(x.at("metadata").at("annotations").at(kRequestedByAnnotation).as_string(), "alice");
  const Json& spec = x.at("spec");
  EXPECT_EQ(spec.at("target").at("deployment").as_string(), "orders-svc");
  EXPECT_EQ(spec.at("database").at("service").as_string(), "db");
  EXPECT_EQ(spec.at("database").at("port").as_integer(), 5432);
  EXPECT_EQ(spec.at("database").at("credentialsSecret").as_string(), "creds");
  EXPECT_FALSE(spec.at("database").has_field("statefulSet"));  // not a ChaosExperiment field
  EXPECT_EQ(spec.at("fault").at("connectionLeak").at("mode").as_string(), "LockTable");
  EXPECT_EQ(spec.at("fault").at("connectionLeak").at("table").as_string(), "items");
  EXPECT_EQ(spec.at("duration").as_string(), "90s");
  r.name = "lock-1";
  EXPECT_EQ(ChaosExperimentFor(r, Rem("orders", "orders-svc"), "alice")
                .at("metadata")
                .at("name")
                .as_string(),
            "lock-1");
}

Json Awaiting(const std::string& phase, const std::string& incident) {
  return Json::parse(R"({"metadata":{"name":"api"},"status":{"phase":")" + phase +
                     R"(","incident":{"id":")" + incident + R"("}}})");
}

TEST(DecisionPatch, ApprovesTheOpenIncidentAndSaysWho) {
  RemediationRef ref{"shop", "api", ""};
  auto patch = DecisionPatch(Awaiting("AwaitingApproval", "20261204T101010Z"), ref,
                             Decision::kApprove, "alice");
  ASSERT_TRUE(std::holds_alternative<Json>(patch));
  const Json& a = std::get<Json>(patch).at("metadata").at("annotations");
  EXPECT_EQ(a.at(kApproveAnnotation).as_string(), "20261204T101010Z");
  EXPECT_EQ(a.at(kDecidedByAnnotation).as_string(), "20261204T101010Z/alice");
  EXPECT_FALSE(a.has_field(kRejectAnnotation));

  auto reject = DecisionPatch(Awaiting("AwaitingApproval", "i1"), ref, Decision::kReject, "bob");
  ASSERT_TRUE(std::holds_alternative<Json>(reject));
  EXPECT_EQ(
      std::get<Json>(reject).at("metadata").at("annotations").at(kRejectAnnotation).as_string(),
      "i1");
}

TEST(DecisionPatch, RefusesWhenNothingWaitsOrTheIncidentIsStale) {
  RemediationRef ref{"shop", "api", ""};
  auto watching = DecisionPatch(Awaiting("Watching", "i1"), ref, Decision::kApprove, "alice");
  ASSERT_TRUE(std::holds_alternative<Invalid>(watching));
  EXPECT_NE(std::get<Invalid>(watching).message.find("Watching, not AwaitingApproval"),
            std::string::npos);
  ref.incident = "i0";
  auto stale = DecisionPatch(Awaiting("AwaitingApproval", "i1"), ref, Decision::kApprove, "alice");
  ASSERT_TRUE(std::holds_alternative<Invalid>(stale));
  EXPECT_EQ(std::get<Invalid>(stale).field, "incident");
}

TEST(ManualActions, TheReferenceDesignsRoutes) {
  EXPECT_EQ(ActionForRoute("restart-api"), "RestartDeployment");
  EXPECT_EQ(ActionForRoute("restart-db"), "RestartDatabase");
  EXPECT_EQ(ActionForRoute("increase-pool"), "IncreasePoolSize");
  EXPECT_EQ(ActionForRoute("terminate-blockers"), "TerminateBlockingSessions");
  EXPECT_EQ(ActionForRoute("approve"), "");
  const Json p = ManualActionPatch("20261204T111500Z-0a1b2c", "RestartDeployment", "alice");
  EXPECT_EQ(p.at("metadata").at("annotations").at(kRequestActionAnnotation).as_string(),
            "20261204T111500Z-0a1b2c/RestartDeployment/alice");
}

TEST(ParseRefs, RequiredNamesAndUnknownFields) {
  auto ok = ParseExperimentRef(R"({"namespace":"a","name":"db-pool-x7"})");
  ASSERT_TRUE(std::holds_alternative<ExperimentRef>(ok));
  auto missing = ParseExperimentRef(R"({"namespace":"a"})");
  ASSERT_TRUE(std::holds_alternative<Invalid>(missing));
  EXPECT_EQ(std::get<Invalid>(missing).field, "name");
  auto rem = ParseRemediationRef(R"({"namespace":"a"})");
  ASSERT_TRUE(std::holds_alternative<Invalid>(rem));
  EXPECT_EQ(std::get<Invalid>(rem).field, "remediation");
  auto extra = ParseRemediationRef(R"({"namespace":"a","remediation":"api","force":true})");
  ASSERT_TRUE(std::holds_alternative<Invalid>(extra));
  EXPECT_EQ(std::get<Invalid>(extra).field, "force");
}

TEST(Names, DnsRules) {
  EXPECT_TRUE(IsDnsLabel("poolguard-demo"));
  EXPECT_FALSE(IsDnsLabel("-a"));
  EXPECT_FALSE(IsDnsLabel("a.b"));
  EXPECT_FALSE(IsDnsLabel(std::string(64, 'a')));
  EXPECT_TRUE(IsDnsSubdomain("a.b-c"));
  EXPECT_FALSE(IsDnsSubdomain("a..b"));
  EXPECT_FALSE(IsDnsSubdomain("a/b"));
  EXPECT_TRUE(IsExperimentDuration("1s"));
  EXPECT_TRUE(IsExperimentDuration("24h"));
  EXPECT_FALSE(IsExperimentDuration("24h1s"));
  EXPECT_FALSE(IsExperimentDuration("5"));
}

TEST(UserFromReview, ReadsTheUserName) {
  EXPECT_EQ(UserFromReview(
                Json::parse(R"({"status":{"userInfo":{"username":"system:serviceaccount:a:b"}}})")),
            "system:serviceaccount:a:b");
  EXPECT_EQ(UserFromReview(Json::parse(R"({"status":{}})")), "");
}

}  // namespace
}  // namespace poolguard::console
