#!/usr/bin/env bash
# Issue 16: two controller replicas, installed with the chart (replicaCount 2, leader
# election), on the local cluster with the demo stack. The leader is killed with SIGKILL
# (the pid is in the Lease's holderIdentity; localnode runs pods as host processes):
# (a) while a ChaosExperiment is Active: the other replica takes the Lease within the lease
#     duration, the experiment's sessions are never doubled (polled every 0.3 s in
#     pg_stat_activity), it is reinjected (reinject OnSever) and ends on time, 0 sessions
#     left;
# (b) while a Remediation's RestartDeployment is under way (applied, not yet verified): the
#     new leader resumes from status, the Deployment is restarted once (its generation
#     rises by one), and the incident resolves once;
# (c) during verification: the same, the new leader verifies;
# (d) the kube-apiserver restarted while a RestartDeployment is under way: whichever
#     replica leads afterwards resumes from status; one restart, one resolution;
# (e) frozen with SIGSTOP past its lease (as a partition from the API server looks to the
#     others): the other replica takes over; woken, the old leader exits (lost lease)
#     without touching the experiment (its sessions never exceed the spec's).
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
use_test_cluster helm
stack_up ha
SYS="$NS-sys"
RELEASE=ha
LEASE_SECONDS=15 # kube::LeaderElectionConfig's lease_duration

ha_cleanup() {
  local rc=$?
  set +e
  if ((rc != 0)); then
    echo "--- controller pods:" >&2
    kubectl get pods -n "$SYS" -o wide >&2
    for p in $(kubectl get pods -n "$SYS" -o name 2>/dev/null); do
      echo "--- $p log (last 40 lines):" >&2
      kubectl logs -n "$SYS" "$p" --tail=40 >&2 2>&1
    done
  fi
  # The experiments first, while their controllers still run (the finalizer rolls back).
  kubectl delete chaosexperiments --all -n "$NS" --timeout=30s >/dev/null 2>&1
  helm uninstall "$RELEASE" -n "$SYS" --wait --timeout 60s >/dev/null 2>&1
  kubectl delete namespace "$SYS" --wait=false >/dev/null 2>&1
  remediation_cleanup "$rc"
}
trap ha_cleanup EXIT INT TERM

secret() { kubectl get secret db-credentials -n "$NS" -o jsonpath="{.data.$1}" | base64 -d; }
db_ip() { kubectl get pods -n "$NS" -l app.kubernetes.io/name=db -o jsonpath='{.items[0].status.podIP}'; }
DB_USER="$(secret username)"
DB_PASSWORD="$(secret password)"
DB_NAME="$(secret database)"
sessions_of() { # experiment -> its sessions in pg_stat_activity
  PGPASSWORD="$DB_PASSWORD" PGCONNECT_TIMEOUT=3 psql -h "$(db_ip)" -U "$DB_USER" -d "$DB_NAME" -XAtqc \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'poolguard-chaos/$NS/$1'"
}
holder() { kubectl get lease poolguard-controller -n "$SYS" -o jsonpath='{.spec.holderIdentity}' 2>/dev/null; }
# The leader's pid: holderIdentity is <hostname>_<pid>.
leader_pid() { local h; h="$(holder)"; echo "${h##*_}"; }
kill_leader() {
  local pid
  pid="$(leader_pid)"
  [[ "$pid" =~ ^[0-9]+$ ]] || fail "no leader pid in the Lease's holderIdentity '$(holder)'"
  grep -q poolguard-controller "/proc/$pid/cmdline" 2>/dev/null || fail "pid $pid (the Lease's holder) is not a poolguard-controller"
  kill -KILL "$pid"
  echo "$pid"
}
has_holder() { [[ -n "$(holder)" ]]; }
sessions_are() { [[ "$(sessions_of "$1")" == "$2" ]]; }
phase_is() { [[ "$(chaos_phase "$1")" == "$2" ]]; }
new_leader_within() { # OLD_HOLDER SECONDS -> prints the seconds it took
  local old="$1" limit="$2" start=$SECONDS
  while ((SECONDS - start <= limit)); do
    local h
    h="$(holder)"
    if [[ -n "$h" && "$h" != "$old" ]]; then
      echo "$((SECONDS - start))"
      return 0
    fi
    sleep 0.5
  done
  return 1
}

