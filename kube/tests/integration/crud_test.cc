// CRUD, patches, subresources and error mapping against the real API server.

#include <gtest/gtest.h>

#include <set>

#include "cluster_fixture.h"
#include "poolguard/kube/client.h"

namespace poolguard::kube::testing {
namespace {

using namespace std::chrono_literals;

const GroupVersionResource kCrds{"apiextensions.k8s.io", "v1", "customresourcedefinitions", false};
const GroupVersionResource kWidgets{"kubetest.poolguard.dev", "v1", "widgets", true};
const GroupVersionResource kDeployments{"apps", "v1", "deployments", true};
const GroupVersionResource kConfigMaps{"", "v1", "configmaps", true};

const char* kWidgetCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.kubetest.poolguard.dev"},
  "spec": {
    "group": "kubetest.poolguard.dev", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "listKind": "WidgetList"},
    "versions": [{
      "name": "v1", "served": true, "storage": true,
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "properties": {
          "replicas": {"type": "integer", "minimum": 0},
          "color": {"type": "string"},
          "tags": {"type": "array", "items": {"type": "string"}}}},
        "status": {"type": "object", "properties": {
          "replicas": {"type": "integer"}, "phase": {"type": "string"}}}}}},
      "subresources": {"status": {}, "scale": {
        "specReplicasPath": ".spec.replicas", "statusReplicasPath": ".status.replicas"}}
    }]
  }
})";

class CrudTest : public ClusterTest {
 protected:
  // Installs the Widget CRD once per process and waits until it is served.
  void EnsureWidgetCrd() {
    auto crds = client_->Resource(kCrds);
    try {
      crds.Create(J(kWidgetCrd));
    } catch (const ApiError& e) {
      ASSERT_TRUE(IsAlreadyExists(e)) << e.what();
    }
    bool served = Eventually(
        [&] {
          try {
            client_->Resource(kWidgets, ns_).List();
            return true;
          } catch (const ApiError&) {
            return false;
          }
        },
        30s);
    ASSERT_TRUE(served) << "Widget CRD never became served";
  }

  Json Widget(const std::string& name, int replicas) {
    return J(R"({"apiVersion":"kubetest.poolguard.dev/v1","kind":"Widget","metadata":{"name":")" +
             name + R"(","labels":{"app":"kubetest"}},"spec":{"replicas":)" +
             std::to_string(replicas) + R"(,"color":"blue","tags":["a"]}})");
  }
};

