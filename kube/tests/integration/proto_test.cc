// Protobuf → JSON faithfulness against the real API server: each object is fetched as JSON
// and as protobuf, and the transcoded protobuf must equal the server's JSON byte for byte.
// Then the same through watch-lists (the informer's path) and a refused request.

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <optional>
#include <string>
#include <thread>

#include "cluster_fixture.h"
#include "json_scan.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/informer.h"
#include "proto_json.h"

namespace poolguard::kube::testing {
namespace {

using namespace std::chrono_literals;

const GroupVersionResource kConfigMaps{"", "v1", "configmaps", true};
const GroupVersionResource kSecrets{"", "v1", "secrets", true};
const GroupVersionResource kPods{"", "v1", "pods", true};
const GroupVersionResource kServices{"", "v1", "services", true};
const GroupVersionResource kNodes{"", "v1", "nodes", false};
const GroupVersionResource kNamespaces{"", "v1", "namespaces", false};
const GroupVersionResource kEvents{"", "v1", "events", true};
const GroupVersionResource kEventsV1{"events.k8s.io", "v1", "events", true};
const GroupVersionResource kLimitRanges{"", "v1", "limitranges", true};
const GroupVersionResource kDeployments{"apps", "v1", "deployments", true};
const GroupVersionResource kReplicaSets{"apps", "v1", "replicasets", true};
const GroupVersionResource kLeases{"coordination.k8s.io", "v1", "leases", true};
const GroupVersionResource kPdbs{"policy", "v1", "poddisruptionbudgets", true};

std::string Chomp(std::string s) {
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// "" if equal, else where they differ.
std::string Diff(const std::string& want, const std::string& got) {
  if (want == got) return "";
  size_t i = 0;
  while (i < want.size() && i < got.size() && want[i] == got[i]) ++i;
  size_t from = i > 80 ? i - 80 : 0;
  return "differ at byte " + std::to_string(i) + "\n server JSON: ..." + want.substr(from, 200) +
         "\n transcoded:  ..." + got.substr(from, 200);
}

class ProtoTest : public ClusterTest {
 protected:
  // GETs `path` as JSON and as protobuf until both show the same resourceVersion, and
  // returns {server JSON, transcoded protobuf}.
  std::pair<std::string, std::string> Fetch(const std::string& path) {
    std::string json, transcoded;
    for (int attempt = 0; attempt < 10; ++attempt) {
      Client::Response j = client_->Raw("GET", path);
      EXPECT_EQ(j.status, 200) << path << ": " << j.body;
      Client::Response p = client_->RawAccept(path, {}, proto::kMediaType);
      EXPECT_EQ(p.status, 200) << path;
      EXPECT_TRUE(proto::IsProtobuf(p.Header("Content-Type")))
          << path << " answered " << p.Header("Content-Type");
      json = Chomp(j.body);
      try {
        transcoded = proto::ToJson(p.body);
      } catch (const std::exception& e) {
        ADD_FAILURE() << path << ": " << e.what();
        return {json, ""};
      }
      auto rv = [](const std::string& t) {
        return json_scan::StrAt(t, {"metadata", "resourceVersion"});
      };
      if (rv(json) == rv(transcoded)) break;
      std::this_thread::sleep_for(100ms);
    }
    return {json, transcoded};
  }

  void ExpectSame(const std::string& path) {
    auto [json, transcoded] = Fetch(path);
    EXPECT_EQ(Diff(json, transcoded), "") << path;
    ++checked_;
  }

  void ExpectSame(const GroupVersionResource& gvr, const std::string& name, const std::string& ns) {
    ExpectSame(client_->Resource(gvr, ns).Path(ns, name));
  }

  // The controller-manager's root-CA publisher puts kube-root-ca.crt into a new namespace a
  // moment after it is created; the tests that count on it wait for it first.
  void WaitForRootCa() {
    const std::string path = client_->Resource(kConfigMaps, ns_).Path(ns_, "kube-root-ca.crt");
    ASSERT_TRUE(Eventually([&] { return client_->Raw("GET", path).status == 200; }, 30s))
        << "no kube-root-ca.crt in " << ns_;
  }

  int checked_ = 0;
};

TEST_F(ProtoTest, ObjectsTranscodeToTheServersJson) {
  WaitForRootCa();
  // ConfigMap: odd characters in keys and values (HTML, U+2028, control bytes, quotes,
  // backslashes, non-ASCII), binaryData with arbitrary and empty bytes, labels, annotations.
  client_->Resource(kConfigMaps, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"odd",
        "labels":{"b":"2","a":"1","app.kubernetes.io/name":"x"},
        "annotations":{"note":"<b>bold</b> & \"quoted\" \\ back\u2028line\u2029para"}},
        "data":{"z":"last","html":"<script>alert('x&y')</script>","ctl":"\u0001\b\f\n\r\t\u001f\u007f",
          "uni":"h\u00e9llo \u4e16\u754c \ud83d\ude00","empty":"","json":"{\"a\": [1, 2]}"},
        "binaryData":{"bin":"AP8QgA==","nothing":""}})"));
  ExpectSame(kConfigMaps, "odd", ns_);
  client_->Resource(kConfigMaps, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"immutable"},
        "immutable":true})"));
  ExpectSame(kConfigMaps, "immutable", ns_);
  ExpectSame(kConfigMaps, "kube-root-ca.crt", ns_);

  client_->Resource(kSecrets, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"Secret","metadata":{"name":"s"},"type":"Opaque",
        "data":{"password":"c2VjcmV0"},"stringData":{"user":"admin<&>"}})"));
  ExpectSame(kSecrets, "s", ns_);

  client_->Resource(kDeployments, ns_)
      .Create(J(R"({"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"web"},
        "spec":{"replicas":2,"selector":{"matchLabels":{"app":"web"}},
          "strategy":{"type":"RollingUpdate","rollingUpdate":{"maxSurge":"25%","maxUnavailable":0}},
          "template":{"metadata":{"labels":{"app":"web"}},
            "spec":{"terminationGracePeriodSeconds":5,
              "containers":[{"name":"web","image":"registry.invalid/web:1",
                "ports":[{"containerPort":8080,"name":"http"}],
                "env":[{"name":"A","value":"1"},{"name":"POD","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}}],
                "resources":{"requests":{"cpu":"100m","memory":"64Mi"},"limits":{"cpu":"1.5","memory":"1G"}},
                "readinessProbe":{"httpGet":{"path":"/healthz","port":"http"},"periodSeconds":3},
                "livenessProbe":{"tcpSocket":{"port":8080}},
                "volumeMounts":[{"name":"cfg","mountPath":"/etc/cfg","readOnly":true}]}],
              "volumes":[{"name":"cfg","configMap":{"name":"odd","defaultMode":420}},
                         {"name":"tmp","emptyDir":{"sizeLimit":"10Mi"}}]}}}})"));
  // Pods from it (created by the controller manager), with whatever status they reach.
  bool have_pods =
      Eventually([&] { return client_->Resource(kPods, ns_).List().items.size() >= 2; }, 30s);
  ExpectSame(kDeployments, "web", ns_);
  for (const Json& rs : client_->Resource(kReplicaSets, ns_).List().items) {
    ExpectSame(kReplicaSets, NameOf(rs), ns_);
  }
  EXPECT_TRUE(have_pods) << "no Pods from the Deployment (is the controller manager up?)";
  if (have_pods) {
    // Give one Pod the status a kubelet would write. A node agent may be writing its status
    // too (localcluster's runs these Pods): on Conflict, read it again and retry.
    const std::string name = NameOf(client_->Resource(kPods, ns_).List().items.at(0));
    const Json status = J(R"({"phase":"Running","hostIP":"10.0.0.9","podIP":"10.9.0.7",
      "podIPs":[{"ip":"10.9.0.7"}],"startTime":"2024-05-06T07:08:09Z","qosClass":"Burstable",
      "conditions":[{"type":"Ready","status":"True","lastProbeTime":null,
        "lastTransitionTime":"2024-05-06T07:08:19Z"},
        {"type":"PodScheduled","status":"True","lastTransitionTime":"2024-05-06T07:08:09Z"}],
      "containerStatuses":[{"name":"web","ready":true,"restartCount":2,"started":true,
        "image":"registry.invalid/web:1","imageID":"registry.invalid/web@sha256:00",
        "containerID":"containerd://abc",
        "state":{"running":{"startedAt":"2024-05-06T07:08:10Z"}},
        "lastState":{"terminated":{"exitCode":137,"reason":"OOMKilled","message":"<oom> & out",
          "startedAt":"2024-05-06T07:00:00Z","finishedAt":"2024-05-06T07:08:00Z"}}}]})");
    EXPECT_TRUE(Eventually(
        [&] {
          Json pod = client_->Resource(kPods, ns_).Get(name);
          pod["status"] = status;
          try {
            client_->Resource(kPods, ns_).UpdateStatus(pod);
            return true;
          } catch (const ApiError& e) {
            if (IsConflict(e)) return false;
            throw;
          }
        },
        10s))
        << "the status of " << name << " kept conflicting";
  }
  for (const Json& p : client_->Resource(kPods, ns_).List().items) {
    ExpectSame(kPods, NameOf(p), ns_);
  }

  client_->Resource(kServices, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"Service","metadata":{"name":"web"},
        "spec":{"selector":{"app":"web"},"ports":[
          {"name":"http","port":80,"targetPort":"http"},
          {"name":"raw","port":81,"targetPort":8081,"protocol":"UDP"}]}})"));
  ExpectSame(kServices, "web", ns_);

  client_->Resource(kEvents, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"Event","metadata":{"name":"e1"},
        "involvedObject":{"kind":"ConfigMap","namespace":")" +
                ns_ + R"(","name":"odd","apiVersion":"v1"},
        "reason":"Tested","message":"a <message> & more","type":"Normal","count":3,
        "firstTimestamp":"2024-02-29T12:34:56Z","lastTimestamp":"2024-03-01T00:00:00Z",
        "source":{"component":"proto-test"}})"));
  ExpectSame(kEvents, "e1", ns_);
  client_->Resource(kEventsV1, ns_)
      .Create(J(R"({"apiVersion":"events.k8s.io/v1","kind":"Event","metadata":{"name":"e2"},
        "eventTime":"2024-02-29T12:34:56.123456Z","reportingController":"poolguard.dev/test",
        "reportingInstance":"test-1","action":"Test","reason":"Tested","type":"Warning",
        "regarding":{"kind":"ConfigMap","namespace":")" +
                ns_ + R"(","name":"odd"},"note":"micro time"})"));
  ExpectSame(kEventsV1, "e2", ns_);
  ExpectSame(kEvents, "e2", ns_);  // the same Event as core/v1

  client_->Resource(kLeases, ns_)
      .Create(J(R"({"apiVersion":"coordination.k8s.io/v1","kind":"Lease","metadata":{"name":"l"},
        "spec":{"holderIdentity":"me","leaseDurationSeconds":15,
          "acquireTime":"2024-01-02T03:04:05.000006Z","renewTime":"2024-01-02T03:04:06.500000Z",
          "leaseTransitions":0}})"));
  ExpectSame(kLeases, "l", ns_);

  ExpectSame(kNamespaces, ns_, "");

  // RawExtension: the data is kept as sent (whitespace, HTML characters) and compacted and
  // escaped on the way out.
  const GroupVersionResource kRevisions{"apps", "v1", "controllerrevisions", true};
  client_->Resource(kRevisions, ns_)
      .Create(J(R"({"apiVersion":"apps/v1","kind":"ControllerRevision","metadata":{"name":"r"},
        "revision":3,"data":{"spec":{"template":{"a":"<x> & y","n":[1, 2.5, -3e-7, true, null]}}}})"));
  ExpectSame(kRevisions, "r", ns_);

  client_->Resource(kPdbs, ns_)
      .Create(J(R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"p"},
        "spec":{"minAvailable":"50%","selector":{"matchLabels":{"app":"web"}}}})"));
  client_->Resource(kPdbs, ns_)
      .Create(J(R"({"apiVersion":"policy/v1","kind":"PodDisruptionBudget","metadata":{"name":"q"},
        "spec":{"maxUnavailable":1,"selector":{"matchExpressions":[
          {"key":"app","operator":"In","values":["web","api"]}]}}})"));
  ExpectSame(kPdbs, "p", ns_);
  ExpectSame(kPdbs, "q", ns_);

  client_->Resource(kLimitRanges, ns_)
      .Create(J(R"({"apiVersion":"v1","kind":"LimitRange","metadata":{"name":"lr"},
        "spec":{"limits":[{"type":"Container",
          "default":{"cpu":"500m","memory":"1Gi"},"defaultRequest":{"cpu":"0.1","memory":"1e6"},
          "max":{"cpu":"4","memory":"1500M","ephemeral-storage":"2Ti"},
          "min":{"cpu":"1m","memory":"1k"},"maxLimitRequestRatio":{"cpu":"10"}}]}})"));
  ExpectSame(kLimitRanges, "lr", ns_);

  // A Node (cluster-scoped) with capacity, conditions, addresses and taints.
  std::string node = UniqueName("proto-node");
  client_->Resource(kNodes).Create(J(R"({"apiVersion":"v1","kind":"Node","metadata":{"name":")" +
                                     node +
                                     R"(","labels":{"kubernetes.io/hostname":"x"}},
        "spec":{"podCIDR":"10.9.0.0/24","taints":[{"key":"k","value":"v","effect":"NoSchedule"}]},
        "status":{"capacity":{"cpu":"8","memory":"32Gi","pods":"110"},
          "allocatable":{"cpu":"7800m","memory":"31Gi"},
          "addresses":[{"type":"InternalIP","address":"10.0.0.9"}]}})"));
  ExpectSame(kNodes, node, "");
  for (const Json& n : client_->Resource(kNodes).List().items) ExpectSame(kNodes, NameOf(n), "");
  try {
    client_->Resource(kNodes).Delete(node);
  } catch (const std::exception&) {
  }

  // Lists: the List kinds, items without apiVersion/kind.
  ExpectSame(client_->Resource(kConfigMaps, ns_).Path(ns_));
  ExpectSame(client_->Resource(kPods, ns_).Path(ns_));
  EXPECT_GE(checked_, 20);
}

