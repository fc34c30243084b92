#include "remediation/workload.h"

#include <gtest/gtest.h>

namespace poolguard::controller {
namespace {

TEST(ReadRollout, ADeploymentMidRollout) {
  const auto d = Json::parse(R"({"kind":"Deployment","metadata":{"generation":4},
    "spec":{"replicas":3,"template":{"metadata":{"annotations":
      {"kubectl.kubernetes.io/restartedAt":"2027-01-15T08:00:00.250Z"}}}},
    "status":{"observedGeneration":4,"replicas":4,"updatedReplicas":2,"availableReplicas":3,
      "conditions":[{"type":"Progressing","status":"True","reason":"ReplicaSetUpdated"}]}})");
  const RolloutObservation r = ReadRollout(d);
  EXPECT_EQ(r.generation, 4);
  EXPECT_EQ(r.observed_generation, 4);
  EXPECT_EQ(r.replicas, 3);
  EXPECT_EQ(r.status_replicas, 4);
  EXPECT_EQ(r.updated_replicas, 2);
  EXPECT_EQ(r.available_replicas, 3);
  EXPECT_EQ(r.restarted_at, "2027-01-15T08:00:00.250Z");
  EXPECT_FALSE(r.progress_deadline_exceeded);
}

TEST(ReadRollout, AStuckDeploymentAndDefaults) {
  const auto d = Json::parse(R"({"kind":"Deployment","metadata":{"generation":2},"spec":{},
    "status":{"conditions":[{"type":"Progressing","status":"False",
                             "reason":"ProgressDeadlineExceeded"}]}})");
  const RolloutObservation r = ReadRollout(d);
  EXPECT_EQ(r.replicas, 1);  // spec.replicas defaults to 1
  EXPECT_EQ(r.observed_generation, 0);
  EXPECT_TRUE(r.progress_deadline_exceeded);
}

TEST(ReadRollout, AStatefulSetIsDoneOnlyWhenItsRevisionCaughtUp) {
  const auto s = Json::parse(R"({"kind":"StatefulSet","metadata":{"generation":3},
    "spec":{"replicas":1,"serviceName":"db"},
    "status":{"observedGeneration":3,"replicas":1,"updatedReplicas":1,"readyReplicas":1,
              "availableReplicas":0,"currentRevision":"db-1","updateRevision":"db-2"}})");
  const RolloutObservation r = ReadRollout(s);
  EXPECT_EQ(r.available_replicas, 1);  // readyReplicas for a StatefulSet
  EXPECT_EQ(r.updated_replicas, 0);    // db-1 is not db-2 yet
}

TEST(ReadEnvInt, TheFirstOrTheNamedContainersNumericValue) {
  const auto d = Json::parse(R"({"spec":{"template":{"spec":{"containers":[
    {"name":"api","env":[{"name":"DB_POOL_SIZE","value":"5"},{"name":"X","value":"a"}]},
    {"name":"sidecar","env":[{"name":"DB_POOL_SIZE","value":"9"}]}]}}}})");
  EXPECT_EQ(ReadEnvInt(d, "", "DB_POOL_SIZE"), 5);
  EXPECT_EQ(ReadEnvInt(d, "sidecar", "DB_POOL_SIZE"), 9);
  EXPECT_EQ(ReadEnvInt(d, "", "X"), std::nullopt);  // not a number
  EXPECT_EQ(ReadEnvInt(d, "", "MISSING"), std::nullopt);
  EXPECT_EQ(ReadEnvInt(d, "nope", "DB_POOL_SIZE"), std::nullopt);
  EXPECT_EQ(ReadEnvInt(Json::parse("{}"), "", "DB_POOL_SIZE"), std::nullopt);
}

}  // namespace
}  // namespace poolguard::controller
