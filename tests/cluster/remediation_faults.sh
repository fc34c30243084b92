#!/usr/bin/env bash
# Issue 15, end to end with real PostgreSQL and Prometheus: faults from outside the
# connection pool, in one demo stack.
# 1. CredentialRotation changes the password of the api's role (the Secret db-credentials
#    stays as it was, as when a rotation reaches the database but not the application) and
#    ends the role's sessions, so that the api must log in again and cannot. Expected of the
#    Remediation: CredentialsRejected, a person asked (NeedsHuman), nothing restarted; of the
#    experiment: the password set back at its end, even by a controller that was SIGKILLed
#    while it was in place.
# 2. DatabaseDown (Stopped) scales the db StatefulSet to 0. Expected: DatabaseDown, the api
#    never restarted or rolled out into it (the Ladder skips every rung, saying why), a
#    person asked; the StatefulSet back at its replicas at the end and the api healthy.
# 3. An in-app leak: clients start an export (GET /items/export, a cursor on a pooled
#    connection held across requests) and abandon it, as real clients do; the api never
#    ends an abandoned export, so each keeps a connection idle in transaction. Expected:
#    ConnectionPoolExhausted (the target's own sessions idle in transaction, none blocked,
#    slots to spare), RestartDeployment verified once: the reference design's primary
#    action healing what it is for.
# 4. The chaos kill switch: annotating the namespace the controller was pointed at rolls
#    a running experiment back (Aborted, KillSwitch; its sessions gone from
#    pg_stat_activity) and refuses new ones until the annotation is removed.
# 5. Stop conditions: a LockTable experiment that stops when the Remediation of its
#    target needs a person; an experiment that stops when a PromQL value stays above its
#    bound for 3 s.
# 6. NetworkPartition: the db Service's selector gains a key no pod carries, so the Service
#    has no endpoints while the db pod runs Ready, and the api's sessions are ended (its
#    pools must reconnect through the Service, and cannot). Expected: NetworkUnreachable, no
#    rung taken (restarting the api or the db changes no network), a person asked; the
#    selector exactly as before at the end, even after the controller was SIGKILLed while
#    the partition was in place, and the api healthy again by itself.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
stack_up rem-faults
# The kill switch this controller obeys: an annotation on the test's own namespace.
CONTROLLER_ARGS=(--chaos-kill-switch-namespace="$NS")
start_controller
ALL_ACTIONS='[TerminateBlockingSessions, RestartDeployment, RestartDatabase, IncreasePoolSize]'

# The db pod's address now (scenario 2 stops it: its next pod may have another).
db_ip() { kubectl get pods -n "$NS" -l app.kubernetes.io/name=db -o jsonpath='{.items[0].status.podIP}'; }
[[ -n "$(db_ip)" ]] || fail "the db pod has no IP"
secret() { kubectl get secret db-credentials -n "$NS" -o jsonpath="{.data.$1}" | base64 -d; }
DB_USER="$(secret username)"
DB_PASSWORD="$(secret password)"
DB_NAME="$(secret database)"
# login_with PASSWORD: does PostgreSQL let the api's role in with it (as the api would)?
login_with() {
  PGPASSWORD="$1" PGCONNECT_TIMEOUT=5 psql -h "$(db_ip)" -U "$DB_USER" -d "$DB_NAME" -XAtqc 'SELECT 1' >/dev/null 2>&1
}
chaos_json() { kubectl get chaosexperiment "$1" -n "$NS" -o json; }
chaos_is() { chaos_json "$1" | jq -e "$2" >/dev/null; }
# handed_over EXPERIMENT CONCLUSION: the Remediation's incident, linked to EXPERIMENT and
# diagnosed CONCLUSION, goes to a person (NeedsHuman) with no action taken; sets msg to the
# status message it gives that person.
handed_over() {
  wait_rem "an incident linked to $1" 30 ".status.incident.chaosExperiment == \"$NS/$1\""
  wait_rem "NeedsHuman" 60 '[.status.conditions[] | select(.type == "NeedsHuman" and .status == "True")] | length == 1'
  rem_is ".status.incident.diagnosis.conclusion == \"$2\"" ||
    fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary}')"
  rem_is '(.status.incident.actions // []) | length == 0' ||
    fail "actions taken: $(rq '[.status.incident.actions[] | {name, result}]')"
  msg="$(rq .status.message)"
}

