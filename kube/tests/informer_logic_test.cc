// The informer's list/watch state machine against a scripted client: resume from the last
// resourceVersion, bookmarks, relist on 410 (as an ERROR event and as an HTTP answer),
// deletions found by a relist, and reconnect after errors. Scripted because a real API
// server cannot be made to expire a resourceVersion on demand.

#include <gtest/gtest.h>

#include <condition_variable>
#include <deque>
#include <mutex>

#include "poolguard/kube/informer.h"

namespace poolguard::kube {
namespace {

using namespace std::chrono_literals;

Json Cm(const std::string& name, const std::string& rv) {
  return Json::parse(R"({"kind":"ConfigMap","metadata":{"name":")" + name +
                     R"(","namespace":"ns","resourceVersion":")" + rv + R"("}})");
}

Json List(const std::string& rv, std::vector<Json> items) {
  Json l = Json::object();
  l["metadata"] = Json::object();
  l["metadata"]["resourceVersion"] = Json::string(rv);
  l["items"] = Json::array();
  for (size_t i = 0; i < items.size(); ++i) l["items"][i] = items[i];
  return l;
}

Json GoneStatus() {
  return Json::parse(R"j({"kind":"Status","status":"Failure","reason":"Expired","code":410,)j"
                     R"j("message":"too old resource version: 5 (100)"})j");
}

// A watch that plays its events, then either ends (server timeout) or blocks until Stop.
class ScriptedStream : public WatchStream {
 public:
  ScriptedStream(std::vector<WatchEvent> events, bool end)
      : events_(events.begin(), events.end()), end_(end) {}
  std::optional<WatchEvent> Next() override {
    std::unique_lock<std::mutex> lock(mu_);
    if (!events_.empty()) {
      WatchEvent e = events_.front();
      events_.pop_front();
      return e;
    }
    if (end_) return std::nullopt;
    cv_.wait(lock, [&] { return stopped_; });
    return std::nullopt;
  }
  void Stop() override {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<WatchEvent> events_;
  bool end_;
  bool stopped_ = false;
};

struct WatchScript {
  std::vector<WatchEvent> events;
  bool end = true;           // false: stay open until stopped
  bool refuse_gone = false;  // answer the watch request itself with 410
  bool refuse_transport = false;
};

class ScriptedClient : public Client {
 public:
  Response Raw(const std::string& method, const std::string& path,
               const std::map<std::string, std::string>&, const std::string&,
               const std::string&) override {
    std::lock_guard<std::mutex> lock(mu_);
    EXPECT_EQ(method, "GET");
    EXPECT_EQ(path, "/api/v1/namespaces/ns/configmaps");
    ++list_calls;
    Response r;
    r.status = 200;
    if (lists.empty()) {
      r.body = List("0", {}).serialize();
    } else {
      r.body = lists.front().serialize();
      if (lists.size() > 1) lists.pop_front();
    }
    return r;
  }

  std::unique_ptr<WatchStream> OpenWatch(const std::string&,
                                         std::map<std::string, std::string> query,
                                         std::chrono::seconds) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (query.count("sendInitialEvents")) {
      ++watch_list_calls;
      EXPECT_EQ(query["resourceVersionMatch"], "NotOlderThan");
      EXPECT_EQ(query["allowWatchBookmarks"], "true");
      EXPECT_EQ(query.count("resourceVersion"), 0u);
      cv.notify_all();
      if (watch_lists.empty()) {
        // What an API server without the WatchList feature answers.
        throw ErrorFromResponse(
            422, R"({"kind":"Status","status":"Failure","reason":"Invalid","code":422,)"
                 R"("message":"sendInitialEvents is forbidden for watch unless the WatchList )"
                 R"(feature gate is enabled"})");
      }
      WatchScript s = watch_lists.front();
      watch_lists.pop_front();
      if (s.refuse_transport) throw ApiError(ErrorKind::kTransport, 0, "", "connection refused");
      return std::make_unique<ScriptedStream>(s.events, s.end);
    }
    watch_rvs.push_back(query["resourceVersion"]);
    EXPECT_EQ(query["allowWatchBookmarks"], "true");
    cv.notify_all();
    if (watches.empty()) return std::make_unique<ScriptedStream>(std::vector<WatchEvent>{}, false);
    WatchScript s = watches.front();
    watches.pop_front();
    if (s.refuse_gone) throw ErrorFromResponse(410, GoneStatus().serialize());
    if (s.refuse_transport) throw ApiError(ErrorKind::kTransport, 0, "", "connection refused");
    return std::make_unique<ScriptedStream>(s.events, s.end);
  }

  const Config& config() const override { return config_; }
  std::shared_ptr<Clock> clock() const override { return clock_; }

  // Blocks until `n` watches have been opened.
  void AwaitWatches(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv.wait(lock, [&] { return watch_rvs.size() >= n; });
  }

  std::mutex mu_;
  std::condition_variable cv;
  std::deque<Json> lists;
  std::deque<WatchScript> watches;
  std::vector<std::string> watch_rvs;
  int list_calls = 0;
  // Watch-lists (sendInitialEvents): refused with 422 once this runs out.
  std::deque<WatchScript> watch_lists;
  int watch_list_calls = 0;
  Config config_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

