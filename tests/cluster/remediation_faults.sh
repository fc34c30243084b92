#!/usr/bin/env bash
# Issue 15, end to end with real PostgreSQL and Prometheus: a fault from outside the
# connection pool. CredentialRotation changes the password of the api's role (the Secret
# db-credentials stays as it was, as when a rotation reaches the database but not the
# application) and ends the role's sessions, so that the api must log in again and cannot.
# Expected of the Remediation: CredentialsRejected, a person asked (NeedsHuman), nothing
# restarted. Expected of the experiment: the password set back at its end, even by a
# controller that was SIGKILLed while it was in place.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
stack_up rem-faults
start_controller
ALL_ACTIONS='[TerminateBlockingSessions, RestartDeployment, RestartDatabase, IncreasePoolSize]'

DB_IP="$(kubectl get pods -n "$NS" -l app.kubernetes.io/name=db -o jsonpath='{.items[0].status.podIP}')"
[[ -n "$DB_IP" ]] || fail "the db pod has no IP"
secret() { kubectl get secret db-credentials -n "$NS" -o jsonpath="{.data.$1}" | base64 -d; }
DB_USER="$(secret username)"
DB_PASSWORD="$(secret password)"
DB_NAME="$(secret database)"
# login_with PASSWORD: does PostgreSQL let the api's role in with it (as the api would)?
login_with() {
  PGPASSWORD="$1" PGCONNECT_TIMEOUT=5 psql -h "$DB_IP" -U "$DB_USER" -d "$DB_NAME" -XAtqc 'SELECT 1' >/dev/null 2>&1
}
chaos_json() { kubectl get chaosexperiment "$1" -n "$NS" -o json; }
chaos_is() { chaos_json "$1" | jq -e "$2" >/dev/null; }

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

wait_rem "an incident linked to rot" 30 ".status.incident.chaosExperiment == \"$NS/rot\""
wait_rem "NeedsHuman" 60 '[.status.conditions[] | select(.type == "NeedsHuman" and .status == "True")] | length == 1'
rem_is '.status.incident.diagnosis.conclusion == "CredentialsRejected"' ||
  fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary}')"
rem_is '(.status.incident.actions // []) | length == 0' ||
  fail "actions taken: $(rq '[.status.incident.actions[] | {name, result}]')"
msg="$(rq .status.message)"
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
