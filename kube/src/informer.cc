#include "poolguard/kube/informer.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <map>
#include <mutex>
#include <set>
#include <thread>
#include <unordered_map>

#include "json_scan.h"
#include "log_internal.h"
#include "poolguard/common/json_util.h"

namespace poolguard::kube {

IndexFunc IndexByLabel(const std::string& label_key) {
  return [label_key](const Json& obj) -> std::vector<std::string> {
    const Json* labels = json::Find(obj, {"metadata", "labels"});
    if (!labels || !labels->is_object() || !labels->has_field(label_key)) return {};
    const Json& v = labels->at(label_key);
    if (!v.is_string()) return {};
    return {v.as_string()};
  };
}

IndexFunc IndexByOwnerUid() {
  return [](const Json& obj) -> std::vector<std::string> {
    std::vector<std::string> out;
    const Json* owners = json::Find(obj, {"metadata", "ownerReferences"});
    if (!owners || !owners->is_array()) return out;
    for (const auto& ref : owners->as_array()) {
      std::string uid = json::StringField(ref, "uid");
      if (!uid.empty()) out.push_back(uid);
    }
    return out;
  };
}

namespace {

// A cached object is its JSON text, immutable and shared with whoever reads it (readers
// and handlers parse a Json of their own from it), so that 10,000 objects cost their text
// rather than 10,000 web::json::value trees, and a relist or a snapshot copies no object.
// One allocation holds the reference counts and the NUL-terminated text (JSON text never
// contains a NUL byte).
using Text = std::shared_ptr<const char[]>;

Text MakeText(std::string_view json) {
  std::shared_ptr<char[]> t = std::make_shared_for_overwrite<char[]>(json.size() + 1);
  std::memcpy(t.get(), json.data(), json.size());
  t[json.size()] = '\0';
  return t;
}

Json Parse(const Text& text) { return Json::parse(std::string(text.get())); }

struct Meta {
  std::string key;  // "namespace/name" or "name"
  std::string rv;
};

Meta MetaOf(std::string_view text) {
  Meta m;
  auto md = json_scan::Member(text, "metadata");
  if (!md) return m;
  std::string ns = json_scan::StrAt(*md, {"namespace"});
  std::string name = json_scan::StrAt(*md, {"name"});
  m.key = ns.empty() ? std::move(name) : ns + "/" + name;
  m.rv = json_scan::StrAt(*md, {"resourceVersion"});
  return m;
}

bool IsInitialEventsEnd(std::string_view bookmark) {
  return json_scan::StrAt(bookmark, {"metadata", "annotations", kInitialEventsEndAnnotation}) ==
         "true";
}

std::string RvOf(const Text& text) { return MetaOf(text.get()).rv; }

// The state got by a (watch-)list before it replaces the cache: objects by key, and the
// keys (those of the map's nodes, which stay put) in the order the server sent them —
// handlers are told in that order.
struct State {
  std::unordered_map<std::string, Text> items;
  std::vector<const std::string*> order;