WatchEvent Ev(WatchEvent::Type t, Json o) { return WatchEvent{t, std::move(o)}; }

// The bookmark that ends a watch-list's initial events, as the API server sends it.
WatchEvent InitialEventsEnd(const std::string& rv) {
  return Ev(
      WatchEvent::Type::kBookmark,
      Json::parse(
          R"({"kind":"ConfigMap","apiVersion":"v1","metadata":{"resourceVersion":")" + rv +
          R"(","creationTimestamp":null,"annotations":{"k8s.io/initial-events-end":"true"}}})"));
}

struct Recorder {
  std::mutex mu;
  std::vector<std::string> log;
  EventHandler Handler() {
    EventHandler h;
    h.on_add = [this](const Json& o) { Add("add " + NameOf(o)); };
    h.on_update = [this](const Json&, const Json& o) {
      Add("update " + NameOf(o) + "@" + ResourceVersionOf(o));
    };
    h.on_delete = [this](const Json& o) { Add("delete " + NameOf(o)); };
    return h;
  }
  void Add(const std::string& s) {
    std::lock_guard<std::mutex> g(mu);
    log.push_back(s);
  }
  std::vector<std::string> Get() {
    std::lock_guard<std::mutex> g(mu);
    return log;
  }
};

const GroupVersionResource kCms{"", "v1", "configmaps", true};

TEST(InformerLogicTest, ResumesFromLastResourceVersionIncludingBookmarks) {
  auto client = std::make_shared<ScriptedClient>();
  client->lists = {List("10", {Cm("a", "9")})};
  client->watches.push_back({{Ev(WatchEvent::Type::kAdded, Cm("b", "11")),
                              Ev(WatchEvent::Type::kModified, Cm("a", "12"))},
                             true});
  client->watches.push_back({{Ev(WatchEvent::Type::kBookmark, Cm("", "20"))}, true});
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  client->AwaitWatches(3);
  inf.Stop();
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"10", "12", "20"}));
  EXPECT_EQ(client->watch_list_calls, 1);  // refused (422): listed instead
  EXPECT_EQ(client->list_calls, 1);        // a normal end of a watch does not relist
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"add a", "add b", "update a@12"}));
  EXPECT_EQ(inf.LastResourceVersion(), "20");
}

TEST(InformerLogicTest, GoneErrorEventRelistsAndReconcilesTheCache) {
  auto client = std::make_shared<ScriptedClient>();
  // First list: a, b. The watch then says 410; the relist shows b changed, a gone, c new.
  client->lists = {List("10", {Cm("a", "1"), Cm("b", "2")}),
                   List("50", {Cm("b", "40"), Cm("c", "41")})};
  client->watches.push_back({{Ev(WatchEvent::Type::kError, GoneStatus())}, true});
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  client->AwaitWatches(2);
  inf.Stop();
  EXPECT_EQ(client->list_calls, 2);
  EXPECT_EQ(client->watch_list_calls, 1);  // a refusal is remembered
  EXPECT_EQ(inf.ListCount(), 2);
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"10", "50"}));
  EXPECT_EQ(rec.Get(),
            (std::vector<std::string>{"add a", "add b", "update b@40", "add c", "delete a"}));
  EXPECT_FALSE(inf.Get("ns", "a").has_value());
  EXPECT_EQ(inf.Size(), 2u);
}

TEST(InformerLogicTest, GoneAnswerToTheWatchRequestRelists) {
  auto client = std::make_shared<ScriptedClient>();
  client->lists = {List("10", {}), List("60", {Cm("x", "55")})};
  WatchScript refused;
  refused.refuse_gone = true;
  client->watches.push_back(refused);
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  client->AwaitWatches(2);
  inf.Stop();
  EXPECT_EQ(client->list_calls, 2);
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"10", "60"}));
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"add x"}));
}

