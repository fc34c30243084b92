#include "core/object_store.h"

#include <algorithm>

#include "poolguard/kube/object.h"

namespace poolguard::controller {

std::vector<std::string> RemediationTargetIndex(const kube::Json& object) {
  const std::string deployment = json::StringAt(object, {"spec", "target", "deployment"});
  if (deployment.empty()) return {};
  return {kube::NamespaceOf(object) + "/" + deployment};
}

std::vector<std::string> ScheduleRunIndex(const kube::Json& object) {
  const std::string schedule =
      json::StringAt(object, {"metadata", "labels", "poolguard.dev/schedule"});
  if (schedule.empty()) return {};
  return {kube::NamespaceOf(object) + "/" + schedule};
}

std::vector<kube::Json> ObjectStore::ByIndex(const std::string& index, const std::string& value) {
  auto index_of = index == kTargetIndex     ? RemediationTargetIndex
                  : index == kScheduleIndex ? ScheduleRunIndex
                                            : nullptr;
  std::vector<kube::Json> out;
  if (index_of == nullptr) return out;
  for (auto& o : List()) {
    const auto keys = index_of(o);
    if (std::find(keys.begin(), keys.end(), value) != keys.end()) out.push_back(std::move(o));
  }
  return out;
}

}  // namespace poolguard::controller
