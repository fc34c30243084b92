#pragma once

// The Remediation resource's spec (crds/remediations.poolguard.dev.yaml, docs/remediation.md),
// validated, with the CRD's defaults (checked against the CRD by crd_defaults_test.cc).

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/json.h"
#include "core/notification.h"

namespace poolguard::controller {

/// Annotation a person sets to the incident id to approve actions named in
/// spec.safety.requireApproval.
inline constexpr char kApproveAnnotation[] = "poolguard.dev/approve";
/// Set to an incident id, it refuses that incident's pending action: the incident ends
/// Exhausted (NeedsHuman) with reason Rejected.
inline constexpr char kRejectAnnotation[] = "poolguard.dev/reject";
/// Who approved or rejected, as "<incident id>/<user>" (the console writes the signed-in
/// user); shown in status and Events. Without it, the approval is by an unnamed user.
inline constexpr char kDecidedByAnnotation[] = "poolguard.dev/decided-by";
/// A person's manual action: "<request id>/<Action>/<user>" (the console's /action/restart-api
/// and friends write it). Acted on once, under the same safety rules as any rung; what
/// became of it is status.manualRequest.
inline constexpr char kRequestActionAnnotation[] = "poolguard.dev/request-action";

/// The request-action annotation, read. `error` is set (and names what is wrong) when it
/// does not have that shape; `id` is then the whole value, so the refusal is recorded once.
struct ActionRequest {
  std::string id, action, by, error;
};
ActionRequest ParseActionRequest(std::string_view value);
/// The pod-template annotation `kubectl rollout restart` sets; RestartDeployment and
/// RestartDatabase set it to the action's key so that re-applying it is a no-op.
inline constexpr char kRestartedAtAnnotation[] = "kubectl.kubernetes.io/restartedAt";

enum class RemediationAction {
  kRestartDeployment,
  kRestartDatabase,
  kIncreasePoolSize,
  kTerminateBlockingSessions,
};
std::string_view ActionName(RemediationAction action);
std::optional<RemediationAction> ParseAction(std::string_view name);

enum class Strategy { kLadder, kDiagnosisDriven };
std::string_view StrategyName(Strategy strategy);

/// PromQL from spec.detection.prometheus.queries, as written (placeholders not yet
/// substituted). An unset query is the collector's default for the target's own metrics.
struct PromQueryOverrides {
  std::optional<std::string> error_ratio, p99_latency_seconds, pool_timeouts, request_rate,
      auth_errors;
  bool operator==(const PromQueryOverrides&) const = default;
};

/// A text a database client prints when it fails, and the kind it counts as.
struct LogPattern {
  std::string contains;  // a substring of the error text, case-sensitive
  std::string kind;      // one of kLogPatternKinds
  bool operator==(const LogPattern&) const = default;
};
/// The kinds the diagnosis reads from logs.
inline constexpr std::string_view kLogPatternKinds[] = {
    "pool_timeout", "too_many_clients", "authentication", "connection_refused", "connection_lost"};
inline constexpr size_t kMaxLogPatterns = 32;
inline constexpr size_t kMaxLogPatternBytes = 256;

/// Which metric names detection reads (spec.detection.metrics.preset; metric_presets.h).
enum class MetricPreset {
  kPoolGuardTarget,  // the repo's example target's names (metric_presets.cc has them)
  kHikariCP,         // HikariCP + Micrometer (Spring Boot Actuator)
  kNone,             // no metrics: health, logs and the database's view
};
std::string_view MetricPresetName(MetricPreset preset);

struct DetectionSpec {
  std::chrono::milliseconds interval{1000};
  std::chrono::milliseconds for_window{3000};
  std::string prometheus_url;  // empty: detection from health probes, scrapes and logs only
  PromQueryOverrides queries;
  double error_ratio = 0.2;
  double p99_latency_seconds = 2;
  // spec.detection.logPatterns: the user's own error texts, checked before the built-in
  // table (DriverLogPatterns).
  std::vector<LogPattern> log_patterns;
  // spec.detection.metrics: the names read from the pods' metrics endpoint and the default
  // PromQL; the path overrides the preset's (empty: the preset's).
  MetricPreset metrics_preset = MetricPreset::kPoolGuardTarget;
  std::string metrics_path;
  // spec.detection.database: what the database shows of the target's sessions fails the
  // dbSessions signal when one of them has waited on a lock this long, or when sessions
  // idle in a transaction this long fill the target's pools.
  std::chrono::milliseconds lock_wait{1000};
  std::chrono::milliseconds idle_in_transaction{10000};
  // While the server has no free slot, other clients' sessions idle (or idle in a
  // transaction) this long hold slots the target needs: the ServerSlots check names them
  // and TerminateBlockingSessions may end them.
  std::chrono::milliseconds idle_slot_holder{10000};
  bool operator==(const DetectionSpec&) const = default;
};

/// What the placeholders of a spec query stand for.
struct QueryPlaceholders {
  std::string ns;          // $namespace: the Remediation's (and the target's) namespace
  std::string deployment;  // $deployment: spec.target.deployment
  std::string range;       // $range: the PromQL range of the look-back signals, e.g. 30s
};
/// A spec query with its placeholders substituted, or why it cannot be: every `$` starts
/// `$namespace`, `$deployment`, `$range` (also written `${namespace}` and so on, when a
/// name character follows) or `$$`, a literal `$`. `error` names the first other one.
struct ExpandedQuery {
  std::string text;
  std::string error;
};
ExpandedQuery ExpandQuery(std::string_view query, const QueryPlaceholders& values);

/// What spec.increasePoolSize.env may name (the CRD has the same rules): an upper-case
/// variable name that contains POOL, a pool-size setting, never an arbitrary variable.
inline constexpr char kPoolSizeEnvPattern[] = "^[A-Z][A-Z0-9_]*$";

struct PoolSizeSpec {
  std::string env = "DB_POOL_SIZE";
  std::string container;  // empty: the first container
  int step = 5;
  int max = 20;
  bool operator==(const PoolSizeSpec&) const = default;
};

/// What a health probe makes of the body of its answer (spec.target.healthBody).
enum class HealthBody {
  kAuto,    // a JSON body's status/database fields count too (see ReadHealthBody)
  kIgnore,  // the HTTP status alone
};
std::string_view HealthBodyName(HealthBody mode);

/// Which lock holders TerminateBlockingSessions may end (spec.terminateBlockingSessions.scope).
enum class BlockerScope {
  kRole,      // sessions of the target's role in the target's database (the default)
  kDatabase,  // any role's sessions in the target's database
  kServer,    // any session on the server
};
std::string_view BlockerScopeName(BlockerScope scope);

struct VerificationSpec {
  int consecutive_healthy = 3;
  std::chrono::milliseconds window{10'000};
  std::chrono::milliseconds timeout{60'000};
  double max_error_ratio = 0.01;
  double latency_factor = 2.0;
  // spec.verification.testPath: one business request sent to a pod each verifying tick
  // (e.g. /items?limit=1); empty: none (the controller knows no app's routes).
  std::string test_path;
  bool operator==(const VerificationSpec&) const = default;
};

struct SafetySpec {
  int max_actions_per_hour = 3;
  std::chrono::milliseconds cooldown{60'000};
  bool dry_run = false;
  std::vector<RemediationAction> require_approval;
  // The loop breaker (spec.safety.loopBreaker): a target degraded again within
  // `relapse_window` of a verified fix counts as a relapse; `max_relapses` relapses in a
  // row mean NeedsHuman instead of another action.
  std::chrono::milliseconds relapse_window{5 * 60'000};
  int max_relapses = 2;
  bool operator==(const SafetySpec&) const = default;
};

/// A Remediation's spec, validated. The API server enforces the CRD schema (defaults
/// included); the controller validates again so objects written before a schema change,
/// or by a client that bypassed it, get a message naming the field instead of misbehaving.
struct RemediationSpec {
  std::string target_deployment;
  std::string target_service;  // default: the Deployment's name
  int target_port = 8000;
  std::string health_path = "/health";
  HealthBody health_body = HealthBody::kAuto;
  // spec.target.sessions: which sessions are the target's. The role defaults to the
  // credentials Secret's username; an application_name narrows a role others share.
  std::string session_role;
  std::string session_application_name;
  std::string db_service;
  int db_port = 5432;
  std::string credentials_secret;
  std::string db_statefulset;  // default: the Service's name
  DetectionSpec detection;
  Strategy strategy = Strategy::kLadder;
  std::vector<RemediationAction> actions = {RemediationAction::kRestartDeployment,
                                            RemediationAction::kRestartDatabase,
                                            RemediationAction::kIncreasePoolSize};
  PoolSizeSpec increase_pool_size;
  BlockerScope terminate_scope = BlockerScope::kRole;
  VerificationSpec verification;
  SafetySpec safety;
  std::optional<WebhookTarget> webhook;  // spec.notifications.webhook, beside the cluster-wide ones

  bool Allows(RemediationAction action) const;
  bool NeedsApproval(RemediationAction action) const;
  bool operator==(const RemediationSpec&) const = default;
};

/// Either a spec or a message naming the offending field ("spec.detection.for: ...").
struct RemediationSpecParse {
  std::optional<RemediationSpec> spec;
  std::string error;
};
RemediationSpecParse ParseRemediationSpec(const Json& object);  // from the whole object

}  // namespace poolguard::controller
