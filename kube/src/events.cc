#include "poolguard/kube/events.h"

#include <condition_variable>
#include <deque>
#include <list>
#include <mutex>
#include <thread>
#include <unordered_map>

#include "log_internal.h"
#include "poolguard/common/json_util.h"
#include "time_util.h"

namespace poolguard::kube {

namespace {

const GroupVersionResource kEvents{"", "v1", "events", true};
constexpr size_t kMaxQueued = 1000;

class ClientEventSink : public EventSink {
 public:
  explicit ClientEventSink(std::shared_ptr<Client> client) : client_(std::move(client)) {}
  Json Create(const std::string& ns, const Json& event) override {
    return client_->Resource(kEvents, ns).Create(event);
  }
  Json Patch(const std::string& ns, const std::string& name, const Json& patch) override {
    return client_->Resource(kEvents, ns).Patch(name, PatchType::kMerge, patch);
  }

 private:
  std::shared_ptr<Client> client_;
};

struct Pending {
  Json involved;
  std::string type, reason, message;
};

struct Aggregate {
  std::string ns, name;
  int count = 0;
  Clock::TimePoint first_seen;
  std::string first_timestamp;
  std::list<std::string>::iterator lru;
};

}  // namespace

std::unique_ptr<EventSink> NewClientEventSink(std::shared_ptr<Client> client) {
  return std::make_unique<ClientEventSink>(std::move(client));
}

class EventRecorder::Impl {
 public:
  Impl(std::unique_ptr<EventSink> sink, EventRecorderOptions options, std::shared_ptr<Clock> clock)
      : sink_(std::move(sink)), options_(std::move(options)), clock_(std::move(clock)) {
    thread_ = std::thread([this] { Loop(); });
  }

  ~Impl() {
    Flush();
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopped_ = true;
    }
    cv_.notify_all();
    thread_.join();
  }

