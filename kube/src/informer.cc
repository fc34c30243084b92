#include "poolguard/kube/informer.h"

#include <atomic>
#include <condition_variable>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "json_util.h"
#include "log_internal.h"

namespace poolguard::kube {

IndexFunc IndexByLabel(const std::string& label_key) {
  return [label_key](const Json& obj) -> std::vector<std::string> {
    const Json* labels = json_util::Find(obj, {"metadata", "labels"});
    if (!labels || !labels->is_object() || !labels->has_field(label_key)) return {};
    const Json& v = labels->at(label_key);
    if (!v.is_string()) return {};
    return {v.as_string()};
  };
}

IndexFunc IndexByOwnerUid() {
  return [](const Json& obj) -> std::vector<std::string> {
    std::vector<std::string> out;
    const Json* owners = json_util::Find(obj, {"metadata", "ownerReferences"});
    if (!owners || !owners->is_array()) return out;
    for (const auto& ref : owners->as_array()) {
      std::string uid = json_util::Str(ref, "uid");
      if (!uid.empty()) out.push_back(uid);
    }
    return out;
  };
}

class Informer::Impl {
 public:
  Impl(ResourceClient resource, InformerOptions options)
      : resource_(std::move(resource)),
        options_(std::move(options)),
        clock_(resource_.client()->clock()) {
    if (options_.selectors.limit <= 0) options_.selectors.limit = 500;
  }

  ~Impl() { Stop(); }

  void AddEventHandler(EventHandler h) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    handlers_.push_back(std::move(h));
  }

  void AddIndexer(const std::string& name, IndexFunc f) {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    indexers_[name] = std::move(f);
    for (const auto& [key, obj] : items_) IndexLocked(key, obj);
  }

  void Run() {
    std::lock_guard<std::mutex> guard(run_mutex_);
    if (thread_.joinable()) return;
    stopped_ = false;
    thread_ = std::thread([this] { Loop(); });
    if (options_.resync_period.count() > 0) {
      resync_thread_ = std::thread([this] { ResyncLoop(); });
    }
  }

  void Stop() {
    std::lock_guard<std::mutex> guard(run_mutex_);
    {
      std::lock_guard<std::mutex> lock(wait_mutex_);
      stopped_ = true;
      if (stream_) stream_->Stop();
    }
    wait_cv_.notify_all();
    if (thread_.joinable()) thread_.join();
    if (resync_thread_.joinable()) resync_thread_.join();
  }

  bool HasSynced() const { return synced_; }

  bool WaitForSync(std::chrono::milliseconds timeout) const {
    std::unique_lock<std::mutex> lock(sync_mutex_);
    return sync_cv_.wait_for(lock, timeout, [this] { return synced_.load(); });
  }

