// An informer syncing 1,000 objects and then seeing every change.

#include "poolguard/kube/informer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <thread>

#include "cluster_fixture.h"

namespace poolguard::kube::testing {
namespace {

using namespace std::chrono_literals;

const GroupVersionResource kConfigMaps{"", "v1", "configmaps", true};

Json ConfigMap(const std::string& name, const std::string& group, const std::string& value) {
  return J(R"({"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":")" + name +
           R"(","labels":{"informer":"yes","group":")" + group + R"("}},"data":{"v":")" + value +
           R"("}})");
}

// Runs f(i) for i in [0, n) on a few threads (the API server is the bottleneck anyway).
void Parallel(int n, const std::function<void(int)>& f) {
  std::atomic<int> next{0};
  std::vector<std::thread> threads;
  std::mutex err_mu;
  std::string first_error;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = next++; i < n; i = next++) {
        try {
          f(i);
        } catch (const std::exception& e) {
          std::lock_guard<std::mutex> g(err_mu);
          if (first_error.empty()) first_error = e.what();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_TRUE(first_error.empty()) << first_error;
}

class InformerTest : public ClusterTest {
 protected:
  // Sync of 1,000 objects — streamed (watch_list) or in pages of 250 — then every change.
  void SyncsAThousandObjectsThenSeesEveryChange(bool watch_list);
};

TEST_F(InformerTest, SyncsAThousandObjectsOverAWatchListThenSeesEveryChange) {
  SyncsAThousandObjectsThenSeesEveryChange(true);
}

TEST_F(InformerTest, SyncsAThousandObjectsInPagesThenSeesEveryChange) {
  SyncsAThousandObjectsThenSeesEveryChange(false);
}

void InformerTest::SyncsAThousandObjectsThenSeesEveryChange(bool watch_list) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  constexpr int kObjects = 1000;
  Parallel(kObjects, [&](int i) {
    cms.Create(ConfigMap("cm-" + std::to_string(i), i % 2 ? "odd" : "even", "0"));
  });

  InformerOptions options;
  options.selectors.label_selector = "informer=yes";
  options.selectors.limit = 250;  // forces paging of the initial list (without watch_list)
  options.watch_list = watch_list;
  Informer informer(cms, options);
  informer.AddIndexer("group", IndexByLabel("group"));

  std::mutex mu;
  std::map<std::string, std::string> last_value;  // what the handlers say each object holds
  std::atomic<int> adds{0}, updates{0}, deletes{0};
  EventHandler h;
  h.on_add = [&](const Json& o) {
    ++adds;
    std::lock_guard<std::mutex> g(mu);
    last_value[NameOf(o)] = o.at("data").at("v").as_string();
  };
  h.on_update = [&](const Json& old_obj, const Json& o) {
    ++updates;
    EXPECT_EQ(NameOf(old_obj), NameOf(o));
    std::lock_guard<std::mutex> g(mu);
    last_value[NameOf(o)] = o.at("data").at("v").as_string();
  };
  h.on_delete = [&](const Json& o) {
    ++deletes;
    std::lock_guard<std::mutex> g(mu);
    last_value.erase(NameOf(o));
  };
  informer.AddEventHandler(h);
  informer.Run();
  ASSERT_TRUE(informer.WaitForSync(60s)) << "informer did not sync";
  EXPECT_EQ(informer.Size(), static_cast<size_t>(kObjects));
  EXPECT_EQ(adds, kObjects);
  EXPECT_EQ(informer.ByIndex("group", "odd").size(), static_cast<size_t>(kObjects / 2));
  EXPECT_EQ(informer.ListCount(), 1);

  // A handler's copy is its own: changing it does not change the cache.
  auto cached = informer.Get(ns_, "cm-1");
  ASSERT_TRUE(cached.has_value());
  (*cached)["data"]["v"] = Json::string("mutated");
  EXPECT_EQ(informer.Get(ns_, "cm-1")->at("data").at("v").as_string(), "0");

  // Every change: 300 updates, 200 deletes, 100 creates, 50 objects moved between groups.
  Parallel(300, [&](int i) {
    cms.Patch("cm-" + std::to_string(i), PatchType::kMerge, J(R"({"data":{"v":"1"}})"));
  });
  Parallel(200, [&](int i) { cms.Delete("cm-" + std::to_string(700 + i)); });
  Parallel(100, [&](int i) { cms.Create(ConfigMap("new-" + std::to_string(i), "even", "n")); });
  Parallel(50, [&](int i) {
    cms.Patch("cm-" + std::to_string(2 * i), PatchType::kMerge,
              J(R"({"metadata":{"labels":{"group":"moved"}}})"));
  });

  const size_t expected_size = kObjects - 200 + 100;
  bool caught_up = Eventually(
      [&] {
        return informer.Size() == expected_size && updates >= 350 && deletes >= 200 &&
               adds >= kObjects + 100;
      },
      60s);
  ASSERT_TRUE(caught_up) << "size " << informer.Size() << " updates " << updates << " deletes "
                         << deletes << " adds " << adds;
  EXPECT_EQ(updates, 350);
  EXPECT_EQ(deletes, 200);
  EXPECT_EQ(adds, kObjects + 100);
  EXPECT_EQ(informer.ByIndex("group", "moved").size(), 50u);

  // The cache and the handlers' view both equal the server's state.
  ListOptions lo;
  lo.label_selector = "informer=yes";
  ObjectList truth = cms.ListAll(lo);
  ASSERT_EQ(truth.items.size(), expected_size);
  std::lock_guard<std::mutex> g(mu);
  ASSERT_EQ(last_value.size(), expected_size);
  for (const auto& item : truth.items) {
    auto c = informer.Get(KeyOf(item));
    ASSERT_TRUE(c.has_value()) << KeyOf(item);
    EXPECT_EQ(ResourceVersionOf(*c), ResourceVersionOf(item)) << KeyOf(item);
    EXPECT_EQ(last_value[NameOf(item)], item.at("data").at("v").as_string()) << KeyOf(item);
  }
  informer.Stop();
}

