#!/usr/bin/env bash
# Issue 7, end to end with real PostgreSQL and Prometheus: a LockTable ChaosExperiment
# (one session holds ACCESS EXCLUSIVE on items; the api's pool fills with blocked
# requests) against a Remediation, in one demo stack shared by the scenarios.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
stack_up rem-lock
start_controller
ALL_ACTIONS='[TerminateBlockingSessions, RestartDeployment, RestartDatabase, IncreasePoolSize]'

# ---- 2. DiagnosisDriven: TerminateBlockingSessions heals it with no restart at all
check "LockTable + DiagnosisDriven: LockContention (High) -> TerminateBlockingSessions verified, no restart"
before="$(workload_state)"
apply_remediation DiagnosisDriven "$ALL_ACTIONS"
wait_watching
chaos lock-dd "$LOCK_TABLE"
wait_chaos_active lock-dd
wait_rem "an incident linked to lock-dd" 30 ".status.incident.chaosExperiment == \"$NS/lock-dd\""
wait_rem "the incident Resolved" 90 '.status.incident.outcome == "Resolved"'
rem_is '.status.incident.diagnosis.conclusion == "LockContention" and .status.incident.diagnosis.confidence == "High"' ||
  fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary}')"
rem_is '[.status.incident.actions[] | {name, result}] == [{name: "TerminateBlockingSessions", result: "Verified"}]' ||
  fail "actions: $(rq '[.status.incident.actions[] | {name, rung, result}]')"
after="$(workload_state)"
[[ "$after" == "$before" ]] || fail "the workloads changed: before '$before', after '$after'"
[[ "$after" != *restartedAt=[0-9]* ]] || fail "a pod template carries restartedAt: $after"
ok "$(incident_summary); workloads untouched: $after; experiment lock-dd $(chaos_phase lock-dd)"


# ---- 5a. dryRun: the plan is in status, nothing is touched
check "dryRun: the plan in status (Planned, condition DryRun), no restart, no patch, the lock holder left alone"
reset_stack
before="$(workload_state)"
apply_remediation DiagnosisDriven "$ALL_ACTIONS" '{cooldown: 2s, maxActionsPerHour: 10, dryRun: true}'
wait_watching
chaos lock-dry "$LOCK_TABLE"
wait_chaos_active lock-dry
wait_rem "the plan written to status" 30 '(.status.incident.actions | length) > 0'
rem_is '[.status.incident.actions[].result] | all(. == "Planned")' ||
  fail "dry-run actions: $(rq '[.status.incident.actions[] | {name, result}]')"
rem_is '.status.incident.actions[0].name == "TerminateBlockingSessions" and ([.status.incident.actions[].name] | index("RestartDeployment") == null)' ||
  fail "the plan for LockContention: $(rq '[.status.incident.actions[].name]')"
rem_is '.status.conditions[] | select(.type == "DryRun") | .status == "True"' ||
  fail "condition DryRun: $(rq '.status.conditions')"
plan="$(rq 'incident | action_results')"
# Nothing may happen while the fault stays: 10 s of ticks (interval 1s) with the plan
# unchanged, the workloads as they were and the lock session still held.
unchanged() {
  [[ "$(workload_state)" == "$before" ]] && [[ "$(chaos_phase lock-dry)" == Active ]] &&
    [[ "$(rq 'incident | action_results')" == "$plan" ]] &&
    [[ "$(kubectl get chaosexperiment lock-dry -n "$NS" -o jsonpath='{.status.leakedConnections}')" == 1 ]]
}
hold_until=$((SECONDS + 10))
while ((SECONDS < hold_until)); do
  unchanged || fail "dry run changed something: plan '$plan' -> '$(rq 'incident | action_results')'; workloads '$before' -> '$(workload_state)'; experiment $(chaos_phase lock-dry)"
  sleep 1
done
ok "phase $(rq .status.phase), plan $plan, DryRun=True; after 10 s: workloads '$before', lock-dry Active with 1 session"

# ---- 5b. requireApproval: waits, then acts once approved
check "requireApproval [TerminateBlockingSessions]: AwaitingApproval naming the annotation, acts after kubectl annotate"
reset_stack
apply_remediation DiagnosisDriven "$ALL_ACTIONS" '{cooldown: 2s, maxActionsPerHour: 10, requireApproval: [TerminateBlockingSessions]}'
wait_watching
chaos lock-appr "$LOCK_TABLE"
wait_chaos_active lock-appr
wait_rem "phase AwaitingApproval" 30 '.status.phase == "AwaitingApproval"'
id="$(rq .status.incident.id)"
msg="$(rq .status.message)"
[[ "$msg" == *"poolguard.dev/approve=$id"* ]] || fail "the message does not name the annotation poolguard.dev/approve=$id: $msg"
hold_until=$((SECONDS + 5))
while ((SECONDS < hold_until)); do
  rem_is '.status.phase == "AwaitingApproval" and ([.status.incident.actions[]? | select(.result != "Planned")] | length == 0)' ||
    fail "acted without approval: $(rq '{phase: .status.phase, actions: .status.incident.actions}')"
  [[ "$(chaos_phase lock-appr)" == Active ]] || fail "the lock holder was touched without approval: lock-appr $(chaos_phase lock-appr)"
  sleep 1