TEST_F(CrudTest, CustomResourceLifecycle) {
  EnsureWidgetCrd();
  auto widgets = client_->Resource(kWidgets, ns_);

  Json created = widgets.Create(Widget("w1", 1));
  EXPECT_EQ(NameOf(created), "w1");
  EXPECT_EQ(NamespaceOf(created), ns_);
  EXPECT_FALSE(UidOf(created).empty());

  // Create again: AlreadyExists, with the server's message.
  try {
    widgets.Create(Widget("w1", 1));
    FAIL() << "expected AlreadyExists";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsAlreadyExists(e)) << e.what();
    EXPECT_EQ(e.http_status(), 409);
    EXPECT_NE(e.message().find("\"w1\" already exists"), std::string::npos) << e.message();
  }

  Json got = widgets.Get("w1");
  EXPECT_EQ(got.at("spec").at("replicas").as_integer(), 1);

  // List with a label selector and a field selector.
  widgets.Create(J(R"({"apiVersion":"kubetest.poolguard.dev/v1","kind":"Widget",)"
                   R"("metadata":{"name":"other","labels":{"app":"else"}},"spec":{}})"));
  ListOptions by_label;
  by_label.label_selector = "app=kubetest";
  ObjectList labelled = widgets.List(by_label);
  ASSERT_EQ(labelled.items.size(), 1u);
  EXPECT_EQ(NameOf(labelled.items[0]), "w1");
  EXPECT_FALSE(labelled.resource_version.empty());
  ListOptions by_field;
  by_field.field_selector = "metadata.name=other";
  ASSERT_EQ(widgets.List(by_field).items.size(), 1u);

  // Update is compare-and-swap on resourceVersion: a stale copy gets Conflict.
  Json stale = got;
  got["spec"]["color"] = Json::string("red");
  Json updated = widgets.Update(got);
  EXPECT_EQ(updated.at("spec").at("color").as_string(), "red");
  EXPECT_NE(ResourceVersionOf(updated), ResourceVersionOf(stale));
  stale["spec"]["color"] = Json::string("green");
  try {
    widgets.Update(stale);
    FAIL() << "expected Conflict for a stale resourceVersion";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsConflict(e)) << e.what();
    EXPECT_NE(e.message().find("the object has been modified"), std::string::npos) << e.message();
  }

  // JSON merge patch.
  Json merged = widgets.Patch("w1", PatchType::kMerge, J(R"({"spec":{"color":"yellow"}})"));
  EXPECT_EQ(merged.at("spec").at("color").as_string(), "yellow");
  EXPECT_EQ(merged.at("spec").at("replicas").as_integer(), 1);

  // JSON patch (RFC 6902), including a failing test op → error from the server.
  Json patched = widgets.Patch(
      "w1", PatchType::kJson,
      J(R"([{"op":"add","path":"/spec/tags/-","value":"b"},{"op":"replace","path":"/spec/replicas","value":2}])"));
  EXPECT_EQ(patched.at("spec").at("tags").size(), 2u);
  EXPECT_EQ(patched.at("spec").at("replicas").as_integer(), 2);
  EXPECT_THROW(widgets.Patch("w1", PatchType::kJson,
                             J(R"([{"op":"test","path":"/spec/color","value":"nope"}])")),
               ApiError);

  // Server-side apply with a field manager. The field was last set by an Update (owned by
  // the client's own manager), so taking it over needs force; a second applier then
  // conflicts with kubetest-a unless it forces too.
  Json mine = J(R"({"apiVersion":"kubetest.poolguard.dev/v1","kind":"Widget",)"
                R"("metadata":{"name":"w1"},"spec":{"color":"purple"}})");
  try {
    widgets.Apply(mine, "kubetest-a");
    FAIL() << "expected an apply conflict with the updater";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsConflict(e)) << e.what();
  }
  Json applied = widgets.Apply(mine, "kubetest-a", true);
  EXPECT_EQ(applied.at("spec").at("color").as_string(), "purple");
  bool has_manager = false;
  for (const auto& mf : applied.at("metadata").at("managedFields").as_array()) {
    if (mf.at("manager").as_string() == "kubetest-a") has_manager = true;
  }
  EXPECT_TRUE(has_manager);
  Json rival = J(R"({"apiVersion":"kubetest.poolguard.dev/v1","kind":"Widget",)"
                 R"("metadata":{"name":"w1"},"spec":{"color":"orange"}})");
  try {
    widgets.Apply(rival, "kubetest-b");
    FAIL() << "expected an apply conflict";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsConflict(e)) << e.what();
    EXPECT_NE(e.message().find("kubetest-a"), std::string::npos) << e.message();
  }
  EXPECT_EQ(widgets.Apply(rival, "kubetest-b", true).at("spec").at("color").as_string(), "orange");

  // Status subresource: a status write does not change spec, and vice versa.
  Json current = widgets.Get("w1");
  current["status"] = J(R"({"replicas":2,"phase":"Ready"})");
  current["spec"]["color"] = Json::string("ignored-by-status-endpoint");
  Json with_status = widgets.UpdateStatus(current);
  EXPECT_EQ(with_status.at("status").at("phase").as_string(), "Ready");
  EXPECT_EQ(with_status.at("spec").at("color").as_string(), "orange");

  // Scale subresource.
  Json scale = widgets.GetScale("w1");
  EXPECT_EQ(scale.at("kind").as_string(), "Scale");
  EXPECT_EQ(scale.at("spec").at("replicas").as_integer(), 2);
  widgets.SetScale("w1", 5);
  EXPECT_EQ(widgets.Get("w1").at("spec").at("replicas").as_integer(), 5);

  // Invalid: schema violation, with the field in the causes.
  try {
    widgets.Patch("w1", PatchType::kMerge, J(R"({"spec":{"replicas":-3}})"));
    FAIL() << "expected Invalid";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsInvalid(e)) << e.what();
    ASSERT_FALSE(e.causes().empty()) << e.what();
    EXPECT_EQ(e.causes()[0].field, "spec.replicas");
  }

  // Delete with a failing precondition → Conflict; then for real → NotFound afterwards.
  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "00000000-0000-0000-0000-000000000000";
  try {
    widgets.Delete("w1", wrong_uid);
    FAIL() << "expected a precondition Conflict";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsConflict(e)) << e.what();
    EXPECT_NE(e.message().find("the UID in the precondition"), std::string::npos) << e.message();
  }
  DeleteOptions right_uid;
  right_uid.precondition_uid = UidOf(created);
  widgets.Delete("w1", right_uid);
  try {
    widgets.Get("w1");
    FAIL() << "expected NotFound";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsNotFound(e)) << e.what();
    EXPECT_NE(e.message().find("\"w1\" not found"), std::string::npos) << e.message();
  }
}

