#pragma once

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "poolguard/kube/client.h"

namespace poolguard::kube {

/// Callbacks for changes seen by an Informer. Each gets its own copy of the object(s), never
/// the cached one. Handlers run one at a time on the informer's thread, in event order;
/// keep them short (enqueue a key).
struct EventHandler {
  std::function<void(const Json& object)> on_add;
  /// Also called with old == new at every resync.
  std::function<void(const Json& old_object, const Json& new_object)> on_update;
  /// `object` is the last state known; after a relist it may be older than the deletion.
  std::function<void(const Json& object)> on_delete;
};

/// Maps an object to the index values under which it is filed.
using IndexFunc = std::function<std::vector<std::string>(const Json& object)>;
/// Index by the value of one label.
IndexFunc IndexByLabel(const std::string& label_key);
/// Index by the uid of every ownerReference (find the Pods of a ReplicaSet, ...).
IndexFunc IndexByOwnerUid();

struct InformerOptions {
  ListOptions selectors;  // label/field selectors; limit = list page size (default 500)
  std::chrono::seconds resync_period{0};       // 0 = never
  std::chrono::seconds watch_timeout{300};     // server-side timeoutSeconds per watch
  std::chrono::milliseconds min_backoff{200};  // reconnect backoff after a failure
  std::chrono::seconds max_backoff{30};
  /// Sync over one streaming watch (sendInitialEvents, like client-go's WatchListClient)
  /// instead of a paged LIST; falls back to LIST when the server refuses it.
  bool watch_list = true;
};

/// List + watch of one resource type into a local cache, keyed "namespace/name".
///
/// Run() starts a thread of its own that gets the current state — streamed over one watch
/// (a watch-list: sendInitialEvents until the initial-events-end bookmark) or, where the
/// server refuses that, listed in pages — then watches from its resourceVersion with
/// bookmarks, resumes from the last resourceVersion seen when a watch ends, relists on 410
/// Gone, and reconnects with exponential backoff after errors. The cache and its indexes are
/// thread-safe. Cached objects are kept as their JSON text; every accessor and handler gets
/// a Json parsed from it (a copy of its own).
class Informer {
 public:
  Informer(ResourceClient resource, InformerOptions options = {});
  ~Informer();  // stops the thread
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  /// Register before Run(); handlers added later miss earlier events.
  void AddEventHandler(EventHandler handler);
  /// Register before Run().
  void AddIndexer(const std::string& name, IndexFunc func);

  void Run();
  void Stop();
  /// True once the first full list has been delivered to the cache and handlers.
  bool HasSynced() const;
  /// Blocks up to `timeout` for HasSynced().
  bool WaitForSync(std::chrono::milliseconds timeout) const;

  std::optional<Json> Get(const std::string& key) const;
  std::optional<Json> Get(const std::string& ns, const std::string& name) const;
  std::vector<Json> List() const;
  std::vector<std::string> ListKeys() const;
  std::vector<Json> ByIndex(const std::string& index_name, const std::string& value) const;
  /// How many objects each value of an index holds, without a copy of any (a gauge's
  /// counts on every scrape: parsing every object per scrape grew RSS by megabytes).
  std::map<std::string, size_t> IndexCounts(const std::string& index_name) const;
  size_t Size() const;
  /// The resourceVersion the cache is at (last list, event or bookmark).
  std::string LastResourceVersion() const;
  /// Number of full lists done (1 after the first sync; more after 410s).
  int ListCount() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace poolguard::kube