check "CredentialRotation + DiagnosisDriven: CredentialsRejected, NeedsHuman, nothing restarted; the password set back after a SIGKILL"
login_with "$DB_PASSWORD" || fail "the Secret's password does not log in as $DB_USER before the experiment"
before="$(workload_state)"
apply_remediation DiagnosisDriven "$ALL_ACTIONS"
wait_watching
chaos rot "{type: CredentialRotation, credentialRotation: {terminateSessions: true}}" 75s
wait_chaos_active rot
chaos_is rot '.status.passwordRotated == true and .status.rotatedRole == "'"$DB_USER"'"' ||
  fail "status does not show the rotation: $(chaos_json rot | jq -c .status)"
! login_with "$DB_PASSWORD" || fail "the Secret's password still logs in while rot is Active"
ok "rot Active: passwordRotated, rotatedRole $DB_USER; the Secret's password refused by PostgreSQL"

handed_over rot CredentialsRejected
[[ "$msg" == *"rejects the target's credentials"* && "$msg" == *"db-credentials"* ]] ||
  fail "the message does not say what a person should do: $msg"
ok "$(rq '.status.incident.diagnosis | "\(.conclusion) (\(.confidence))"'), phase $(rq .status.phase): $msg"

# The controller dies with the password rotated: a new one must find it (a login with the
# derived password), neither rotate it again nor leave it, and set it back at endsAt.
stop_controller KILL
sleep 2
login_with "$DB_PASSWORD" && fail "the password came back without a controller"
start_controller
hold_until=$((SECONDS + 8))
while ((SECONDS < hold_until)); do
  [[ "$(chaos_phase rot)" == Active ]] || break
  [[ "$(workload_state)" == "$before" ]] || fail "a workload changed: '$before' -> '$(workload_state)'"
  rem_is '(.status.incident.actions // []) | length == 0' ||
    fail "the new controller acted: $(rq '[.status.incident.actions[] | {name, result}]')"
  sleep 1
done
wait_for "rot Completed (Expired) by the second controller" 90 \
  chaos_is rot '.status.phase == "Completed" and .status.reason == "Expired" and .status.passwordRotated == false'
login_with "$DB_PASSWORD" || fail "rot Completed but the Secret's password does not log in"
rotations="$(grep -c 'rotated the password of role' "$CONTROLLER_LOG" || true)"
[[ "$rotations" == 1 ]] || fail "the password was rotated $rotations times (expected once): $(grep 'role' "$CONTROLLER_LOG" | tail -n 5)"
grep -q 'set the password of role .* back' "$CONTROLLER_LOG" || fail "the second controller did not log the restore"
ok "rot $(chaos_json rot | jq -r '"\(.status.phase)/\(.status.reason)"'), password back; rotated once, set back by the second controller"

wait_for "the api healthy again (its pool logs in with the Secret's password)" 90 api_healthy
after="$(workload_state)"
[[ "$after" == "$before" ]] || fail "a workload changed: before '$before', after '$after'"
# The derived password is no one's to read: not in status, Events or the controller's log.
leaked="$( (chaos_json rot; kubectl get events -n "$NS" -o json; cat "$CONTROLLER_LOG") | grep -c 'poolguard-chaos-[0-9a-f]\{64\}' || true)"
[[ "$leaked" == 0 ]] || fail "the rotated password appears $leaked times in status, Events or the log"
ok "no restart, no patch ($after); incident $(rq '.status.incident.outcome // .status.history[-1].outcome // "open"'); $(incident_summary)"