  void Record(const Json& involved, const std::string& type, const std::string& reason,
              const std::string& message) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (stopped_) return;
      if (queue_.size() >= kMaxQueued) {
        ++dropped_;
        return;
      }
      queue_.push_back(Pending{involved, type, reason, message});
    }
    cv_.notify_all();
  }

  void Flush() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_cv_.wait(lock, [this] { return queue_.empty() && !busy_; });
  }

  uint64_t Written() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return written_;
  }

 private:
  void Loop() {
    std::unique_lock<std::mutex> lock(mutex_);
    while (true) {
      cv_.wait(lock, [this] { return stopped_ || !queue_.empty(); });
      if (queue_.empty()) {
        if (stopped_) return;
        continue;
      }
      Pending p = std::move(queue_.front());
      queue_.pop_front();
      busy_ = true;
      lock.unlock();
      bool ok = Write(p);
      lock.lock();
      busy_ = false;
      if (ok) ++written_;
      if (queue_.empty()) idle_cv_.notify_all();
    }
  }

  // Runs on the recorder's thread only, so the aggregation cache needs no lock.
  bool Write(const Pending& p) {
    const Json& obj = p.involved;
    std::string ns = NamespaceOf(obj);
    if (ns.empty()) ns = "default";
    std::string key = UidOf(obj) + "\x1f" + json::StringField(obj, "kind") + "\x1f" + ns + "\x1f" +
                      NameOf(obj) + "\x1f" + p.type + "\x1f" + p.reason + "\x1f" + p.message;
    auto now = clock_->Now();
    std::string wall = time_util::Rfc3339(clock_->WallNow(), false);
    try {
      auto it = cache_.find(key);
      if (it != cache_.end() && now - it->second.first_seen < options_.aggregation_window) {
        Aggregate& a = it->second;
        Json patch = Json::object();
        patch["count"] = Json::number(a.count + 1);
        patch["lastTimestamp"] = Json::string(wall);
        try {
          sink_->Patch(a.ns, a.name, patch);
          ++a.count;
          lru_.splice(lru_.end(), lru_, a.lru);
          return true;
        } catch (const ApiError& e) {
          if (!IsNotFound(e)) throw;
          // The event expired on the server (events have a TTL): start a new one.
        }
      }
      Json ev = Json::object();
      ev["apiVersion"] = Json::string("v1");
      ev["kind"] = Json::string("Event");
      ev["metadata"] = Json::object();
      ev["metadata"]["name"] = Json::string(EventName(NameOf(obj)));
      ev["metadata"]["namespace"] = Json::string(ns);
      Json ref = Json::object();
      for (const char* f : {"apiVersion", "kind"}) {
        std::string v = json::StringField(obj, f);
        if (!v.empty()) ref[f] = Json::string(v);
      }
      ref["name"] = Json::string(NameOf(obj));
      if (!NamespaceOf(obj).empty()) ref["namespace"] = Json::string(NamespaceOf(obj));
      if (!UidOf(obj).empty()) ref["uid"] = Json::string(UidOf(obj));
      if (!ResourceVersionOf(obj).empty()) {
        ref["resourceVersion"] = Json::string(ResourceVersionOf(obj));
      }
      ev["involvedObject"] = ref;
      ev["type"] = Json::string(p.type);
      ev["reason"] = Json::string(p.reason);
      ev["message"] = Json::string(p.message);
      ev["source"] = Json::object();
      ev["source"]["component"] = Json::string(options_.component);
      if (!options_.host.empty()) ev["source"]["host"] = Json::string(options_.host);
      ev["reportingComponent"] = Json::string(options_.component);
      ev["reportingInstance"] = Json::string(options_.host);
      ev["firstTimestamp"] = Json::string(wall);
      ev["lastTimestamp"] = Json::string(wall);
      ev["count"] = Json::number(1);
      Json created = sink_->Create(ns, ev);
      Remember(key, ns, NameOf(created).empty() ? NameOf(ev) : NameOf(created), now, wall);
      return true;
    } catch (const std::exception& e) {
      internal::Log(LogLevel::kWarning,
                    "event " + p.reason + " on " + KeyOf(obj) + " dropped: " + e.what());
      return false;
    }
  }

  void Remember(const std::string& key, const std::string& ns, const std::string& name,
                Clock::TimePoint now, const std::string& wall) {
    auto it = cache_.find(key);
    if (it != cache_.end()) {
      lru_.erase(it->second.lru);
      cache_.erase(it);
    }
    while (cache_.size() >= options_.cache_size && !lru_.empty()) {
      cache_.erase(lru_.front());
      lru_.pop_front();
    }
    lru_.push_back(key);
    Aggregate a;
    a.ns = ns;
    a.name = name;
    a.count = 1;
    a.first_seen = now;
    a.first_timestamp = wall;
    a.lru = std::prev(lru_.end());
    cache_.emplace(key, std::move(a));
  }

  std::string EventName(const std::string& object_name) {
    // client-go's form: <object>.<hex nanoseconds>; a counter keeps names unique when the
    // clock does not move (fake clocks, coarse clocks).
    auto ns =
        std::chrono::duration_cast<std::chrono::nanoseconds>(clock_->WallNow().time_since_epoch())
            .count();
    char buf[40];
    std::snprintf(buf, sizeof buf, "%llx", static_cast<unsigned long long>(ns + (seq_++)));
    return object_name + "." + buf;
  }

  std::unique_ptr<EventSink> sink_;
  EventRecorderOptions options_;
  std::shared_ptr<Clock> clock_;

  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::condition_variable idle_cv_;
  std::deque<Pending> queue_;
  bool busy_ = false;
  bool stopped_ = false;
  uint64_t written_ = 0;
  uint64_t dropped_ = 0;

  std::unordered_map<std::string, Aggregate> cache_;
  std::list<std::string> lru_;
  uint64_t seq_ = 0;
  std::thread thread_;
};

EventRecorder::EventRecorder(std::unique_ptr<EventSink> sink, EventRecorderOptions options,
                             std::shared_ptr<Clock> clock)
    : impl_(std::make_unique<Impl>(std::move(sink), std::move(options),
                                   clock ? std::move(clock) : Clock::Real())) {}
EventRecorder::~EventRecorder() = default;
void EventRecorder::Record(const Json& involved, const std::string& type, const std::string& reason,
                           const std::string& message) {
  impl_->Record(involved, type, reason, message);
}
void EventRecorder::Flush() { impl_->Flush(); }
uint64_t EventRecorder::Written() const { return impl_->Written(); }

}  // namespace poolguard::kube