TEST_F(ProtoTest, RefusalIsAProtobufStatus) {
  std::string path = client_->Resource(kConfigMaps, ns_).Path(ns_, "missing");
  Client::Response j = client_->Raw("GET", path);
  Client::Response p = client_->RawAccept(path, {}, proto::kMediaType);
  ASSERT_EQ(p.status, 404);
  ASSERT_TRUE(proto::IsProtobuf(p.Header("Content-Type"))) << p.Header("Content-Type");
  EXPECT_EQ(Diff(Chomp(j.body), proto::ToJson(p.body)), "");
}

// A watch from an expired resourceVersion: the 410 comes as a protobuf Status (an ERROR
// event, or the answer), read as the same Gone error as over JSON.
TEST_F(ProtoTest, ExpiredWatchIsGoneOverProtobuf) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  auto watch_from_1 = [&](bool protobuf) -> std::optional<ApiError> {
    std::map<std::string, std::string> q = {{"resourceVersion", "1"}, {"timeoutSeconds", "5"}};
    try {
      auto stream =
          protobuf ? client_->OpenWatchAccept(cms.Path(ns_), q, 30s,
                                              std::string(proto::kMediaType) + ", application/json")
                   : client_->OpenWatch(cms.Path(ns_), q, 30s);
      while (auto ev = stream->Next()) {
        if (ev->type == WatchEvent::Type::kError) return ErrorFromStatus(ev->object);
      }
    } catch (const ApiError& e) {
      return e;
    }
    return std::nullopt;
  };
  std::optional<ApiError> json = watch_from_1(false);
  if (!json || !IsGone(*json)) {
    // A young API server's watch cache still holds every event since resourceVersion 1; a
    // restarted one starts from the current revision, so 1 is expired there.
    const char* restart = std::getenv("POOLGUARD_TEST_RESTART_APISERVER");
    ASSERT_TRUE(restart && *restart)
        << "resourceVersion 1 is not expired on this young API server, and "
           "POOLGUARD_TEST_RESTART_APISERVER (a shell command that restarts it) is not set";
    ASSERT_EQ(std::system(restart), 0) << "restart command failed: " << restart;
    ASSERT_TRUE(Eventually([&] { return client_->Raw("GET", "/readyz").status == 200; }, 60s));
    json = watch_from_1(false);
  }
  ASSERT_TRUE(json) << "json: no error";
  EXPECT_TRUE(IsGone(*json)) << json->what();
  std::optional<ApiError> protobuf = watch_from_1(true);
  ASSERT_TRUE(protobuf) << "protobuf: no error";
  EXPECT_TRUE(IsGone(*protobuf)) << protobuf->what();
}

