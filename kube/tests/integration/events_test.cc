// The event recorder against the real API server: repeats aggregate into one Event.

#include "poolguard/kube/events.h"

#include <gtest/gtest.h>

#include "cluster_fixture.h"

namespace poolguard::kube::testing {
namespace {

class EventsTest : public ClusterTest {};

TEST_F(EventsTest, RepeatsAggregateIntoOneEventWithACount) {
  Json cm =
      client_->Resource({"", "v1", "configmaps", true}, ns_)
          .Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"subject"}})"));
  {
    EventRecorderOptions o;
    o.component = "kubetest";
    o.host = "test-host";
    EventRecorder rec(NewClientEventSink(client_), o);
    for (int i = 0; i < 5; ++i) rec.Record(cm, "Warning", "PoolExhausted", "pool has 0 free");
    rec.Record(cm, "Normal", "Recovered", "pool healthy");
    rec.Flush();
    EXPECT_EQ(rec.Written(), 6u);
  }
  ListOptions o;
  o.field_selector = "involvedObject.name=subject";
  ObjectList events = client_->Resource({"", "v1", "events", true}, ns_).List(o);
  ASSERT_EQ(events.items.size(), 2u);
  for (const auto& ev : events.items) {
    EXPECT_EQ(ev.at("involvedObject").at("uid").as_string(), UidOf(cm));
    EXPECT_EQ(ev.at("source").at("component").as_string(), "kubetest");
    if (ev.at("reason").as_string() == "PoolExhausted") {
      EXPECT_EQ(ev.at("count").as_integer(), 5);
      EXPECT_EQ(ev.at("type").as_string(), "Warning");
      EXPECT_EQ(ev.at("message").as_string(), "pool has 0 free");
    } else {
      EXPECT_EQ(ev.at("reason").as_string(), "Recovered");
      EXPECT_EQ(ev.at("count").as_integer(), 1);
    }
  }
}

}  // namespace
}  // namespace poolguard::kube::testing
