#include "remediation/workload.h"

#include <algorithm>
#include <charconv>

namespace poolguard::controller {
namespace {

int64_t IntAt(const Json& o, std::initializer_list<const char*> path, int64_t fallback = 0) {
  const Json* v = json::Find(o, path);
  return v == nullptr ? fallback : json::AsInt64(*v).value_or(fallback);
}

}  // namespace

RolloutObservation ReadRollout(const Json& w) {
  RolloutObservation r;
  r.generation = IntAt(w, {"metadata", "generation"});
  r.observed_generation = IntAt(w, {"status", "observedGeneration"});
  r.replicas = static_cast<int>(IntAt(w, {"spec", "replicas"}, 1));
  r.status_replicas = static_cast<int>(IntAt(w, {"status", "replicas"}));
  r.updated_replicas = static_cast<int>(IntAt(w, {"status", "updatedReplicas"}));
  const bool statefulset = StringField(w, "kind") == "StatefulSet" ||
                           json::Find(w, {"status", "currentRevision"}) != nullptr ||
                           json::Find(w, {"spec", "serviceName"}) != nullptr;
  r.available_replicas = static_cast<int>(statefulset ? IntAt(w, {"status", "readyReplicas"})
                                                      : IntAt(w, {"status", "availableReplicas"}));
  if (statefulset) {
    // A StatefulSet's rollout is done when currentRevision caught up with updateRevision.
    const std::string current = json::StringAt(w, {"status", "currentRevision"});
    const std::string update = json::StringAt(w, {"status", "updateRevision"});
    if (!update.empty() && current != update) {
      r.updated_replicas = std::min(r.updated_replicas, r.replicas - 1);
    }
  }
  if (const Json* a = json::Find(w, {"spec", "template", "metadata", "annotations"})) {
    r.restarted_at = StringField(*a, kRestartedAtAnnotation);
  }
  if (const Json* conds = json::Find(w, {"status", "conditions"}); conds && conds->is_array()) {
    for (const auto& c : conds->as_array()) {
      if (StringField(c, "type") == "Progressing" && StringField(c, "status") == "False" &&
          StringField(c, "reason") == "ProgressDeadlineExceeded") {
        r.progress_deadline_exceeded = true;
      }
    }
  }
  return r;
}

std::optional<int> ReadEnvInt(const Json& w, const std::string& container, const std::string& env) {
  const Json* cs = json::Find(w, {"spec", "template", "spec", "containers"});
  if (cs == nullptr || !cs->is_array()) return std::nullopt;
  for (const auto& c : cs->as_array()) {
    if (!container.empty() && StringField(c, "name") != container) continue;
    if (const Json* envs = Field(c, "env"); envs && envs->is_array()) {
      for (const auto& e : envs->as_array()) {
        if (StringField(e, "name") != env) continue;
        const std::string v = StringField(e, "value");
        int out = 0;
        auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), out);
        if (ec == std::errc() && p == v.data() + v.size()) return out;
        return std::nullopt;
      }
    }
    return std::nullopt;  // the first (or named) container only
  }
  return std::nullopt;
}

}  // namespace poolguard::controller