TEST_F(CrudTest, DeploymentLifecycle) {
  auto deployments = client_->Resource(kDeployments, ns_);
  Json d = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"api"},
    "spec":{"replicas":1,"selector":{"matchLabels":{"app":"api"}},
      "template":{"metadata":{"labels":{"app":"api"}},
        "spec":{"containers":[{"name":"api","image":"registry.invalid/api:1",
          "env":[{"name":"A","value":"1"}]}]}}}})");
  Json created = deployments.Create(d, WriteOptions{"kubetest", false});
  EXPECT_EQ(created.at("metadata").at("generation").as_integer(), 1);

  // Strategic merge patch merges the env list by name instead of replacing it.
  Json smp = deployments.Patch(
      "api", PatchType::kStrategicMerge,
      J(R"({"spec":{"template":{"metadata":{"annotations":{"kubectl.kubernetes.io/restartedAt":"2024-01-01T00:00:00Z"}},
        "spec":{"containers":[{"name":"api","env":[{"name":"B","value":"2"}]}]}}}})"));
  const auto& env = smp.at("spec").at("template").at("spec").at("containers").at(0).at("env");
  ASSERT_EQ(env.size(), 2u) << smp.serialize();
  EXPECT_EQ(smp.at("metadata").at("generation").as_integer(), 2);

  // Scale through the scale subresource.
  Json scale = deployments.SetScale("api", 3);
  EXPECT_EQ(scale.at("spec").at("replicas").as_integer(), 3);
  EXPECT_EQ(deployments.Get("api").at("spec").at("replicas").as_integer(), 3);

  // Stale update → Conflict.
  Json stale = created;
  stale["spec"]["replicas"] = Json::number(7);
  try {
    deployments.Update(stale);
    FAIL() << "expected Conflict";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsConflict(e)) << e.what();
  }

  // Invalid deployment: the server's field causes come through.
  Json bad = J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"bad"},
    "spec":{"replicas":1,"template":{"metadata":{"labels":{"app":"x"}},
      "spec":{"containers":[{"name":"x","image":"x"}]}}}})");
  try {
    deployments.Create(bad);
    FAIL() << "expected Invalid";
  } catch (const ApiError& e) {
    EXPECT_TRUE(IsInvalid(e)) << e.what();
    bool selector_cause = false;
    for (const auto& c : e.causes()) selector_cause |= c.field == "spec.selector";
    EXPECT_TRUE(selector_cause) << e.what();
  }

  // Delete with foreground propagation: the answer is the object, now being deleted.
  DeleteOptions fg;
  fg.propagation = PropagationPolicy::kForeground;
  Json answer = deployments.Delete("api", fg);
  EXPECT_TRUE(answer.at("metadata").has_field("deletionTimestamp")) << answer.serialize();
}

TEST_F(CrudTest, ListPagesWithLimitAndContinue) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  for (int i = 0; i < 7; ++i) {
    cms.Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"page-)" +
                 std::to_string(i) + R"(","labels":{"paged":"yes"}},"data":{"k":"v"}})"));
  }
  ListOptions o;
  o.label_selector = "paged=yes";
  o.limit = 3;
  ObjectList first = cms.List(o);
  EXPECT_EQ(first.items.size(), 3u);
  EXPECT_FALSE(first.continue_token.empty());
  ObjectList all = cms.ListAll(o);
  EXPECT_EQ(all.items.size(), 7u);
  EXPECT_TRUE(all.continue_token.empty());
}

