#pragma once

// One Remediation acts per target: which of several naming the same Deployment owns it.
// Pure functions over the cache's objects; the reconciler turns a claim held by another
// into the TargetClaimed step (remediation/plan.h).

#include <optional>
#include <string>
#include <vector>

#include "core/json.h"
#include "remediation/status.h"

namespace poolguard::controller {

/// A Remediation's claim on its target (namespace + Deployment). dryRun ones claim nothing.
struct TargetClaim {
  std::string key;           // namespace/name
  std::string created;       // metadata.creationTimestamp (RFC 3339, UTC: orders as text)
  bool active = false;       // it has been acting on the target: a phase other than none/Invalid
  bool in_incident = false;  // an incident open (not closed)
};

/// Of several Remediations naming one target only one acts, or each would restart it,
/// terminate sessions, raise the pool. The incumbent keeps it: an active one before one
/// that is new or was Invalid (a fixed or retargeted older object does not take over), one
/// in an incident before one that is not, then the oldest (creationTimestamp, then key).
/// Returns the claim that owns the target when it is not `self`'s.
std::optional<TargetClaim> ClaimedBy(const TargetClaim& self,
                                     const std::vector<TargetClaim>& others);

/// The Remediation among `all` (the cache) that owns the Deployment `object`'s spec names,
/// when it is another one: ClaimedBy over the others in the same namespace naming that
/// Deployment, not being deleted, with a valid spec and not dryRun (those own nothing; a
/// dryRun `object` is never claimed either).
std::optional<TargetClaim> TargetOwner(const std::string& key, const Json& object,
                                       const RemediationSpec& spec, const std::vector<Json>& all);

}  // namespace poolguard::controller
