// Issue 14: notifications are retried, delivered once per webhook, bounded, and never
// block the reconciler that queues them.
#include "app/webhook_notifier.h"

#include <gtest/gtest.h>

#include <atomic>
#include <future>
#include <mutex>
#include <vector>

namespace poolguard::controller {
namespace {

using namespace std::chrono_literals;

Notification N(const std::string& event, const std::string& incident = "i1") {
  Notification n;
  n.kind = "Remediation";
  n.event = event;
  n.ns = "shop";
  n.name = "api";
  n.incident = incident;
  return n;
}

// A receiver that answers from a script of statuses (then 200), recording each call.
struct Receiver {
  std::mutex mu;
  std::vector<std::pair<std::string, std::string>> calls;  // url, body
  std::vector<int> script;
  WebhookSender Sender() {
    return [this](const std::string& url, const std::string& body, std::chrono::milliseconds) {
      std::lock_guard<std::mutex> lock(mu);
      calls.emplace_back(url, body);
      if (calls.size() <= script.size()) {
        const int s = script[calls.size() - 1];
        if (s < 0) throw std::runtime_error("connection refused");
        return s;
      }
      return 200;
    };
  }
  std::size_t count() {
    std::lock_guard<std::mutex> lock(mu);
    return calls.size();
  }
};

WebhookNotifierOptions Options(std::vector<WebhookTarget> targets = {
                                   {"http://hook/a", WebhookFormat::kSlack}}) {
  WebhookNotifierOptions o;
  o.targets = std::move(targets);
  o.backoff = 1ms;
  o.attempts = 4;
  return o;
}

TEST(WebhookNotifier, RetriesUntilTheReceiverTakesIt) {
  Receiver r;
  r.script = {503, -1, 500};  // then 200
  WebhookNotifier notifier(Options(), r.Sender());
  std::vector<std::string> results;
  notifier.on_result = [&](const std::string& s) { results.push_back(s); };
  notifier.Notify(N("AwaitingApproval"), std::nullopt);
  ASSERT_TRUE(notifier.WaitIdle(5s));
  EXPECT_EQ(r.count(), 4u);
  EXPECT_EQ(notifier.stats().sent, 1u);
  EXPECT_EQ(notifier.stats().attempts, 4u);
  EXPECT_EQ(results, std::vector<std::string>{"sent"});
}

TEST(WebhookNotifier, GivesUpAfterItsAttempts) {
  Receiver r;
  r.script = {500, 500, 500, 500, 500, 500};
  WebhookNotifier notifier(Options(), r.Sender());
  notifier.Notify(N("NeedsHuman"), std::nullopt);
  ASSERT_TRUE(notifier.WaitIdle(5s));
  EXPECT_EQ(r.count(), 4u);  // attempts = 4
  EXPECT_EQ(notifier.stats().failed, 1u);
  EXPECT_EQ(notifier.stats().sent, 0u);
}

TEST(WebhookNotifier, EachNotificationOncePerWebhook) {
  Receiver r;
  WebhookNotifier notifier(Options(), r.Sender());
  const WebhookTarget own{"http://hook/own", WebhookFormat::kAlertmanager};
  notifier.Notify(N("AwaitingApproval"), own);
  notifier.Notify(N("AwaitingApproval"), own);  // a reconcile that repeats itself
  notifier.Notify(N("Resolved"), own);
  notifier.Notify(N("AwaitingApproval", "i2"), std::nullopt);  // the next incident
  ASSERT_TRUE(notifier.WaitIdle(5s));
  EXPECT_EQ(r.count(), 5u);  // 2 + 2 + 1
  EXPECT_EQ(notifier.stats().duplicates, 2u);
  std::lock_guard<std::mutex> lock(r.mu);
  int alertmanager = 0;
  for (const auto& [url, body] : r.calls) {
    if (url == "http://hook/own") {
      EXPECT_NE(body.find("\"version\":\"4\""), std::string::npos) << body;
      ++alertmanager;
    } else {
      EXPECT_NE(body.find("\"text\""), std::string::npos) << body;
    }
  }
  EXPECT_EQ(alertmanager, 2);
}

TEST(WebhookNotifier, NeverBlocksTheCallerAndDropsBeyondItsQueue) {
  std::promise<void> release;
  std::shared_future<void> released = release.get_future().share();
  std::atomic<int> calls{0};
  WebhookNotifierOptions o = Options();
  o.max_queue = 2;
  WebhookNotifier notifier(o,
                           [&](const std::string&, const std::string&, std::chrono::milliseconds) {
                             ++calls;
                             released.wait();  // a receiver that hangs
                             return 200;
                           });
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < 10; ++i)
    notifier.Notify(N("AwaitingApproval", "i" + std::to_string(i)), std::nullopt);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1s);
  // One in flight, two queued, the rest dropped (never more than the bound).
  for (int i = 0; i < 200 && calls.load() == 0; ++i) std::this_thread::sleep_for(5ms);
  const auto s = notifier.stats();
  EXPECT_GE(s.dropped, 7u);
  release.set_value();
  ASSERT_TRUE(notifier.WaitIdle(5s));
  EXPECT_EQ(notifier.stats().sent + notifier.stats().dropped, 10u);
}

TEST(WebhookNotifier, NothingToDoWithoutWebhooks) {
  Receiver r;
  WebhookNotifier notifier(Options({}), r.Sender());
  notifier.Notify(N("Resolved"), std::nullopt);
  ASSERT_TRUE(notifier.WaitIdle(1s));
  EXPECT_EQ(r.count(), 0u);
}

}  // namespace
}  // namespace poolguard::controller
