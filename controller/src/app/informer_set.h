#pragma once

// One custom resource's informers (one per watched namespace, or one for all) as a
// Runnable on every replica: they fill the cache that ObjectStore reads, feed keys into a
// Controller's work queue, and tell it when they have synced.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "app/controller.h"
#include "app/manager.h"
#include "core/object_cache.h"
#include "core/object_store.h"
#include "poolguard/kube/client.h"
#include "poolguard/kube/informer.h"
#include "poolguard/kube/workqueue.h"

namespace poolguard::controller {

class InformerSet final : public Runnable,
                          public ObjectStore,
                          public ObjectCache,
                          public SyncSource {
 public:
  /// Which updates enqueue the object (adds and deletes always do); null: every update.
  using UpdateFilter = bool (*)(const kube::Json& before, const kube::Json& after);

  /// `namespaces` empty: one informer over all namespaces. `queue` null: a cache only
  /// (reads of a built-in kind), no keys enqueued.
  InformerSet(std::string name, std::shared_ptr<kube::Client> client,
              kube::GroupVersionResource gvr, const std::vector<std::string>& namespaces,
              std::shared_ptr<kube::WorkQueue> queue, UpdateFilter filter = nullptr);

  // Runnable: on every replica, leader or not (/readyz reports their sync).
  std::string Name() const override { return name_ + " informers"; }
  bool NeedsLeaderElection() const override { return false; }
  void Start() override;
  void Stop() override;

  // SyncSource
  bool HasSynced() const override;

  /// Registers an index on every informer; before Start.
  void AddIndexer(const std::string& name, kube::IndexFunc func);
  // ObjectCache (Get is ObjectStore's)
  bool Synced() const override { return HasSynced(); }
  std::vector<kube::Json> ByIndex(const std::string& index,
                                  const std::string& value) override;  // both bases

  // ObjectStore: reads from the caches, writes to the API server.
  /// Objects per value of an index, over every namespace's informer (no object copied).
  std::map<std::string, size_t> IndexCounts(const std::string& index);
  std::optional<kube::Json> Get(const std::string& key) override;
  std::vector<kube::Json> List() override;
  /// Every cached object's key ("namespace/name"), none parsed.
  std::vector<std::string> ListKeys();
  kube::Json Update(const kube::Json& object) override;
  kube::Json UpdateStatus(const kube::Json& object) override;

 private:
  std::string name_;
  std::shared_ptr<kube::Client> client_;
  kube::GroupVersionResource gvr_;
  std::map<std::string, std::unique_ptr<kube::Informer>> informers_;  // by namespace ("" = all)
};

/// An update worth a reconcile now: the spec (generation) or the metadata (the approve
/// annotation, deletion, labels) changed. Status-only updates are the reconciler's own
/// writes; its requeue timer already paces the next tick.
bool SpecOrMetadataChanged(const kube::Json& before, const kube::Json& after);

}  // namespace poolguard::controller
