#include "app/informer_set.h"

#include "poolguard/common/json_util.h"

namespace poolguard::controller {

InformerSet::InformerSet(std::string name, std::shared_ptr<kube::Client> client,
                         kube::GroupVersionResource gvr, const std::vector<std::string>& namespaces,
                         std::shared_ptr<kube::WorkQueue> queue, UpdateFilter filter)
    : name_(std::move(name)), client_(std::move(client)), gvr_(std::move(gvr)) {
  // Handlers only enqueue the key: the reconciler reads the object from the cache.
  const bool enqueue = queue != nullptr;
  kube::EventHandler handler;
  handler.on_add = [queue](const kube::Json& o) { queue->Add(kube::KeyOf(o)); };
  handler.on_update = [queue, filter](const kube::Json& old, const kube::Json& o) {
    if (filter == nullptr || filter(old, o)) queue->Add(kube::KeyOf(o));
  };
  handler.on_delete = [queue](const kube::Json& o) { queue->Add(kube::KeyOf(o)); };
  std::vector<std::string> watched = namespaces;
  if (watched.empty()) watched.push_back("");
  for (const auto& ns : watched) {
    kube::InformerOptions io;
    io.resync_period = std::chrono::seconds(300);
    auto inf = std::make_unique<kube::Informer>(client_->Resource(gvr_, ns), io);
    if (enqueue) inf->AddEventHandler(handler);
    informers_[ns] = std::move(inf);
  }
}

void InformerSet::Start() {
  for (auto& [_, inf] : informers_) inf->Run();
}

void InformerSet::Stop() {
  for (auto& [_, inf] : informers_) inf->Stop();
}

bool InformerSet::HasSynced() const {
  for (const auto& [_, inf] : informers_) {
    if (!inf->HasSynced()) return false;
  }
  return true;
}

void InformerSet::AddIndexer(const std::string& name, kube::IndexFunc func) {
  for (auto& [_, inf] : informers_) inf->AddIndexer(name, func);
}

std::vector<kube::Json> InformerSet::ByIndex(const std::string& index, const std::string& value) {
  std::vector<kube::Json> out;
  for (auto& [_, inf] : informers_) {
    auto items = inf->ByIndex(index, value);
    out.insert(out.end(), std::make_move_iterator(items.begin()),
               std::make_move_iterator(items.end()));
  }
  return out;
}

std::optional<kube::Json> InformerSet::Get(const std::string& key) {
  const std::string ns = key.substr(0, key.find('/'));
  auto it = informers_.find(ns);
  if (it == informers_.end()) it = informers_.find("");
  if (it == informers_.end()) return std::nullopt;
  return it->second->Get(key);
}

std::map<std::string, size_t> InformerSet::IndexCounts(const std::string& index) {
  std::map<std::string, size_t> out;
  for (auto& [_, inf] : informers_) {
    for (const auto& [value, n] : inf->IndexCounts(index)) out[value] += n;
  }
  return out;
}

std::vector<kube::Json> InformerSet::List() {
  std::vector<kube::Json> out;
  for (auto& [_, inf] : informers_) {
    auto items = inf->List();
    out.insert(out.end(), std::make_move_iterator(items.begin()),
               std::make_move_iterator(items.end()));
  }
  return out;
}

std::vector<std::string> InformerSet::ListKeys() {
  std::vector<std::string> out;
  for (auto& [_, inf] : informers_) {
    auto keys = inf->ListKeys();
    out.insert(out.end(), std::make_move_iterator(keys.begin()),
               std::make_move_iterator(keys.end()));
  }
  return out;
}

kube::Json InformerSet::Update(const kube::Json& object) {
  return client_->Resource(gvr_, kube::NamespaceOf(object)).Update(object);
}

kube::Json InformerSet::UpdateStatus(const kube::Json& object) {
  return client_->Resource(gvr_, kube::NamespaceOf(object)).UpdateStatus(object);
}

bool SpecOrMetadataChanged(const kube::Json& before, const kube::Json& after) {
  const kube::Json* a = json::Field(before, "metadata");
  const kube::Json* b = json::Field(after, "metadata");
  if (a == nullptr || b == nullptr) return true;
  for (const char* f : {"generation", "annotations", "deletionTimestamp", "labels"}) {
    const kube::Json* x = json::Field(*a, f);
    const kube::Json* y = json::Field(*b, f);
    if ((x == nullptr) != (y == nullptr) || (x != nullptr && x->serialize() != y->serialize())) {
      return true;
    }
  }
  return false;
}

}  // namespace poolguard::controller