// The informer's path: a watch-list as protobuf yields the same event objects as one as
// JSON.
TEST_F(ProtoTest, WatchListTranscodesToTheSameEvents) {
  WaitForRootCa();
  auto cms = client_->Resource(kConfigMaps, ns_);
  for (int i = 0; i < 30; ++i) {
    cms.Create(J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm-)" +
                 std::to_string(i) + R"(","labels":{"i":")" + std::to_string(i) +
                 R"("}},"data":{"k":"<v>)" + std::to_string(i) + R"("}})"));
  }
  auto collect = [&](bool protobuf) {
    std::map<std::string, std::string> out;
    std::map<std::string, std::string> q = {{"sendInitialEvents", "true"},
                                            {"resourceVersionMatch", "NotOlderThan"},
                                            {"allowWatchBookmarks", "true"},
                                            {"timeoutSeconds", "30"}};
    auto stream =
        protobuf ? client_->OpenWatchAccept(cms.Path(ns_), q, 60s,
                                            std::string(proto::kMediaType) + ", application/json")
                 : client_->OpenWatch(cms.Path(ns_), q, 60s);
    while (auto ev = stream->NextRaw()) {
      if (ev->type == WatchEvent::Type::kBookmark) {
        if (json_scan::StrAt(ev->object,
                             {"metadata", "annotations", kInitialEventsEndAnnotation}) == "true") {
          break;
        }
        continue;
      }
      EXPECT_EQ(ev->type, WatchEvent::Type::kAdded);
      out[json_scan::StrAt(ev->object, {"metadata", "name"})] = ev->object;
    }
    return out;
  };
  auto json = collect(false);
  auto proto = collect(true);
  ASSERT_EQ(json.size(), 31u);  // + kube-root-ca.crt
  ASSERT_EQ(proto.size(), json.size());
  for (const auto& [name, text] : json) EXPECT_EQ(Diff(text, proto[name]), "") << name;

  // ListRaw (an informer's paged LIST) over protobuf: the same item texts as over JSON.
  ClientOptions json_only;
  json_only.protobuf = false;
  auto json_client = Client::Create(config_, json_only);
  ListOptions page;
  page.limit = 7;
  RawObjectList via_json = json_client->Resource(kConfigMaps, ns_).ListRaw(page);
  RawObjectList via_proto = cms.ListRaw(page);
  EXPECT_EQ(via_proto.items, via_json.items);
  EXPECT_EQ(via_proto.items.size(), 7u);
  EXPECT_FALSE(via_proto.continue_token.empty());
  EXPECT_FALSE(via_proto.resource_version.empty());

  // And an informer over it (protobuf by default) caches the same objects.
  Informer inf(cms);
  inf.Run();
  ASSERT_TRUE(inf.WaitForSync(30s));
  EXPECT_EQ(inf.Size(), json.size());
  for (const auto& [name, text] : json) {
    auto obj = inf.Get(ns_, name);
    ASSERT_TRUE(obj) << name;
    EXPECT_EQ(obj->serialize(), Json::parse(text).serialize()) << name;
  }
}

}  // namespace
}  // namespace poolguard::kube::testing
