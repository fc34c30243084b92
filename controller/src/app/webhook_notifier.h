#pragma once

// Sends notifications to webhooks from one thread of its own: a bounded queue, each
// (notification, webhook) pair once, retried with exponential backoff, never blocking the
// reconcilers that queue them.

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "core/notifier.h"

namespace poolguard::controller {

/// POSTs `body` (JSON) to `url` within `timeout`; returns the HTTP status, throws on a
/// transport error.
using WebhookSender = std::function<int(const std::string& url, const std::string& body,
                                        std::chrono::milliseconds timeout)>;
/// The real one (cpprestsdk: http and https).
WebhookSender HttpWebhookSender();

struct WebhookNotifierOptions {
  std::vector<WebhookTarget> targets;        // cluster-wide
  std::string console_url;                   // for the links in payloads
  std::size_t max_queue = 256;               // deliveries waiting; beyond it new ones are dropped
  int attempts = 5;                          // per delivery
  std::chrono::milliseconds backoff{1000};   // before the 2nd attempt, doubling after
  std::chrono::milliseconds timeout{10000};  // per attempt
  std::size_t remembered = 4096;             // delivered keys kept for deduplication
};

class WebhookNotifier final : public Notifier {
 public:
  WebhookNotifier(WebhookNotifierOptions options, WebhookSender sender);
  ~WebhookNotifier() override;  // stops at once; what is still queued is dropped

  void Notify(const Notification& n, const std::optional<WebhookTarget>& extra) override;

  struct Stats {
    std::uint64_t sent = 0, failed = 0, dropped = 0, duplicates = 0, attempts = 0;
  };
  Stats stats() const;
  /// Tests: waits until nothing is queued or in flight.
  bool WaitIdle(std::chrono::milliseconds timeout);

  /// Called with "sent", "failed" (attempts used up) or "dropped" (queue full), e.g. to
  /// count them in metrics. Set before the first Notify.
  std::function<void(const std::string& result)> on_result;

 private:
  struct Delivery {
    std::string key, url, body;
    int attempt = 0;
    std::chrono::steady_clock::time_point due;
  };
  void Run();

  WebhookNotifierOptions options_;
  WebhookSender sender_;
  mutable std::mutex mu_;
  std::condition_variable cv_, idle_cv_;
  std::deque<Delivery> queue_;
  bool in_flight_ = false;
  bool stopping_ = false;
  std::set<std::string> seen_;
  std::deque<std::string> seen_order_;
  Stats stats_;
  std::thread thread_;
};

}  // namespace poolguard::controller