# ---- 2. DatabaseDown, Stopped, under the Ladder
check "DatabaseDown (Stopped) + Ladder: DatabaseDown, no rung taken (each skipped with its reason), the StatefulSet back at the end"
reset_stack
before="$(workload_state)"
apply_remediation Ladder "$ALL_ACTIONS"
wait_watching
chaos down "{type: DatabaseDown, databaseDown: {mode: Stopped}}" 40s
wait_chaos_active down
chaos_is down '.status.databaseStopped == true and .status.restoreReplicas == 1' ||
  fail "status does not show the stop: $(chaos_json down | jq -c .status)"
[[ "$(jp statefulset/db '{.spec.replicas}' -n "$NS")" == 0 ]] || fail "StatefulSet db is not at 0 replicas"
ok "down Active: StatefulSet db at 0 replicas, restoreReplicas 1"
handed_over down DatabaseDown
for why in "RestartDeployment: not restarting the target into a database that is down" \
  "RestartDatabase: StatefulSet db has 0 replicas" "IncreasePoolSize: not resizing the pool"; do
  [[ "$msg" == *"$why"* ]] || fail "the message does not say \"$why\": $msg"
done
ok "$(rq '.status.incident.diagnosis | "\(.conclusion) (\(.confidence))"'), phase $(rq .status.phase): $msg"
wait_for "down Completed (Expired), StatefulSet db back at 1 replica" 90 \
  chaos_is down '.status.phase == "Completed" and .status.reason == "Expired" and .status.databaseStopped == false'
[[ "$(jp statefulset/db '{.spec.replicas}' -n "$NS")" == 1 ]] || fail "StatefulSet db is not back at 1 replica"
wait_for "the db Ready and the api healthy again" 120 stack_healthy
# The StatefulSet's generation rose with its replicas (0 and back); nothing else may move.
after="$(workload_state)"
[[ "${after%%; sts*}" == "${before%%; sts*}" && "${after##*restartedAt=}" == "${before##*restartedAt=}" ]] ||
  fail "the api or the db's template changed: before '$before', after '$after'"
ok "api untouched, db not restarted ($after); incident $(rq '.status.incident.outcome // "open"'); $(incident_summary)"

# ---- 3. The in-app leak, healed by RestartDeployment
check "abandoned exports leak the api's pools: ConnectionPoolExhausted, RestartDeployment verified once"
reset_stack
before="$(workload_state)"
apply_remediation DiagnosisDriven "$ALL_ACTIONS"
wait_watching
# Ten requests in all over two clients (one per api pod): five abandoned exports per pod,
# its whole pool (DB_POOL_SIZE 5).
chaos leak "{type: TrafficSurge, trafficSurge: {concurrency: 2, requests: 10, path: '/items/export?batch=1'}}" 60s
wait_chaos_active leak
leaked_exports() { promql "sum(items_exports_open{namespace=\"$NS\"})"; }
exports_open() { [[ "$(leaked_exports)" == "$1" ]]; }
wait_rem "an incident linked to leak" 60 ".status.incident.chaosExperiment == \"$NS/leak\""
wait_rem "the incident Resolved" 150 '.status.incident.outcome == "Resolved"'
rem_is '.status.incident.diagnosis.conclusion == "ConnectionPoolExhausted"' ||
  fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary}')"
rem_is '[.status.incident.actions[] | {name, result}] == [{name: "RestartDeployment", result: "Verified"}]' ||
  fail "actions: $(rq '[.status.incident.actions[] | {name, rung, result, detail}]')"
evidence="$(rq '[.status.incident.diagnosis.checks[] | "\(.name)=\(.result): \(.evidence)"] | join(" | ")')"
[[ "$evidence" == *"held and not used as the database shows: all 10 target sessions idle (10 in a transaction)"* ]] ||
  fail "the checks do not show the pools' 10 sessions held idle in a transaction: $evidence"
after="$(workload_state)"
[[ "${after%%restartedAt=*}" != "${before%%restartedAt=*}" && "${after##*; sts }" == "${before##*; sts }" ]] ||
  fail "expected the api's generation to rise once and the db untouched: before '$before', after '$after'"