done
ok "AwaitingApproval for 5 s, nothing done; message: $msg"
kubectl annotate remediation "$REM" -n "$NS" "poolguard.dev/approve=$id" >/dev/null || fail "kubectl annotate failed"
wait_rem "the incident Resolved after the approval" 60 '.status.incident.outcome == "Resolved"'
rem_is '[.status.incident.actions[] | {name, result}] == [{name: "TerminateBlockingSessions", result: "Verified"}]' ||
  fail "actions after approval: $(rq '[.status.incident.actions[] | {name, rung, result}]')"
ok "$(incident_summary)"

# ---- 1. Ladder: restarting the api does not help, restarting the database does
check "LockTable + Ladder: RestartDeployment fails verification, RestartDatabase heals it, the timeline says so"
reset_stack
apply_remediation Ladder '[RestartDeployment, RestartDatabase, IncreasePoolSize]'
wait_watching
chaos lock-ladder "$LOCK_TABLE"
wait_chaos_active lock-ladder
wait_rem "an incident linked to lock-ladder" 30 ".status.incident.chaosExperiment == \"$NS/lock-ladder\""
wait_rem "the incident Resolved" 180 '.status.incident.outcome == "Resolved"'
rem_is '[.status.incident.actions[] | {name, rung, result}] == [
    {name: "RestartDeployment", rung: 1, result: "VerificationFailed"},
    {name: "RestartDatabase", rung: 2, result: "Verified"}]' ||
  fail "the timeline: $(rq '[.status.incident.actions[] | {name, rung, result, verification}]')"
# The lock holder outlived rung 1 and went with the database restart of rung 2.
wait_for "lock-ladder to end (the database restart severed its session)" 60 eval "[[ \$(chaos_phase lock-ladder) == Completed ]]"
severed="$(kubectl get chaosexperiment lock-ladder -n "$NS" -o jsonpath='{.status.severedAt}')"
rung1_end="$(rq '.status.incident.actions[0].finishedAt')"
rung2_start="$(rq '.status.incident.actions[1].startedAt')"
{ [[ -n "$severed" ]] && (($(date -d "$severed" +%s) >= $(date -d "$rung1_end" +%s))) &&
  (($(date -d "$severed" +%s) >= $(date -d "$rung2_start" +%s))); } ||
  fail "lock-ladder severed at '$severed', rung 1 finished $rung1_end, rung 2 started $rung2_start: the lock should outlive rung 1"
verdict="$(rq .status.incident.verdict)"
[[ "$verdict" == *"rung 2"*RestartDatabase* ]] || fail "verdict: $verdict"
ok "$(incident_summary)"
ok "rung 1: $(rq '.status.incident.actions[0].verification'); lock held until $severed (rung 2 started $rung2_start)"

# ---- 7. Prometheus down: detection from health and logs, lower confidence
check "Prometheus scaled to 0: detected from health and logs, diagnosis Medium naming Prometheus unavailable, healed"
reset_stack
kubectl scale deployment prometheus -n "$NS" --replicas=0 >/dev/null || fail "cannot scale prometheus"
# (eval runs in this shell, under pipefail: `grep -q` could SIGPIPE kubectl and so read as "no pod")
wait_for "no prometheus pod" 60 eval "! kubectl get pods -n '$NS' -l app.kubernetes.io/name=prometheus -o name | grep . >/dev/null"
apply_remediation DiagnosisDriven "$ALL_ACTIONS"
wait_watching
chaos lock-noprom "$LOCK_TABLE"
wait_chaos_active lock-noprom
wait_rem "an incident linked to lock-noprom" 30 ".status.incident.chaosExperiment == \"$NS/lock-noprom\""
wait_rem "a diagnosis" 30 '.status.incident.diagnosis.conclusion != null'
rem_is '.status.incident.diagnosis.confidence == "Medium" and (.status.incident.diagnosis.summary | test("Prometheus unavailable"))' ||
  fail "diagnosis without Prometheus: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary}')"
rem_is '.status.incident.signals.failing | any(startswith("health/"))' ||
  fail "no failing /health signal: $(rq '.status.incident.signals')"
ok "$(rq '.status.incident.diagnosis | "\(.conclusion) (\(.confidence)): \(.summary)"'); failing: $(rq '.status.incident.signals.failing | join(" ")')"
wait_rem "the incident Resolved" 90 '.status.incident.outcome == "Resolved"'
ok "$(incident_summary)"

echo "[$TEST_NAME] PASS"