TEST_F(InformerTest, StopReturnsPromptlyWhileWatching) {
  Informer informer(client_->Resource(kConfigMaps, ns_));
  informer.Run();
  ASSERT_TRUE(informer.WaitForSync(30s));
  auto t0 = std::chrono::steady_clock::now();
  informer.Stop();  // must not wait for the server's watch timeout
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 10s);
}

TEST_F(InformerTest, ResyncRedeliversCachedObjects) {
  auto cms = client_->Resource(kConfigMaps, ns_);
  cms.Create(ConfigMap("r", "even", "0"));
  InformerOptions options;
  options.selectors.label_selector = "informer=yes";
  options.resync_period = 1s;
  Informer informer(cms, options);
  std::atomic<int> resyncs{0};
  EventHandler h;
  h.on_update = [&](const Json& a, const Json& b) {
    if (ResourceVersionOf(a) == ResourceVersionOf(b)) ++resyncs;
  };
  informer.AddEventHandler(h);
  informer.Run();
  ASSERT_TRUE(informer.WaitForSync(30s));
  EXPECT_TRUE(Eventually([&] { return resyncs >= 2; }, 20s)) << resyncs;
  informer.Stop();
}

// The informer's watch breaks when the API server restarts; it must reconnect (resuming or
// relisting) and miss nothing. POOLGUARD_TEST_RESTART_APISERVER is the shell command that
// restarts the server behind POOLGUARD_TEST_KUBECONFIG (for localcluster:
// `localcluster/lc restart kube-apiserver`).
TEST_F(InformerTest, SurvivesAnApiServerRestart) {
  const char* restart = std::getenv("POOLGUARD_TEST_RESTART_APISERVER");
  ASSERT_TRUE(restart && *restart)
      << "POOLGUARD_TEST_RESTART_APISERVER is not set: it must be a shell command that "
         "restarts the API server (e.g. `localcluster/lc restart kube-apiserver`)";
  auto cms = client_->Resource(kConfigMaps, ns_);
  for (int i = 0; i < 10; ++i) cms.Create(ConfigMap("before-" + std::to_string(i), "even", "0"));
  InformerOptions options;
  options.selectors.label_selector = "informer=yes";
  options.max_backoff = std::chrono::seconds(2);
  Informer informer(cms, options);
  std::atomic<int> adds{0}, updates{0};
  EventHandler h;
  h.on_add = [&](const Json&) { ++adds; };
  h.on_update = [&](const Json&, const Json&) { ++updates; };
  informer.AddEventHandler(h);
  informer.Run();
  ASSERT_TRUE(informer.WaitForSync(30s));
  ASSERT_EQ(informer.Size(), 10u);

  ASSERT_EQ(std::system(restart), 0) << "restart command failed: " << restart;

  // The server is back: changes made now must reach the cache.
  bool written = Eventually(
      [&] {
        try {
          cms.Patch("before-0", PatchType::kMerge, J(R"({"data":{"v":"after"}})"));
          return true;
        } catch (const ApiError&) {
          return false;
        }
      },
      60s);
  ASSERT_TRUE(written) << "API server did not come back";
  for (int i = 0; i < 10; ++i) cms.Create(ConfigMap("after-" + std::to_string(i), "odd", "1"));
  bool caught_up = Eventually(
      [&] {
        auto c = informer.Get(ns_, "before-0");
        // Handlers run after the cache holds the object: wait for both.
        return informer.Size() == 20u && c && c->at("data").at("v").as_string() == "after" &&
               adds == 20;
      },
      60s);
  EXPECT_TRUE(caught_up) << "size " << informer.Size() << " lists " << informer.ListCount()
                         << " adds " << adds;
  EXPECT_EQ(adds, 20);
  RecordProperty("lists", informer.ListCount());
  informer.Stop();
}

}  // namespace
}  // namespace poolguard::kube::testing