  std::optional<Json> Get(const std::string& key) const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    auto it = items_.find(key);
    if (it == items_.end()) return std::nullopt;
    return it->second;  // a copy
  }

  std::vector<Json> List() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::vector<Json> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(v);
    return out;
  }

  std::vector<std::string> ListKeys() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(k);
    return out;
  }

  std::vector<Json> ByIndex(const std::string& index, const std::string& value) const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::vector<Json> out;
    auto iit = indices_.find(index);
    if (iit == indices_.end()) return out;
    auto vit = iit->second.find(value);
    if (vit == iit->second.end()) return out;
    for (const auto& key : vit->second) out.push_back(items_.at(key));
    return out;
  }

  size_t Size() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    return items_.size();
  }

  std::string LastResourceVersion() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    return last_rv_;
  }

  int ListCount() const { return list_count_; }

 private:
  // ---- cache (cache_mutex_ held) --------------------------------------------------------

  void UnindexLocked(const std::string& key) {
    auto kit = indexed_values_.find(key);
    if (kit == indexed_values_.end()) return;
    for (const auto& [index, values] : kit->second) {
      auto& idx = indices_[index];
      for (const auto& v : values) {
        auto vit = idx.find(v);
        if (vit == idx.end()) continue;
        vit->second.erase(key);
        if (vit->second.empty()) idx.erase(vit);
      }
    }
    indexed_values_.erase(kit);
  }

  void IndexLocked(const std::string& key, const Json& obj) {
    UnindexLocked(key);
    for (const auto& [index, func] : indexers_) {
      std::vector<std::string> values = func(obj);
      for (const auto& v : values) indices_[index][v].insert(key);
      indexed_values_[key][index] = std::move(values);
    }
  }

  // ---- handlers (handler_mutex_ held, cache lock not held) ------------------------------

  void NotifyAdd(const Json& obj) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    for (auto& h : handlers_) {
      if (h.on_add) Guard([&] { h.on_add(obj); });
    }
  }
  void NotifyUpdate(const Json& old_obj, const Json& new_obj) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    for (auto& h : handlers_) {
      if (h.on_update) Guard([&] { h.on_update(old_obj, new_obj); });
    }
  }
  void NotifyDelete(const Json& obj) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    for (auto& h : handlers_) {
      if (h.on_delete) Guard([&] { h.on_delete(obj); });
    }
  }
  template <typename F>
  void Guard(F&& f) {
    // A throwing handler must not kill the watch thread (and with it the cache).
    try {
      f();
    } catch (const std::exception& e) {
      internal::Log(LogLevel::kError, What() + ": event handler threw: " + e.what());
    }
  }

  std::string What() const { return "informer " + resource_.Path(resource_.ns()); }

  // ---- list and watch --------------------------------------------------------------------

  void ListAndReplace() {
    ListOptions lo = options_.selectors;
    lo.resource_version.clear();
    lo.continue_token.clear();
    ObjectList list = resource_.ListAll(lo);

    std::vector<std::pair<std::optional<Json>, Json>> changes;  // (old, new)
    std::vector<Json> deleted;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      std::set<std::string> seen;
      for (auto& item : list.items) {
        std::string key = KeyOf(item);
        seen.insert(key);
        auto it = items_.find(key);
        if (it == items_.end()) {
          changes.emplace_back(std::nullopt, item);
          IndexLocked(key, item);
          items_.emplace(key, std::move(item));
        } else if (ResourceVersionOf(it->second) != ResourceVersionOf(item)) {
          changes.emplace_back(it->second, item);
          IndexLocked(key, item);
          it->second = std::move(item);
        }
      }
      for (auto it = items_.begin(); it != items_.end();) {
        if (!seen.count(it->first)) {
          deleted.push_back(std::move(it->second));
          UnindexLocked(it->first);
          it = items_.erase(it);
        } else {
          ++it;
        }
      }
      last_rv_ = list.resource_version;
    }
    for (auto& [old_obj, new_obj] : changes) {
      if (old_obj) {
        NotifyUpdate(*old_obj, new_obj);
      } else {
        NotifyAdd(new_obj);
      }
    }
    for (auto& obj : deleted) NotifyDelete(obj);
    ++list_count_;
    if (!synced_) {
      std::lock_guard<std::mutex> guard(sync_mutex_);
      synced_ = true;
      sync_cv_.notify_all();
    }
  }

  // Applies one watch event; returns false if the watch must be abandoned for a relist.
  bool Apply(WatchEvent& ev) {
    using T = WatchEvent::Type;
    if (ev.type == T::kError) {
      ApiError err = ErrorFromStatus(ev.object);
      if (IsGone(err)) return false;
      throw err;
    }
    std::string rv = ResourceVersionOf(ev.object);
    if (ev.type == T::kBookmark) {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      if (!rv.empty()) last_rv_ = rv;
      return true;
    }
    std::string key = KeyOf(ev.object);
    std::optional<Json> old_obj;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      auto it = items_.find(key);
      if (it != items_.end()) old_obj = it->second;
      if (ev.type == T::kDeleted) {
        if (it != items_.end()) {
          UnindexLocked(key);
          items_.erase(it);
        }
      } else {
        IndexLocked(key, ev.object);
        items_[key] = ev.object;
      }
      if (!rv.empty()) last_rv_ = rv;
    }
    if (ev.type == T::kDeleted) {
      NotifyDelete(ev.object);
    } else if (old_obj) {
      NotifyUpdate(*old_obj, ev.object);
    } else {
      NotifyAdd(ev.object);
    }
    return true;
  }

  void Loop() {
    bool need_list = true;
    auto backoff = std::chrono::duration_cast<Clock::Duration>(options_.min_backoff);
    const auto max_backoff = std::chrono::duration_cast<Clock::Duration>(options_.max_backoff);
    while (!IsStopped()) {
      try {
        if (need_list) {
          ListAndReplace();
          need_list = false;
        }
        ListOptions wo = options_.selectors;
        wo.resource_version = LastResourceVersion();
        wo.timeout_seconds = static_cast<int>(options_.watch_timeout.count());
        std::unique_ptr<WatchStream> stream = resource_.Watch(wo);
        {
          std::lock_guard<std::mutex> lock(wait_mutex_);
          if (stopped_) break;
          stream_ = stream.get();
        }
        bool gone = false;
        try {
          while (auto ev = stream->Next()) {
            if (!Apply(*ev)) {
              gone = true;
              break;
            }
          }
        } catch (...) {
          ClearStream();
          throw;
        }
        ClearStream();
        if (gone) {
          internal::Log(LogLevel::kInfo, What() + ": resourceVersion expired (410), relisting");
          need_list = true;
        }
        // A watch that ended normally (timeoutSeconds) resumes at once from the last
        // resourceVersion seen.
        backoff = std::chrono::duration_cast<Clock::Duration>(options_.min_backoff);
      } catch (const ApiError& e) {
        if (IsStopped()) break;
        if (IsGone(e)) {
          need_list = true;
          internal::Log(LogLevel::kInfo, What() + ": " + e.what() + "; relisting");
          continue;
        }
        internal::Log(LogLevel::kWarning, What() + ": " + e.what() + "; retrying");
        Sleep(backoff);
        backoff = std::min(backoff * 2, max_backoff);
      } catch (const std::exception& e) {
        if (IsStopped()) break;
        internal::Log(LogLevel::kWarning, What() + ": " + e.what() + "; retrying");
        Sleep(backoff);
        backoff = std::min(backoff * 2, max_backoff);
      }
    }
  }

  void ResyncLoop() {
    auto period = std::chrono::duration_cast<Clock::Duration>(options_.resync_period);
    while (!IsStopped()) {
      Sleep(period);
      if (IsStopped() || !synced_) continue;
      for (const Json& obj : List()) NotifyUpdate(obj, obj);
    }
  }

  void ClearStream() {
    std::lock_guard<std::mutex> lock(wait_mutex_);
    stream_ = nullptr;
  }

  bool IsStopped() {
    std::lock_guard<std::mutex> lock(wait_mutex_);
    return stopped_;
  }

  void Sleep(Clock::Duration d) {
    std::unique_lock<std::mutex> lock(wait_mutex_);
    auto deadline = clock_->Now() + d;
    while (!stopped_ && clock_->Now() < deadline) clock_->WaitUntil(lock, wait_cv_, deadline);
  }

  ResourceClient resource_;
  InformerOptions options_;
  std::shared_ptr<Clock> clock_;

  std::mutex run_mutex_;  // serialises Run/Stop
  std::thread thread_;
  std::thread resync_thread_;

  std::mutex wait_mutex_;  // guards stopped_ and stream_; wait_cv_ wakes sleeps on Stop
  std::condition_variable wait_cv_;
  bool stopped_ = false;
  WatchStream* stream_ = nullptr;

  mutable std::mutex cache_mutex_;
  std::unordered_map<std::string, Json> items_;
  std::map<std::string, IndexFunc> indexers_;
  std::map<std::string, std::map<std::string, std::set<std::string>>> indices_;
  std::unordered_map<std::string, std::map<std::string, std::vector<std::string>>> indexed_values_;
  std::string last_rv_;

  std::mutex handler_mutex_;  // handlers run one at a time, in order
  std::vector<EventHandler> handlers_;

  mutable std::mutex sync_mutex_;
  mutable std::condition_variable sync_cv_;
  std::atomic<bool> synced_{false};
  std::atomic<int> list_count_{0};
};

