#include "app/webhook_notifier.h"

#include <cpprest/http_client.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace poolguard::controller {

WebhookSender HttpWebhookSender() {
  return [](const std::string& url, const std::string& body, std::chrono::milliseconds timeout) {
    web::http::client::http_client_config config;
    config.set_timeout(timeout);
    web::http::client::http_client client(url, config);
    web::http::http_request request(web::http::methods::POST);
    request.set_body(body, "application/json");
    request.headers().add("User-Agent", "poolguard-controller");
    auto response = client.request(request).get();
    return static_cast<int>(response.status_code());
  };
}

WebhookNotifier::WebhookNotifier(WebhookNotifierOptions options, WebhookSender sender)
    : options_(std::move(options)), sender_(std::move(sender)) {
  thread_ = std::thread([this] { Run(); });
}

WebhookNotifier::~WebhookNotifier() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  thread_.join();
}

void WebhookNotifier::Notify(const Notification& n, const std::optional<WebhookTarget>& extra) {
  std::vector<WebhookTarget> targets = options_.targets;
  if (extra && std::find(targets.begin(), targets.end(), *extra) == targets.end()) {
    targets.push_back(*extra);
  }
  if (targets.empty()) return;
  std::vector<std::string> dropped;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& t : targets) {
      const std::string key = n.Key() + " -> " + t.url;
      if (seen_.count(key) != 0) {
        ++stats_.duplicates;
        continue;
      }
      if (queue_.size() >= options_.max_queue) {
        ++stats_.dropped;
        dropped.push_back(key);
        continue;
      }
      seen_.insert(key);
      seen_order_.push_back(key);
      while (seen_order_.size() > options_.remembered) {
        seen_.erase(seen_order_.front());
        seen_order_.pop_front();
      }
      queue_.push_back(Delivery{key, t.url, Payload(t.format, n, options_.console_url).serialize(),
                                0, std::chrono::steady_clock::now()});
    }
  }
  cv_.notify_all();
  for (const auto& key : dropped) {
    spdlog::warn("notification {} dropped: {} deliveries already queued", key, options_.max_queue);
    if (on_result) on_result("dropped");
  }
}

void WebhookNotifier::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    if (queue_.empty()) {
      idle_cv_.notify_all();
      cv_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      continue;
    }
    // The delivery due first.
    auto next = std::min_element(queue_.begin(), queue_.end(),
                                 [](const auto& a, const auto& b) { return a.due < b.due; });
    if (next->due > std::chrono::steady_clock::now()) {
      cv_.wait_until(lock, next->due);
      continue;
    }
    Delivery d = std::move(*next);
    queue_.erase(next);
    in_flight_ = true;
    lock.unlock();
    std::string error;
    int status = 0;
    try {
      status = sender_(d.url, d.body, options_.timeout);
      if (status < 200 || status >= 300) error = "HTTP " + std::to_string(status);
    } catch (const std::exception& e) {
      error = e.what();
    }
    lock.lock();
    // in_flight_ stays true until the delivery is queued again or its result reported:
    // WaitIdle must not see an idle notifier in between (the log calls unlock).
    ++stats_.attempts;
    ++d.attempt;
    const char* result = nullptr;
    if (error.empty()) {
      ++stats_.sent;
      result = "sent";
    } else if (d.attempt >= options_.attempts) {
      ++stats_.failed;
      result = "failed";
    } else {
      const auto wait = options_.backoff * (1 << std::min(d.attempt - 1, 10));
      d.due = std::chrono::steady_clock::now() + wait;
      const std::string key = d.key;
      const int attempt = d.attempt;
      queue_.push_back(std::move(d));
      in_flight_ = false;
      lock.unlock();
      spdlog::info("notification {}: attempt {} of {} failed ({}); again in {} ms", key, attempt,
                   options_.attempts, error, wait.count());
      lock.lock();
      continue;
    }
    lock.unlock();
    if (error.empty()) {
      spdlog::info("notification {} sent", d.key);
    } else {
      spdlog::warn("notification {} not delivered after {} attempts: {}", d.key, d.attempt, error);
    }
    if (on_result) on_result(result);
    lock.lock();
    in_flight_ = false;
  }
}

WebhookNotifier::Stats WebhookNotifier::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

bool WebhookNotifier::WaitIdle(std::chrono::milliseconds timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, timeout, [this] { return queue_.empty() && !in_flight_; });
}

}  // namespace poolguard::controller
