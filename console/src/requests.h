// The control API's request bodies: parsed, validated and turned into the Kubernetes
// objects and patches they ask for. Pure functions of (body, what the API server holds);
// no network, so each rule is tested with a table (console/tests/requests_test.cc).
#pragma once

#include <cpprest/json.h>

#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace poolguard::console {

using Json = web::json::value;

/// Why a request body was refused: the field (a JSON path such as "connections") and what
/// is wrong with it. Answered 400 with both.
struct Invalid {
  std::string field;
  std::string message;
};

/// POST /break/db_pool: the reference design's "hold 20 connections", as a ChaosExperiment
/// with its rollback guarantees. The target and database come from a Remediation in the
/// namespace (named, or the one watching `target`, or the only one).
struct BreakDbPool {
  std::string ns;
  std::string remediation;  // optional
  std::string target;       // optional: the Deployment
  int connections = 20;     // the reference design's leaked_conns
  std::string mode = "Idle";
  std::string table;  // LockTable only
  std::string duration = "2m";
  std::string name;  // optional: else the API server generates one from "db-pool-"
};
std::variant<BreakDbPool, Invalid> ParseBreakDbPool(std::string_view body);

/// Which Remediation in `list` (a RemediationList's items) the request means: by name, by
/// its target Deployment, or the only one. Invalid (field and reason) when none or several.
std::variant<Json, Invalid> PickRemediation(const std::vector<Json>& items, const std::string& name,
                                            const std::string& target);

/// The ChaosExperiment that `request` asks for, its target and database taken from
/// `remediation`; labelled as the console's and annotated with who asked.
Json ChaosExperimentFor(const BreakDbPool& request, const Json& remediation,
                        const std::string& user);

/// POST /break/abort: {namespace, name}.
struct ExperimentRef {
  std::string ns;
  std::string name;
};
std::variant<ExperimentRef, Invalid> ParseExperimentRef(std::string_view body);

/// POST /action/approve, /action/reject and the manual actions: {namespace, remediation,
/// incident?}. `incident`, when given, must be the open incident's id (so a stale page
/// cannot approve the next incident's action).
struct RemediationRef {
  std::string ns;
  std::string remediation;
  std::string incident;
};
std::variant<RemediationRef, Invalid> ParseRemediationRef(std::string_view body);

/// The merge patch that approves (or rejects) the pending action of `remediation`'s open
/// incident, recording who; Invalid when nothing awaits approval or `incident` is stale.
enum class Decision { kApprove, kReject };
std::variant<Json, Invalid> DecisionPatch(const Json& remediation, const RemediationRef& ref,
                                          Decision decision, const std::string& user);

/// The manual actions of the reference design's /action/* routes: restart-api →
/// RestartDeployment, restart-db → RestartDatabase, increase-pool → IncreasePoolSize, and
/// terminate-blockers → TerminateBlockingSessions; "" for any other name.
std::string ActionForRoute(std::string_view route);

/// The merge patch that asks the controller for a manual action: the request-action
/// annotation "<request id>/<action>/<user>", acted on once under the Remediation's safety
/// rules (status.manualRequest says what became of it).
Json ManualActionPatch(const std::string& request_id, const std::string& action,
                       const std::string& user);

/// The merge patch that aborts an experiment (spec.abort) and records who asked.
Json AbortPatch(const std::string& user);

/// Kubernetes object names: DNS-1123 label (namespaces) and subdomain (most objects).
bool IsDnsLabel(std::string_view s);
bool IsDnsSubdomain(std::string_view s);
/// A Go duration as the CRDs accept it ("90s", "2m", "1h30m"), between 1s and 24h.
bool IsExperimentDuration(std::string_view s);

/// The user name a bearer token belongs to, from a SelfSubjectReview's answer; "" if absent.
std::string UserFromReview(const Json& review);

/// Annotations the console writes; the controller reads the first two.
inline constexpr char kApproveAnnotation[] = "poolguard.dev/approve";
inline constexpr char kRejectAnnotation[] = "poolguard.dev/reject";
inline constexpr char kDecidedByAnnotation[] = "poolguard.dev/decided-by";  // "<incident>/<user>"
inline constexpr char kAbortedByAnnotation[] = "poolguard.dev/aborted-by";
inline constexpr char kRequestActionAnnotation[] = "poolguard.dev/request-action";
inline constexpr char kRequestedByAnnotation[] = "poolguard.dev/requested-by";
inline constexpr char kStartedByLabel[] = "poolguard.dev/started-by";

}  // namespace poolguard::console