# next_incident EXPERIMENT: once a leader holds the Lease and the last incident is closed
# with the target healthy, notes the Deployment's generation and the incident's id, and
# starts EXPERIMENT, an export surge whose abandoned exports exhaust the api's pool.
next_incident() {
  wait_for "a leader again" 30 has_holder
  prev="$(rq '.status.incident.id')"
  wait_rem "the target healthy, incident $prev closed" 90 \
    '((.status.conditions // []) | any(.type == "Healthy" and .status == "True")) and ((.status.incident.closedAt // "") != "")'
  gen_before="$(jp deployment/api '{.metadata.generation}' -n "$NS")"
  chaos "$1" '{type: TrafficSurge, trafficSurge: {concurrency: 2, requests: 10, path: "/items/export?batch=1"}}' 60s
}
# resolved_by_one_restart: the incident next_incident began is Resolved by one verified
# RestartDeployment, and the Deployment was restarted exactly once (sets gen_after).
resolved_by_one_restart() {
  wait_rem "a new incident Resolved by RestartDeployment, Verified once" 120 \
    "(.status.incident.id != \"$prev\") and (.status.incident.outcome == \"Resolved\") and ([.status.incident.actions[] | .result] == [\"Verified\"])"
  gen_after="$(jp deployment/api '{.metadata.generation}' -n "$NS")"
  ((gen_after == gen_before + 1)) || fail "the Deployment's generation went $gen_before -> $gen_after: restarted $((gen_after - gen_before)) times"
}

check "the chart with replicaCount 2: two replicas Ready, one holds the Lease"
helm upgrade --install "$RELEASE" "$REPO_DIR/helm/poolguard" -n "$SYS" --create-namespace \
  --set replicaCount=2 --set "targetNamespaces={$NS}" --set "watchNamespaces={$NS}" \
  --set console.enabled=false --set listenOnPodIP=true --set logFormat=text \
  --wait --timeout 120s >/dev/null || fail "helm install of two replicas failed"
wait_for "a Lease holder" 60 has_holder
[[ "$(kubectl get pods -n "$SYS" -l app.kubernetes.io/name=poolguard-controller --field-selector=status.phase=Running -o name | grep -c .)" == 2 ]] ||
  fail "not two controller pods running: $(kubectl get pods -n "$SYS" -o wide)"
ok "holder $(holder)"

# ---------------------------------------------------------------- (a) an Active experiment
check "(a) the leader killed while an experiment is Active: taken over, sessions never doubled, ends on time"
chaos ha-leak '{type: ConnectionLeak, connectionLeak: {connections: 3, mode: Idle}}' 45s OnSever
wait_chaos_active ha-leak
wait_for "3 sessions of ha-leak" 20 sessions_are ha-leak 3
ends="$(kubectl get chaosexperiment ha-leak -n "$NS" -o jsonpath='{.status.endsAt}')"
old="$(holder)"
pid="$(kill_leader)"
[[ -n "$pid" ]] || fail "could not kill the leader (holder: $(holder))"
note "killed the leader (pid $pid, $old)"
max=0
took=""
start=$SECONDS
# Until the experiment ends: the most sessions ever seen, and when the Lease moved.
while (($(date +%s) < $(date -d "$ends" +%s) - 1)); do
  n="$(sessions_of ha-leak || echo 0)"
  ((n > max)) && max=$n
  if [[ -z "$took" ]]; then
    h="$(holder)"
    [[ -n "$h" && "$h" != "$old" ]] && took=$((SECONDS - start))
  fi
  sleep 0.3
done
[[ -n "$took" ]] || fail "no other replica took the Lease before the experiment's end ($ends)"
((took <= LEASE_SECONDS + 5)) || fail "the Lease moved after ${took}s, more than the lease duration ($LEASE_SECONDS s) and a retry"
((max <= 3)) || fail "$max sessions of ha-leak seen at once: the fault was doubled"
wait_for "ha-leak Completed" 30 phase_is ha-leak Completed
finished="$(kubectl get chaosexperiment ha-leak -n "$NS" -o jsonpath='{.status.finishedAt}')"
late=$(($(date -d "$finished" +%s) - $(date -d "$ends" +%s)))
((late <= 5)) || fail "ha-leak finished at $finished, ${late}s after its endsAt $ends"
[[ "$(sessions_of ha-leak)" == 0 ]] || fail "ha-leak left sessions behind"
reinjected="$(kubectl get events -n "$NS" --field-selector involvedObject.name=ha-leak,reason=Severed -o name | grep -c . || true)"
ok "new leader after ${took}s (lease ${LEASE_SECONDS}s); at most $max sessions; reinjected (Severed events: $reinjected); finished ${late}s after endsAt; 0 left"

# ---------------------------------------------------------------- (b) a rollout under way
check "(b) the leader killed during a RestartDeployment: the new leader resumes, one restart, one resolution"
wait_for "a leader again" 30 has_holder
apply_remediation Ladder '[RestartDeployment]' '{cooldown: 2s, maxActionsPerHour: 10, loopBreaker: {relapseWindow: 1s}}'
wait_watching
gen_before="$(jp deployment/api '{.metadata.generation}' -n "$NS")"
chaos ha-exports '{type: TrafficSurge, trafficSurge: {concurrency: 2, requests: 10, path: "/items/export?batch=1"}}' 60s
wait_for "RestartDeployment applied" 90 \
  rem_is '.status.incident.actions[0]? | (.name == "RestartDeployment" and .appliedAt != null)'
