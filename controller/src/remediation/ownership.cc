#include "remediation/ownership.h"

#include <tuple>

namespace poolguard::controller {

std::optional<TargetClaim> ClaimedBy(const TargetClaim& self,
                                     const std::vector<TargetClaim>& others) {
  // Whether `a` has the better claim: active, then in an incident, then older, then key.
  const auto outranks = [](const TargetClaim& a, const TargetClaim& b) {
    if (a.active != b.active) return a.active;
    if (a.in_incident != b.in_incident) return a.in_incident;
    return std::tie(a.created, a.key) < std::tie(b.created, b.key);
  };
  const TargetClaim* owner = &self;
  for (const auto& o : others) {
    if (o.key != self.key && outranks(o, *owner)) owner = &o;
  }
  if (owner == &self) return std::nullopt;
  return *owner;
}

std::optional<TargetClaim> TargetOwner(const std::string& key, const Json& object,
                                       const RemediationSpec& spec, const std::vector<Json>& all) {
  if (spec.safety.dry_run) return std::nullopt;  // plans only: never in anyone's way
  const std::string ns = kube::NamespaceOf(object);
  const auto meta = [](const Json& o, const char* name) -> const Json* {
    const Json* m = Field(o, "metadata");
    return m != nullptr ? Field(*m, name) : nullptr;
  };
  const auto claim = [&](const std::string& k, const Json& o) {
    TargetClaim c;
    c.key = k;
    const Json* t = meta(o, "creationTimestamp");
    if (t != nullptr && t->is_string()) c.created = t->as_string();
    const RemediationStatus st = ParseRemediationStatus(o);
    c.active = st.phase != RemediationPhase::kNone && st.phase != RemediationPhase::kInvalid;
    c.in_incident = st.incident && !st.incident->closed_at;
    return c;
  };
  std::vector<TargetClaim> others;
  for (const Json& other : all) {
    const std::string other_key = kube::KeyOf(other);
    if (other_key == key || kube::NamespaceOf(other) != ns) continue;
    if (meta(other, "deletionTimestamp") != nullptr) continue;
    // A cheap look first: most Remediations name other Deployments.
    const Json* other_spec = Field(other, "spec");
    const Json* target = other_spec != nullptr ? Field(*other_spec, "target") : nullptr;
    if (target == nullptr || StringField(*target, "deployment") != spec.target_deployment) {
      continue;
    }
    const RemediationSpecParse p = ParseRemediationSpec(other);
    if (!p.spec || p.spec->safety.dry_run) continue;  // an invalid or dryRun one owns nothing
    others.push_back(claim(other_key, other));
  }
  return ClaimedBy(claim(key, object), others);
}

}  // namespace poolguard::controller