  void Put(std::string_view json) {
    Meta m = MetaOf(json);
    auto [it, inserted] = items.try_emplace(std::move(m.key), nullptr);
    it->second = MakeText(json);
    if (inserted) order.push_back(&it->first);
  }
  void Erase(std::string_view json) {
    auto it = items.find(MetaOf(json).key);
    if (it == items.end()) return;
    order.erase(std::find(order.begin(), order.end(), &it->first));  // rare: not worth an index
    items.erase(it);
  }
};

// 4xx answers that mean "this server does not do watch-lists" (the WatchList feature off,
// or a server that predates it), as opposed to failures any request could meet.
bool RefusesWatchList(const ApiError& e) {
  int s = e.http_status();
  return s >= 400 && s < 500 && s != 401 && s != 403 && s != 408 && s != 410 && s != 429;
}

}  // namespace

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
    for (const auto& [key, text] : items_) IndexLocked(key, Parse(text));
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
    Text text;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      auto it = items_.find(key);
      if (it == items_.end()) return std::nullopt;
      text = it->second;
    }
    return Parse(text);  // a copy of the caller's own, parsed outside the lock
  }

  std::vector<Json> List() const { return ParseAll(Snapshot()); }

  std::vector<std::string> ListKeys() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::vector<std::string> out;
    out.reserve(items_.size());
    for (const auto& [k, v] : items_) out.push_back(k);
    return out;
  }

  std::vector<Json> ByIndex(const std::string& index, const std::string& value) const {
    std::vector<Text> texts;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      auto iit = indices_.find(index);
      if (iit == indices_.end()) return {};
      auto vit = iit->second.find(value);
      if (vit == iit->second.end()) return {};
      texts.reserve(vit->second.size());
      for (const auto& key : vit->second) texts.push_back(items_.at(key));
    }
    return ParseAll(texts);
  }

  std::map<std::string, size_t> IndexCounts(const std::string& index) const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::map<std::string, size_t> out;
    auto iit = indices_.find(index);
    if (iit == indices_.end()) return out;
    for (const auto& [value, keys] : iit->second) out[value] = keys.size();
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
  std::vector<Text> Snapshot() const {
    std::lock_guard<std::mutex> guard(cache_mutex_);
    std::vector<Text> out;
    out.reserve(items_.size());
    for (const auto& [k, text] : items_) out.push_back(text);
    return out;
  }

  static std::vector<Json> ParseAll(const std::vector<Text>& texts) {
    std::vector<Json> out;
    out.reserve(texts.size());
    for (const Text& t : texts) out.push_back(Parse(t));
    return out;
  }

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
  //
  // The object is parsed only if some handler wants it, once for all handlers; `parsed`
  // may already hold it (parsed for the indexers).

  const Json* Obtain(const Text& text, std::optional<Json>& parsed) {
    if (!parsed) {
      try {
        parsed = Parse(text);
      } catch (const std::exception& e) {
        internal::Log(LogLevel::kError, What() + ": object is not JSON: " + e.what());
        return nullptr;
      }
    }
    return &*parsed;
  }

  void NotifyAdd(const Text& text, std::optional<Json> parsed = std::nullopt) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    const Json* obj = nullptr;
    for (auto& h : handlers_) {
      if (!h.on_add) continue;
      if (!obj && !(obj = Obtain(text, parsed))) return;
      Guard([&] { h.on_add(*obj); });
    }
  }
  void NotifyUpdate(const Text& old_text, const Text& new_text,
                    std::optional<Json> parsed = std::nullopt) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    const Json* old_obj = nullptr;
    const Json* new_obj = nullptr;
    std::optional<Json> old_parsed;
    for (auto& h : handlers_) {
      if (!h.on_update) continue;
      if (!new_obj) {
        if (!(new_obj = Obtain(new_text, parsed))) return;
        old_obj = old_text == new_text ? new_obj : Obtain(old_text, old_parsed);
        if (!old_obj) return;
      }
      Guard([&] { h.on_update(*old_obj, *new_obj); });
    }
  }
  void NotifyDelete(const Text& text, std::optional<Json> parsed = std::nullopt) {
    std::lock_guard<std::mutex> guard(handler_mutex_);
    const Json* obj = nullptr;
    for (auto& h : handlers_) {
      if (!h.on_delete) continue;
      if (!obj && !(obj = Obtain(text, parsed))) return;
      Guard([&] { h.on_delete(*obj); });
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

  // Makes `fresh` the cache: objects that are new or whose resourceVersion changed are
  // added/updated, cached objects missing from it are deleted; then handlers are told.
  void Replace(State fresh, const std::string& rv) {
    struct Change {
      Text old_text;  // null: an add
      Text new_text;
    };
    std::vector<Change> changes;
    std::vector<Text> deleted;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      changes.reserve(items_.empty() ? fresh.order.size() : 0);
      for (const std::string* key : fresh.order) {
        const Text& text = fresh.items.at(*key);
        auto it = items_.find(*key);
        if (it != items_.end() && RvOf(it->second) == RvOf(text)) continue;
        changes.push_back({it == items_.end() ? nullptr : it->second, text});
        if (!indexers_.empty()) IndexLocked(*key, Parse(text));
      }
      for (auto& [key, text] : items_) {
        if (fresh.items.count(key)) continue;
        deleted.push_back(text);
        UnindexLocked(key);
      }
      items_.swap(fresh.items);
      last_rv_ = rv;
    }
    fresh = {};  // the previous cache's objects, unless a change still holds them
    for (const Change& c : changes) {
      if (c.old_text) {
        NotifyUpdate(c.old_text, c.new_text);
      } else {
        NotifyAdd(c.new_text);
      }
    }
    for (const Text& t : deleted) NotifyDelete(t);
    ++list_count_;
    if (!synced_) {
      std::lock_guard<std::mutex> guard(sync_mutex_);
      synced_ = true;
      sync_cv_.notify_all();
    }
  }

  // Paged LIST (the fallback when the server does not stream watch-lists).
  void ListAndReplace() {
    ListOptions lo = options_.selectors;
    lo.resource_version.clear();
    lo.continue_token.clear();
    State fresh;
    std::string rv;
    for (bool first = true;; first = false) {
      RawObjectList page = resource_.ListRaw(lo);
      if (first) rv = page.resource_version;
      for (const std::string& item : page.items) fresh.Put(item);
      if (page.continue_token.empty()) break;
      lo.continue_token = page.continue_token;
    }
    Replace(std::move(fresh), rv);
  }

  // The current state streamed over one watch (sendInitialEvents=true): ADDED events up to
  // the bookmark annotated k8s.io/initial-events-end, whose resourceVersion the state is
  // at. Returns that watch, to be read on, with the cache replaced; nullptr (and
  // watch_list_ok_ cleared) when the server does not do watch-lists.
  std::unique_ptr<WatchStream> WatchListAndReplace() {
    ListOptions wo = options_.selectors;
    wo.resource_version.clear();
    wo.continue_token.clear();
    wo.resource_version_match = "NotOlderThan";
    wo.send_initial_events = true;
    wo.timeout_seconds = static_cast<int>(options_.watch_timeout.count());
    std::unique_ptr<WatchStream> stream;
    try {
      stream = resource_.Watch(wo);
    } catch (const ApiError& e) {
      if (!RefusesWatchList(e) || IsStopped()) throw;
      internal::Log(LogLevel::kInfo,
                    What() + ": no watch-list (" + e.what() + "); listing in pages instead");
      watch_list_ok_ = false;
      return nullptr;
    }
    if (!SetStream(stream.get())) return nullptr;
    State fresh;
    try {
      using T = WatchEvent::Type;
      while (auto ev = stream->NextRaw()) {
        switch (ev->type) {
          case T::kError:
            throw ErrorFromStatus(Json::parse(ev->object));
          case T::kBookmark:
            if (IsInitialEventsEnd(ev->object)) {
              Replace(std::move(fresh), MetaOf(ev->object).rv);
              return stream;
            }
            break;
          case T::kAdded:
          case T::kModified:
            fresh.Put(ev->object);
            break;
          case T::kDeleted:
            fresh.Erase(ev->object);
            break;
        }
      }
    } catch (...) {
      ClearStream();
      throw;
    }
    ClearStream();
    if (!IsStopped()) {
      // A server that ignored sendInitialEvents never sends the bookmark.
      internal::Log(LogLevel::kWarning, What() +
                                            ": watch-list ended before its initial-events-end "
                                            "bookmark; listing in pages instead");
      watch_list_ok_ = false;
    }
    return nullptr;
  }

  // Applies one watch event; returns false if the watch must be abandoned for a relist.
  bool Apply(RawWatchEvent& ev) {
    using T = WatchEvent::Type;
    if (ev.type == T::kError) {
      ApiError err = ErrorFromStatus(Json::parse(ev.object));
      if (IsGone(err)) return false;
      throw err;
    }
    Meta m = MetaOf(ev.object);
    if (ev.type == T::kBookmark) {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      if (!m.rv.empty()) last_rv_ = m.rv;
      return true;
    }
    Text text = MakeText(ev.object);
    std::optional<Json> parsed;
    Text old_text;
    {
      std::lock_guard<std::mutex> guard(cache_mutex_);
      auto it = items_.find(m.key);
      if (it != items_.end()) old_text = it->second;
      if (ev.type == T::kDeleted) {
        if (it != items_.end()) {
          UnindexLocked(m.key);
          items_.erase(it);
        }
      } else {
        if (!indexers_.empty()) {
          parsed = Parse(text);
          IndexLocked(m.key, *parsed);
        }
        if (it != items_.end()) {
          it->second = text;
        } else {
          items_.emplace(std::move(m.key), text);
        }
      }
      if (!m.rv.empty()) last_rv_ = m.rv;
    }
    if (ev.type == T::kDeleted) {
      NotifyDelete(text, std::move(parsed));
    } else if (old_text) {
      NotifyUpdate(old_text, text, std::move(parsed));
    } else {
      NotifyAdd(text, std::move(parsed));
    }
    return true;
  }

  void Loop() {
    bool need_list = true;
    auto backoff = std::chrono::duration_cast<Clock::Duration>(options_.min_backoff);
    const auto max_backoff = std::chrono::duration_cast<Clock::Duration>(options_.max_backoff);
    while (!IsStopped()) {
      try {
        std::unique_ptr<WatchStream> stream;
        // Unregisters the stream from Stop() before it is destroyed, whichever way this
        // iteration ends.
        struct Unregister {
          Impl* impl;
          ~Unregister() { impl->ClearStream(); }
        } unregister{this};
        if (need_list) {
          if (options_.watch_list && watch_list_ok_) stream = WatchListAndReplace();
          if (IsStopped()) break;
          if (!stream) ListAndReplace();
          need_list = false;
        }
        if (!stream) {
          ListOptions wo = options_.selectors;
          wo.resource_version = LastResourceVersion();
          wo.timeout_seconds = static_cast<int>(options_.watch_timeout.count());
          stream = resource_.Watch(wo);
        }
        if (!SetStream(stream.get())) break;
        bool gone = false;
        while (auto ev = stream->NextRaw()) {
          if (!Apply(*ev)) {
            gone = true;
            break;
          }
        }
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
      // One object parsed at a time, not the whole cache at once.
      for (const Text& t : Snapshot()) NotifyUpdate(t, t);
    }
  }

  // Registers the open watch for Stop(); false if already stopped.
  bool SetStream(WatchStream* s) {
    std::lock_guard<std::mutex> lock(wait_mutex_);
    if (stopped_) return false;
    stream_ = s;
    return true;
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
  bool watch_list_ok_ = true;  // informer thread only

  std::mutex run_mutex_;  // serialises Run/Stop
  std::thread thread_;
  std::thread resync_thread_;

  std::mutex wait_mutex_;  // guards stopped_ and stream_; wait_cv_ wakes sleeps on Stop
  std::condition_variable wait_cv_;
  bool stopped_ = false;
  WatchStream* stream_ = nullptr;

  mutable std::mutex cache_mutex_;
  std::unordered_map<std::string, Text> items_;
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
std::map<std::string, size_t> Informer::IndexCounts(const std::string& index_name) const {
  return impl_->IndexCounts(index_name);
}
size_t Informer::Size() const { return impl_->Size(); }
std::string Informer::LastResourceVersion() const { return impl_->LastResourceVersion(); }
int Informer::ListCount() const { return impl_->ListCount(); }

}  // namespace poolguard::kube