wait_for "no export left open on the new api pods" 60 exports_open 0
ok "$(rq '.status.incident.diagnosis | "\(.conclusion) (\(.confidence))"'): $(rq '.status.incident.diagnosis.summary')"
ok "$after; $(incident_summary)"

# ---- 4. The kill switch
check "kill switch: on rolls a running experiment back and refuses new ones; off lets them run"
kubectl delete chaosexperiments --all -n "$NS" --timeout=60s >/dev/null || fail "cannot delete the experiments"
chaos_sessions() {
  PGPASSWORD="$DB_PASSWORD" psql -h "$(db_ip)" -U "$DB_USER" -d "$DB_NAME" -XAtqc \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'poolguard-chaos/$NS/$1'"
}
sessions_are() { [[ "$(chaos_sessions "$1")" == "$2" ]]; }
chaos ks-running "{type: ConnectionLeak, connectionLeak: {connections: 2, mode: Idle}}" 5m
wait_chaos_active ks-running
wait_for "2 sessions of ks-running in pg_stat_activity" 20 sessions_are ks-running 2
start=$SECONDS
kubectl annotate namespace "$NS" "poolguard.dev/chaos-kill-switch=freeze: test" >/dev/null || fail "kubectl annotate failed"
wait_for "ks-running Aborted by the kill switch" 30 \
  chaos_is ks-running '.status.phase == "Aborted" and .status.reason == "KillSwitch"'
stopped_in=$((SECONDS - start))
wait_for "no session of ks-running left" 20 sessions_are ks-running 0
msg="$(chaos_json ks-running | jq -r .status.message)"
[[ "$msg" == *'poolguard.dev/chaos-kill-switch="freeze: test"'* ]] || fail "the message does not name the switch: $msg"
chaos ks-new "{type: ConnectionLeak, connectionLeak: {connections: 1, mode: Idle}}" 1m
wait_for "ks-new Rejected (KillSwitch)" 30 \
  chaos_is ks-new '.status.phase == "Rejected" and .status.reason == "KillSwitch"'
sessions_are ks-new 0 || fail "ks-new opened sessions while the switch was on"
ok "on: ks-running rolled back within ${stopped_in}s ($msg); ks-new Rejected"
kubectl annotate namespace "$NS" "poolguard.dev/chaos-kill-switch-" >/dev/null || fail "kubectl annotate (remove) failed"
sleep 3 # past one poll of the switch (2 s)
chaos ks-after "{type: ConnectionLeak, connectionLeak: {connections: 1, mode: Idle}}" 1m
wait_chaos_active ks-after
ok "off: ks-after Active"

# ---- 5. Stop conditions
check "stop conditions: a Remediation that needs a person ends the experiment; so does PromQL above its bound for 3s"
kubectl delete chaosexperiments --all -n "$NS" --timeout=60s >/dev/null || fail "cannot delete the experiments"
# A new Remediation: the one of scenario 3 keeps its (resolved) incident in status.
kubectl delete remediations --all -n "$NS" --timeout=30s >/dev/null || fail "cannot delete the Remediations"
# Only IncreasePoolSize allowed: a lock holder leaves the Remediation nothing to do.
apply_remediation DiagnosisDriven '[IncreasePoolSize]'
wait_watching
kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot apply stop-human"
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: stop-human}
spec:
  target: {deployment: api, service: api, port: 8000}
  database: {service: db, credentialsSecret: db-credentials}
  fault: $LOCK_TABLE
  duration: 5m
  stopConditions: {remediationNeedsHuman: true}
YAML
wait_chaos_active stop-human
wait_rem "NeedsHuman" 60 '[.status.conditions[] | select(.type == "NeedsHuman" and .status == "True")] | length == 1'
wait_for "stop-human Aborted (StopCondition)" 20 \
  chaos_is stop-human '.status.phase == "Aborted" and .status.reason == "StopCondition"'