TEST(InformerLogicTest, TransportErrorsBackOffOnTheClockAndResume) {
  auto client = std::make_shared<ScriptedClient>();
  client->lists = {List("10", {})};
  WatchScript refused;
  refused.refuse_transport = true;
  client->watches.push_back(refused);
  client->watches.push_back(refused);
  InformerOptions o;
  o.min_backoff = 1s;
  o.max_backoff = 10s;
  Informer inf(client->Resource(kCms, "ns"), o);
  inf.Run();
  client->AwaitWatches(1);
  // The retry waits for the (fake) clock: no second attempt until 1s has passed.
  while (client->clock_->Waiters() == 0) std::this_thread::yield();
  {
    std::lock_guard<std::mutex> lock(client->mu_);
    EXPECT_EQ(client->watch_rvs.size(), 1u);
  }
  client->clock_->Advance(1s);
  client->AwaitWatches(2);
  // Second failure: the backoff doubled, 1s is not enough.
  while (client->clock_->Waiters() == 0) std::this_thread::yield();
  client->clock_->Advance(1s);
  {
    std::lock_guard<std::mutex> lock(client->mu_);
    EXPECT_EQ(client->watch_rvs.size(), 2u);
  }
  client->clock_->Advance(1s);
  client->AwaitWatches(3);
  inf.Stop();
  EXPECT_EQ(client->list_calls, 1);  // resumed from "10", no relist
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"10", "10", "10"}));
}

TEST(InformerLogicTest, IndexesFollowUpdatesAndDeletes) {
  auto client = std::make_shared<ScriptedClient>();
  auto labelled = [](const std::string& name, const std::string& rv, const std::string& team) {
    Json o = Cm(name, rv);
    o["metadata"]["labels"] = Json::object();
    o["metadata"]["labels"]["team"] = Json::string(team);
    return o;
  };
  client->lists = {List("10", {labelled("a", "1", "red"), labelled("b", "2", "red")})};
  client->watches.push_back({{Ev(WatchEvent::Type::kModified, labelled("a", "11", "blue")),
                              Ev(WatchEvent::Type::kDeleted, labelled("b", "12", "red"))},
                             false});
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddIndexer("team", IndexByLabel("team"));
  std::atomic<int> deletes{0};
  EventHandler h;
  h.on_delete = [&](const Json&) { ++deletes; };
  inf.AddEventHandler(h);
  inf.Run();
  ASSERT_TRUE(inf.WaitForSync(10s));
  while (deletes == 0) std::this_thread::yield();
  EXPECT_TRUE(inf.ByIndex("team", "red").empty());
  ASSERT_EQ(inf.ByIndex("team", "blue").size(), 1u);
  EXPECT_EQ(NameOf(inf.ByIndex("team", "blue")[0]), "a");
  // The counts a gauge reads, without a copy: the deleted and moved objects left "red".
  EXPECT_EQ(inf.IndexCounts("team"), (std::map<std::string, size_t>{{"blue", 1}}));
  EXPECT_TRUE(inf.IndexCounts("no such index").empty());
  inf.Stop();
}

TEST(InformerLogicTest, WatchListSyncsFromTheStreamAndReadsOnFromTheSameWatch) {
  auto client = std::make_shared<ScriptedClient>();
  client->watch_lists.push_back(
      {{Ev(WatchEvent::Type::kAdded, Cm("a", "5")), Ev(WatchEvent::Type::kAdded, Cm("b", "6")),
        Ev(WatchEvent::Type::kBookmark, Cm("", "8")),  // not the end
        InitialEventsEnd("10"), Ev(WatchEvent::Type::kModified, Cm("a", "11"))},
       true});
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  ASSERT_TRUE(inf.WaitForSync(10s));
  client->AwaitWatches(1);  // the watch-list ended (timeoutSeconds): a plain watch resumes
  inf.Stop();
  EXPECT_EQ(client->list_calls, 0);
  EXPECT_EQ(client->watch_list_calls, 1);
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"11"}));
  EXPECT_EQ(inf.ListCount(), 1);
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"add a", "add b", "update a@11"}));
  ASSERT_TRUE(inf.Get("ns", "a").has_value());
  EXPECT_EQ(ResourceVersionOf(*inf.Get("ns", "a")), "11");
  EXPECT_EQ(inf.Size(), 2u);
}

