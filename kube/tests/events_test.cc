#include "poolguard/kube/events.h"

#include <gtest/gtest.h>

#include <mutex>

namespace poolguard::kube {
namespace {

using namespace std::chrono_literals;

struct Call {
  std::string op, ns, name;
  Json body;
};

class RecordingSink : public EventSink {
 public:
  explicit RecordingSink(std::vector<Call>* calls, std::mutex* mu) : calls_(calls), mu_(mu) {}
  Json Create(const std::string& ns, const Json& event) override {
    std::lock_guard<std::mutex> g(*mu_);
    calls_->push_back({"create", ns, event.at("metadata").at("name").as_string(), event});
    return event;
  }
  Json Patch(const std::string& ns, const std::string& name, const Json& patch) override {
    std::lock_guard<std::mutex> g(*mu_);
    if (fail_patch_not_found) throw ApiError(ErrorKind::kNotFound, 404, "NotFound", "gone");
    calls_->push_back({"patch", ns, name, patch});
    return patch;
  }
  bool fail_patch_not_found = false;

 private:
  std::vector<Call>* calls_;
  std::mutex* mu_;
};

Json Pod(const std::string& name) {
  return Json::parse(R"({"apiVersion":"v1","kind":"Pod","metadata":{"name":")" + name +
                     R"(","namespace":"ns1","uid":"u-)" + name + R"(","resourceVersion":"7"}})");
}

class EventRecorderTest : public ::testing::Test {
 protected:
  std::vector<Call> calls_;
  std::mutex mu_;
  std::shared_ptr<FakeClock> clock_ = std::make_shared<FakeClock>();
};

TEST_F(EventRecorderTest, RepeatsBumpCountInsteadOfCreating) {
  auto sink = std::make_unique<RecordingSink>(&calls_, &mu_);
  EventRecorderOptions options;
  options.component = "poolguard-controller";
  EventRecorder rec(std::move(sink), options, clock_);
  for (int i = 0; i < 3; ++i) rec.Record(Pod("api-1"), "Warning", "ProbeFailed", "health 503");
  rec.Flush();
  ASSERT_EQ(calls_.size(), 3u);
  EXPECT_EQ(calls_[0].op, "create");
  EXPECT_EQ(calls_[0].ns, "ns1");
  const Json& ev = calls_[0].body;
  EXPECT_EQ(ev.at("involvedObject").at("uid").as_string(), "u-api-1");
  EXPECT_EQ(ev.at("involvedObject").at("kind").as_string(), "Pod");
  EXPECT_EQ(ev.at("reason").as_string(), "ProbeFailed");
  EXPECT_EQ(ev.at("type").as_string(), "Warning");
  EXPECT_EQ(ev.at("count").as_integer(), 1);
  EXPECT_EQ(ev.at("source").at("component").as_string(), "poolguard-controller");
  EXPECT_EQ(calls_[1].op, "patch");
  EXPECT_EQ(calls_[1].name, calls_[0].name);
  EXPECT_EQ(calls_[1].body.at("count").as_integer(), 2);
  EXPECT_EQ(calls_[2].body.at("count").as_integer(), 3);
  EXPECT_EQ(rec.Written(), 3u);
}

TEST_F(EventRecorderTest, DifferentMessageOrObjectIsANewEvent) {
  EventRecorder rec(std::make_unique<RecordingSink>(&calls_, &mu_), {}, clock_);
  rec.Record(Pod("a"), "Normal", "Started", "one");
  rec.Record(Pod("a"), "Normal", "Started", "two");
  rec.Record(Pod("b"), "Normal", "Started", "one");
  rec.Flush();
  ASSERT_EQ(calls_.size(), 3u);
  for (const auto& c : calls_) EXPECT_EQ(c.op, "create");
  EXPECT_NE(calls_[0].name, calls_[1].name);
}

TEST_F(EventRecorderTest, AfterTheWindowARepeatStartsANewEvent) {
  EventRecorderOptions options;
  options.aggregation_window = 600s;
  EventRecorder rec(std::make_unique<RecordingSink>(&calls_, &mu_), options, clock_);
  rec.Record(Pod("a"), "Normal", "Synced", "ok");
  rec.Flush();
  clock_->Advance(601s);
  rec.Record(Pod("a"), "Normal", "Synced", "ok");
  rec.Flush();
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].op, "create");
}

TEST_F(EventRecorderTest, ExpiredServerEventIsRecreated) {
  auto sink = std::make_unique<RecordingSink>(&calls_, &mu_);
  RecordingSink* raw = sink.get();
  EventRecorder rec(std::move(sink), {}, clock_);
  rec.Record(Pod("a"), "Normal", "Synced", "ok");
  rec.Flush();
  {
    std::lock_guard<std::mutex> g(mu_);
    raw->fail_patch_not_found = true;
  }
  rec.Record(Pod("a"), "Normal", "Synced", "ok");
  rec.Flush();
  ASSERT_EQ(calls_.size(), 2u);
  EXPECT_EQ(calls_[1].op, "create");
  EXPECT_EQ(calls_[1].body.at("count").as_integer(), 1);
}

}  // namespace
}  // namespace poolguard::kube