TEST_F(CrudTest, NamespaceIsTakenFromTheObjectWhenTheClientHasNone) {
  auto cms = client_->Resource(kConfigMaps);
  Json created = cms.Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"x",)"
                              R"("namespace":")" +
                              ns_ + R"("}})"));
  EXPECT_EQ(NamespaceOf(created), ns_);
  EXPECT_THROW(cms.Create(J(R"({"metadata":{"name":"no-namespace"}})")), ApiError);
}

TEST_F(CrudTest, WatchSeesEveryChangeInOrder) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  ObjectList start = cms.List();
  ListOptions wo;
  wo.field_selector = "metadata.name=watched";  // not the namespace's kube-root-ca.crt
  wo.resource_version = start.resource_version;
  wo.timeout_seconds = 30;
  auto stream = cms.Watch(wo);
  cms.Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"watched"}})"));
  cms.Patch("watched", PatchType::kMerge, J(R"({"data":{"a":"b"}})"));
  cms.Delete("watched");
  std::vector<WatchEvent::Type> seen;
  while (seen.size() < 3) {
    auto ev = stream->Next();
    ASSERT_TRUE(ev.has_value()) << "watch ended early";
    if (ev->type == WatchEvent::Type::kBookmark) continue;
    EXPECT_EQ(NameOf(ev->object), "watched");
    seen.push_back(ev->type);
  }
  EXPECT_EQ(seen,
            (std::vector<WatchEvent::Type>{WatchEvent::Type::kAdded, WatchEvent::Type::kModified,
                                           WatchEvent::Type::kDeleted}));
  stream->Stop();
  EXPECT_FALSE(stream->Next().has_value());
}

// The server streams the current state (sendInitialEvents) and marks its end with a
// bookmark; what the Informer syncs over. Raw events carry each object's JSON text.
TEST_F(CrudTest, WatchListStreamsTheStateThenTheEndBookmarkThenChanges) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  for (int i = 0; i < 5; ++i) {
    cms.Create(J(R"({"metadata":{"name":"wl-)" + std::to_string(i) +
                 R"(","labels":{"wl":"yes"}},"data":{"k":"\u00e9\"\\n"}})"));
  }
  ListOptions wo;
  wo.label_selector = "wl=yes";
  wo.send_initial_events = true;
  wo.resource_version_match = "NotOlderThan";
  wo.timeout_seconds = 30;
  auto stream = cms.Watch(wo);
  std::set<std::string> added;
  std::string end_rv;
  while (end_rv.empty()) {
    auto ev = stream->NextRaw();
    ASSERT_TRUE(ev.has_value()) << "watch-list ended before its end bookmark";
    Json obj = Json::parse(ev->object);
    if (ev->type == WatchEvent::Type::kBookmark) {
      const Json& md = obj.at("metadata");
      if (md.has_field("annotations") &&
          md.at("annotations").has_field(kInitialEventsEndAnnotation)) {
        end_rv = ResourceVersionOf(obj);
      }
      continue;
    }
    ASSERT_EQ(ev->type, WatchEvent::Type::kAdded) << ev->object;
    EXPECT_EQ(obj.at("data").at("k").as_string(), "\xc3\xa9\"\\n");
    added.insert(NameOf(obj));
  }
  EXPECT_EQ(added.size(), 5u);
  cms.Delete("wl-0");
  for (;;) {
    auto ev = stream->Next();
    ASSERT_TRUE(ev.has_value()) << "watch ended early";
    if (ev->type == WatchEvent::Type::kBookmark) continue;
    EXPECT_EQ(ev->type, WatchEvent::Type::kDeleted);
    EXPECT_EQ(NameOf(ev->object), "wl-0");
    break;
  }
  stream->Stop();
  EXPECT_FALSE(stream->NextRaw().has_value());
}

TEST_F(CrudTest, TransportErrorIsTyped) {
  Config bad = config_;
  bad.server = "https://127.0.0.1:1";  // nothing listens there
  auto c = NewTestClient(bad);
  try {
    c->Resource(kConfigMaps, ns_).List();
    FAIL() << "expected a transport error";
  } catch (const ApiError& e) {
    EXPECT_EQ(e.kind(), ErrorKind::kTransport) << e.what();
  }
}

}  // namespace
}  // namespace poolguard::kube::testing