TEST(InformerLogicTest, WatchListRelistAfterGoneReconcilesTheCache) {
  auto client = std::make_shared<ScriptedClient>();
  client->watch_lists.push_back(
      {{Ev(WatchEvent::Type::kAdded, Cm("a", "1")), Ev(WatchEvent::Type::kAdded, Cm("b", "2")),
        InitialEventsEnd("10"), Ev(WatchEvent::Type::kError, GoneStatus())},
       true});
  client->watch_lists.push_back(
      {{Ev(WatchEvent::Type::kAdded, Cm("b", "40")), Ev(WatchEvent::Type::kAdded, Cm("c", "41")),
        InitialEventsEnd("50")},
       false});
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  while (inf.ListCount() < 2) std::this_thread::yield();
  inf.Stop();
  EXPECT_EQ(client->list_calls, 0);
  EXPECT_EQ(client->watch_list_calls, 2);
  EXPECT_TRUE(client->watch_rvs.empty());
  EXPECT_EQ(rec.Get(),
            (std::vector<std::string>{"add a", "add b", "update b@40", "add c", "delete a"}));
  EXPECT_FALSE(inf.Get("ns", "a").has_value());
  EXPECT_EQ(inf.Size(), 2u);
  EXPECT_EQ(inf.LastResourceVersion(), "50");
}

TEST(InformerLogicTest, WatchListWithoutItsEndBookmarkFallsBackToList) {
  // A server that ignores sendInitialEvents: a plain watch that never sends the bookmark.
  auto client = std::make_shared<ScriptedClient>();
  client->watch_lists.push_back({{Ev(WatchEvent::Type::kAdded, Cm("a", "1"))}, true});
  client->lists = {List("10", {Cm("a", "1"), Cm("b", "2")})};
  Recorder rec;
  Informer inf(client->Resource(kCms, "ns"));
  inf.AddEventHandler(rec.Handler());
  inf.Run();
  client->AwaitWatches(1);
  inf.Stop();
  EXPECT_EQ(client->list_calls, 1);
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"10"}));
  EXPECT_EQ(rec.Get(), (std::vector<std::string>{"add a", "add b"}));
}

TEST(InformerLogicTest, WatchListTransportErrorsBackOffAndRetryTheWatchList) {
  auto client = std::make_shared<ScriptedClient>();
  WatchScript refused;
  refused.refuse_transport = true;
  client->watch_lists.push_back(refused);
  client->watch_lists.push_back({{InitialEventsEnd("10")}, false});
  InformerOptions o;
  o.min_backoff = 1s;
  Informer inf(client->Resource(kCms, "ns"), o);
  inf.Run();
  while (client->clock_->Waiters() == 0) std::this_thread::yield();
  client->clock_->Advance(1s);
  ASSERT_TRUE(inf.WaitForSync(10s));
  inf.Stop();
  EXPECT_EQ(client->watch_list_calls, 2);
  EXPECT_EQ(client->list_calls, 0);
}

TEST(InformerLogicTest, WatchListCanBeTurnedOff) {
  auto client = std::make_shared<ScriptedClient>();
  client->watch_lists.push_back({{InitialEventsEnd("10")}, false});
  client->lists = {List("7", {Cm("a", "1")})};
  InformerOptions o;
  o.watch_list = false;
  Informer inf(client->Resource(kCms, "ns"), o);
  inf.Run();
  client->AwaitWatches(1);
  inf.Stop();
  EXPECT_EQ(client->watch_list_calls, 0);
  EXPECT_EQ(client->watch_rvs, (std::vector<std::string>{"7"}));
}

TEST(InformerLogicTest, HandlersAndReadersGetCopiesOfTheirOwn) {
  auto client = std::make_shared<ScriptedClient>();
  client->lists = {List("10", {Cm("a", "1")})};
  Informer inf(client->Resource(kCms, "ns"));
  EventHandler h;
  h.on_add = [](const Json& o) {
    Json copy = o;
    copy["metadata"]["name"] = Json::string("changed");
  };
  inf.AddEventHandler(h);
  inf.Run();
  ASSERT_TRUE(inf.WaitForSync(10s));
  std::optional<Json> got = inf.Get("ns/a");
  ASSERT_TRUE(got.has_value());
  (*got)["metadata"]["name"] = Json::string("changed");
  std::vector<Json> all = inf.List();
  ASSERT_EQ(all.size(), 1u);
  EXPECT_EQ(NameOf(all[0]), "a");
  EXPECT_EQ(NameOf(*inf.Get("ns", "a")), "a");
  EXPECT_EQ(inf.ListKeys(), (std::vector<std::string>{"ns/a"}));
  inf.Stop();
}

}  // namespace
}  // namespace poolguard::kube