wait_for "no session of stop-human left" 20 sessions_are stop-human 0
ok "$(chaos_json stop-human | jq -r .status.message)"
kubectl delete remediation "$REM" -n "$NS" --timeout=30s >/dev/null || fail "cannot delete the Remediation"
kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot apply stop-promql"
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: stop-promql}
spec:
  target: {deployment: api, service: api, port: 8000}
  database: {service: db, credentialsSecret: db-credentials}
  fault: {type: ConnectionLeak, connectionLeak: {connections: 1, mode: Idle}}
  duration: 5m
  stopConditions:
    prometheus: {url: "http://$PROM_IP:9090", query: "vector(1)", above: 0.5, for: 3s}
YAML
wait_chaos_active stop-promql
start=$SECONDS
wait_for "stop-promql Aborted (StopCondition)" 30 \
  chaos_is stop-promql '.status.phase == "Aborted" and .status.reason == "StopCondition"'
took=$((SECONDS - start))
((took >= 2)) || fail "stop-promql stopped after ${took}s: before its 3s"
ok "after ${took}s: $(chaos_json stop-promql | jq -r .status.message)"

# ---- 6. NetworkPartition, under the Ladder
check "NetworkPartition + Ladder: NetworkUnreachable, no rung taken, a person asked; the selector healed after a SIGKILL"
reset_stack
before="$(workload_state)"
svc_selector() { kubectl get service db -n "$NS" -o json | jq -c .spec.selector; }
db_endpoints() {
  kubectl get endpointslices -n "$NS" -l kubernetes.io/service-name=db -o json |
    jq '[.items[].endpoints // [] | .[] | select(.conditions.ready != false)] | length'
}
db_endpoints_are() { [[ "$(db_endpoints)" == "$1" ]]; }
selector_before="$(svc_selector)"
apply_remediation Ladder "$ALL_ACTIONS"
wait_watching
chaos cut "{type: NetworkPartition}" 50s
wait_chaos_active cut
uid="$(chaos_json cut | jq -r .metadata.uid)"
chaos_is cut '.status.servicePartitioned == true and .status.partitionedService == "db"' ||
  fail "status does not show the partition: $(chaos_json cut | jq -c .status)"
[[ "$(svc_selector | jq -r '.["poolguard.dev/partitioned-by"]')" == "$uid" ]] ||
  fail "the selector does not carry the experiment's key: $(svc_selector)"
wait_for "Service db without endpoints" 30 db_endpoints_are 0
[[ "$(kubectl get pods -n "$NS" -l app.kubernetes.io/name=db -o jsonpath='{.items[0].status.conditions[?(@.type=="Ready")].status}')" == True ]] ||
  fail "the db pod is not Ready: the partition must leave it running"
ok "cut Active: selector $(svc_selector), no endpoint, db pod Ready"

handed_over cut NetworkUnreachable
[[ "$msg" == *"no action changes the network"* && "$msg" == *"Service db"* ]] ||
  fail "the message does not say what a person should check: $msg"
ok "$(rq '.status.incident.diagnosis | "\(.conclusion) (\(.confidence)): \(.summary)"'); $msg"

# The controller dies with the Service partitioned: a new one must find the key (status
# named the Service first), neither patch it again nor heal it early, and heal it at endsAt.
stop_controller KILL
sleep 2
[[ "$(svc_selector | jq -r '.["poolguard.dev/partitioned-by"]')" == "$uid" ]] ||
  fail "the selector changed without a controller: $(svc_selector)"
start_controller
wait_for "cut Completed (Expired) by the second controller" 90 \
  chaos_is cut '.status.phase == "Completed" and .status.reason == "Expired" and .status.servicePartitioned == false'
[[ "$(svc_selector)" == "$selector_before" ]] ||
  fail "the selector is not as before: before $selector_before, after $(svc_selector)"
partitions="$(grep -c 'partitioned Service db' "$CONTROLLER_LOG" || true)"
[[ "$partitions" == 1 ]] || fail "the Service was partitioned $partitions times (expected once)"
wait_for "the db Service's endpoint back and the api healthy again" 120 stack_healthy
after="$(workload_state)"
[[ "$after" == "$before" ]] || fail "a workload changed: before '$before', after '$after'"
ok "selector $(svc_selector) as before; no restart, no patch ($after); $(incident_summary)"