Informer::Informer(ResourceClient resource, InformerOptions options)
    : impl_(std::make_unique<Impl>(std::move(resource), std::move(options))) {}
Informer::~Informer() = default;
void Informer::AddEventHandler(EventHandler handler) { impl_->AddEventHandler(std::move(handler)); }
void Informer::AddIndexer(const std::string& name, IndexFunc func) {
  impl_->AddIndexer(name, std::move(func));
}
void Informer::Run() { impl_->Run(); }
void Informer::Stop() { impl_->Stop(); }
bool Informer::HasSynced() const { return impl_->HasSynced(); }
bool Informer::WaitForSync(std::chrono::milliseconds timeout) const {
  return impl_->WaitForSync(timeout);
}
std::optional<Json> Informer::Get(const std::string& key) const { return impl_->Get(key); }
std::optional<Json> Informer::Get(const std::string& ns, const std::string& name) const {
  return impl_->Get(ns.empty() ? name : ns + "/" + name);
}
std::vector<Json> Informer::List() const { return impl_->List(); }
std::vector<std::string> Informer::ListKeys() const { return impl_->ListKeys(); }
std::vector<Json> Informer::ByIndex(const std::string& index_name, const std::string& value) const {
  return impl_->ByIndex(index_name, value);
}
size_t Informer::Size() const { return impl_->Size(); }
std::string Informer::LastResourceVersion() const { return impl_->LastResourceVersion(); }
int Informer::ListCount() const { return impl_->ListCount(); }

}  // namespace poolguard::kube