stage="$(rq '.status.incident.actions[0] | if .finishedAt then "after it finished" else "before it finished" end')"
old="$(holder)"
pid="$(kill_leader)"
[[ -n "$pid" ]] || fail "could not kill the leader (holder: $(holder))"
note "killed the leader (pid $pid) with RestartDeployment applied, $stage"
took="$(new_leader_within "$old" $((LEASE_SECONDS + 10)))" || fail "no new leader within $((LEASE_SECONDS + 10))s"
wait_rem "the incident Resolved by RestartDeployment, Verified" 120 \
  '(.status.incident.outcome == "Resolved") and ([.status.incident.actions[] | .result] == ["Verified"])'
gen_after="$(jp deployment/api '{.metadata.generation}' -n "$NS")"
((gen_after == gen_before + 1)) || fail "the Deployment's generation went $gen_before -> $gen_after: restarted $((gen_after - gen_before)) times"
resolved="$(rem_json | jq '[(.status.incident // empty), (.status.history // [])[] | select(.outcome == "Resolved")] | length')"
[[ "$resolved" == 1 ]] || fail "$resolved resolved incidents in the timeline, expected 1"
ok "new leader after ${took}s; generation $gen_before -> $gen_after; one incident, resolved once: $(incident_summary)"

# ---------------------------------------------------------------- (c) verification under way
check "(c) the leader killed during verification: the new leader verifies, no second restart"
next_incident ha-exports2
wait_rem "phase Verifying" 120 '.status.phase == "Verifying"'
old="$(holder)"
pid="$(kill_leader)"
[[ -n "$pid" ]] || fail "could not kill the leader (holder: $(holder))"
note "killed the leader (pid $pid) while verifying"
took="$(new_leader_within "$old" $((LEASE_SECONDS + 10)))" || fail "no new leader within $((LEASE_SECONDS + 10))s"
resolved_by_one_restart
ok "new leader after ${took}s; generation $gen_before -> $gen_after: $(incident_summary)"

# ---------------------------------------------------------------- (d) the API server restarted
check "(d) kube-apiserver restarted during a RestartDeployment: resumed from status, one restart, one resolution"
next_incident ha-exports3
wait_for "RestartDeployment applied in a new incident" 90 \
  rem_is "(.status.incident.id != \"$prev\") and (.status.incident.actions[0]? | (.name == \"RestartDeployment\" and .appliedAt != null))"
start=$SECONDS
"$REPO_DIR/localcluster/lc" restart kube-apiserver >/dev/null || fail "cannot restart kube-apiserver"
note "kube-apiserver restarted in $((SECONDS - start))s with RestartDeployment applied"
wait_for "a leader again" 60 has_holder
resolved_by_one_restart
ok "holder $(holder); generation $gen_before -> $gen_after: $(incident_summary)"
# Its 60 s would still hold the target (one experiment per target) when (e) begins.
kubectl delete chaosexperiment ha-exports3 -n "$NS" --timeout=60s >/dev/null || fail "cannot delete ha-exports3"

# ---------------------------------------------------------------- (e) a frozen leader
check "(e) the leader frozen (SIGSTOP) past its lease: the other takes over, the frozen one never acts again"
wait_for "a leader again" 30 has_holder
chaos ha-leak2 '{type: ConnectionLeak, connectionLeak: {connections: 3, mode: Idle}}' 60s OnSever
wait_chaos_active ha-leak2
wait_for "3 sessions of ha-leak2" 20 sessions_are ha-leak2 3
old="$(holder)"
frozen="$(leader_pid)"
kill -STOP "$frozen"
note "froze the leader (pid $frozen)"
max=0
took=""
start=$SECONDS
while ((SECONDS - start < LEASE_SECONDS + 15)); do
  n="$(sessions_of ha-leak2 || echo 0)"
  ((n > max)) && max=$n
  h="$(holder)"
  if [[ -z "$took" && -n "$h" && "$h" != "$old" ]]; then took=$((SECONDS - start)); fi
  [[ -n "$took" ]] && ((SECONDS - start > took + 5)) && break
  sleep 0.3
done
[[ -n "$took" ]] || { kill -CONT "$frozen"; fail "no other replica took the Lease from the frozen leader"; }
kill -CONT "$frozen"
# Woken past its renew deadline, it must step down (exit), not act on the experiment.
for _ in $(seq 1 30); do
  n="$(sessions_of ha-leak2 || echo 0)"
  ((n > max)) && max=$n
  sleep 0.3
done
((max <= 3)) || fail "$max sessions of ha-leak2 seen at once: the frozen leader acted after it lost the Lease"
if grep -q poolguard-controller "/proc/$frozen/cmdline" 2>/dev/null; then
  fail "the frozen leader (pid $frozen) still runs 9 s after it was woken past its lease"
fi
[[ "$(sessions_of ha-leak2)" == 3 ]] || fail "ha-leak2 has $(sessions_of ha-leak2) sessions, expected 3 (held by the new leader)"
ok "new leader after ${took}s; at most $max sessions; the woken leader exited (lost the lease); 3 sessions held by the new one"
echo "[$TEST_NAME] PASS"
