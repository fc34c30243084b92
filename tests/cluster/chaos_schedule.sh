#!/usr/bin/env bash
# Issue 15, schedules: ChaosSchedules on a real API server and PostgreSQL.
# 1. A five-field cron ("* * * * *") read in a time zone (Asia/Kolkata, UTC+05:30): it does
#    not fire at creation; its first run is due at the next whole minute, is named from that
#    minute, carries the due time, leaks its sessions, completes, and is recorded
#    (lastScheduleTime, lastSuccessfulTime, active emptied).
# 2. Forbid and the history limit, with @every 10s and runs that last 15 s: the run due
#    while one is active is skipped (SkippedConcurrent), and of the completed runs only the
#    newest (successfulHistoryLimit 1) is kept.
# 3. suspend: nothing starts, and resuming does not catch up on the runs held back.
# 4. An unknown time zone is reported InvalidSpec in status, and nothing runs.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
stack_up chaos-sched
start_controller
kubectl label namespace "$NS" poolguard.dev/chaos=enabled --overwrite >/dev/null

secret() { kubectl get secret db-credentials -n "$NS" -o jsonpath="{.data.$1}" | base64 -d; }
db_ip() { kubectl get pods -n "$NS" -l app.kubernetes.io/name=db -o jsonpath='{.items[0].status.podIP}'; }
sessions_of() { # experiment -> its sessions in pg_stat_activity
  PGPASSWORD="$(secret password)" psql -h "$(db_ip)" -U "$(secret username)" -d "$(secret database)" -XAtqc \
    "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'poolguard-chaos/$NS/$1'"
}
# schedule NAME SCHEDULE DURATION [MORE_SPEC]: a ChaosSchedule leaking 2 idle sessions.
schedule() {
  kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot apply ChaosSchedule $1"
apiVersion: poolguard.dev/v1alpha1
kind: ChaosSchedule
metadata: {name: $1}
spec:
  schedule: "$2"
  successfulHistoryLimit: 1
${4:-}
  experimentTemplate:
    metadata: {labels: {purpose: schedule-test}}
    spec:
      target: {deployment: api}
      database: {service: db, credentialsSecret: db-credentials}
      fault: {type: ConnectionLeak, connectionLeak: {connections: 2, mode: Idle}}
      duration: $3
YAML
}
runs_of() { kubectl get chaosexperiments -n "$NS" -l "poolguard.dev/schedule=$1" -o json; }
sq() { kubectl get chaosschedule "$1" -n "$NS" -o json | jq -r "$2"; }
epoch() { date -d "$1" +%s; }

# ---------------------------------------------------------------- 1. a cron in a zone
check "1. '* * * * *' in Asia/Kolkata: nothing at creation, one run at the next whole minute"
schedule minutely '* * * * *' 4s '  timeZone: Asia/Kolkata'
created="$(sq minutely .metadata.creationTimestamp)"
wait_for "status.nextScheduleTime" 20 eval "[[ \$(sq minutely '.status.nextScheduleTime // empty') ]]"
next="$(sq minutely .status.nextScheduleTime)"
if (($(epoch "$next") <= $(epoch "$created") || $(epoch "$next") % 60 != 0)); then
  fail "nextScheduleTime $next is not the whole minute after creation $created"
fi
[[ "$(sq minutely '.status.conditions[] | select(.type == "Ready") | .message')" == *"Asia/Kolkata"* ]] ||
  fail "the Ready message does not give the time in the zone: $(sq minutely .status.conditions)"
early="$(runs_of minutely | jq --arg c "$created" '[.items[] | select(.metadata.annotations["poolguard.dev/scheduled-at"] <= $c)] | length')"
[[ "$early" == 0 ]] || fail "a run due at or before creation ($created) was created"
ok "created $created; next $next; no run at creation"

wait_for "the run due at $next created" 90 \
  eval "[[ \$(runs_of minutely | jq '.items | length') -ge 1 ]]"
run="$(runs_of minutely | jq -r '.items | sort_by(.metadata.annotations["poolguard.dev/scheduled-at"]) | .[0]')"
name="$(jq -r .metadata.name <<<"$run")"
due="$(jq -r '.metadata.annotations["poolguard.dev/scheduled-at"]' <<<"$run")"
made="$(jq -r .metadata.creationTimestamp <<<"$run")"
[[ "$due" == "$next" ]] || fail "run $name is due at $due, expected $next"
[[ "$name" == "minutely-$(($(epoch "$due") / 60))" ]] || fail "run name $name is not minutely-<unix minutes of $due>"
[[ "$(jq -r '.metadata.labels.purpose' <<<"$run")" == schedule-test ]] || fail "the template's label is missing on $name"
[[ "$(jq -r '.metadata.ownerReferences[0].kind' <<<"$run")" == ChaosSchedule ]] || fail "$name has no owner reference to its schedule"
ok "$name due $due, created $made ($(($(epoch "$made") - $(epoch "$due")))s after)"
wait_for "$name's 2 sessions in pg_stat_activity" 30 eval "[[ \$(sessions_of $name) == 2 ]]"
wait_for "$name Completed and recorded" 60 \
  eval "[[ \$(kubectl get chaosexperiment $name -n $NS -o jsonpath='{.status.phase}') == Completed &&
          \$(sq minutely '.status.lastSuccessfulTime // empty') == $due && \$(sq minutely '.status.active | length') == 0 ]]"
[[ "$(sessions_of "$name")" == 0 ]] || fail "$name left sessions behind"
[[ "$(sq minutely .status.lastScheduleTime)" == "$due" ]] || fail "lastScheduleTime is $(sq minutely .status.lastScheduleTime), expected $due"
ok "sessions 2 while active, 0 after; lastScheduleTime = lastSuccessfulTime = $due"

# ---------------------------------------------------------------- 4. an unknown zone
check "4. an unknown time zone: InvalidSpec in status, nothing runs"
schedule nowhere '@every 10s' 4s '  timeZone: Mars/Olympus_Mons'
wait_for "Ready False InvalidSpec" 20 \
  eval "[[ \$(sq nowhere '.status.conditions[] | select(.type == \"Ready\") | .reason') == InvalidSpec ]]"
msg="$(sq nowhere '.status.conditions[] | select(.type == "Ready") | .message')"
[[ "$msg" == *'unknown time zone "Mars/Olympus_Mons"'* ]] || fail "the message does not name the zone: $msg"
ok "$msg"

# ---------------------------------------------------------------- 2. Forbid and history
check "2. @every 10s with 15 s runs: the run due while one is active is skipped; one completed run kept"
kubectl delete chaosschedule minutely nowhere -n "$NS" >/dev/null || fail "cannot delete the first schedules"
schedule often '@every 10s' 15s
wait_for "a SkippedConcurrent event on often" 60 \
  eval "kubectl get events -n $NS --field-selector involvedObject.name=often,reason=SkippedConcurrent -o name | grep -q ."
wait_for "two runs completed and the older deleted (successfulHistoryLimit 1)" 90 \
  eval "[[ \$(sq often '.status.lastSuccessfulTime // empty') ]] &&
        [[ \$(runs_of often | jq '[.items[] | select(.status.phase == \"Completed\")] | length') == 1 ]] &&
        kubectl get events -n $NS --field-selector involvedObject.name=often,reason=Scheduled -o json | jq -e '[.items[].count] | add >= 3' >/dev/null"
overlap="$(runs_of often | jq '[.items[] | select(.status.phase == "Active" or .status.phase == "Injecting")] | length')"
((overlap <= 1)) || fail "$overlap runs active at once under Forbid"
ok "$(kubectl get events -n "$NS" --field-selector involvedObject.name=often -o jsonpath='{range .items[*]}{.reason}={.count} {end}')"

# ---------------------------------------------------------------- 3. suspend
check "3. suspend: nothing starts; resuming does not catch up"
kubectl patch chaosschedule often -n "$NS" --type merge -p '{"spec":{"suspend":true}}' >/dev/null
wait_for "Ready reason Suspended and no run active" 60 \
  eval "[[ \$(sq often '.status.conditions[] | select(.type == \"Ready\") | .reason') == Suspended && \$(sq often '.status.active | length') == 0 ]]"
before="$(runs_of often | jq -r '[.items[].metadata.name] | sort | join(",")')"
last="$(sq often .status.lastScheduleTime)"
sleep 25 # two and a half intervals
after="$(runs_of often | jq -r '[.items[].metadata.name] | sort | join(",")')"
[[ "$(sq often .status.lastScheduleTime)" == "$last" ]] || fail "a run was scheduled while suspended"
# (history may delete older runs meanwhile; no new name may appear)
new="$(comm -13 <(tr ',' '\n' <<<"$before") <(tr ',' '\n' <<<"$after") | grep -c . || true)"
[[ "$new" == 0 ]] || fail "runs created while suspended: before [$before], after [$after]"
resumed_at=$(date +%s)
kubectl patch chaosschedule often -n "$NS" --type merge -p '{"spec":{"suspend":false}}' >/dev/null
wait_for "a nextScheduleTime after resuming" 20 \
  eval "[[ \$(sq often '.status.nextScheduleTime // empty') && \$(sq often .status.observedGeneration) == \$(sq often .metadata.generation) ]]"
nxt="$(sq often .status.nextScheduleTime)"
(($(epoch "$nxt") >= resumed_at + 9)) || fail "resumed at $(date -u -d "@$resumed_at" +%FT%TZ), next run $nxt: it caught up"
sleep 2
[[ "$(sq often .status.lastScheduleTime)" == "$last" ]] || fail "resuming started a run at once"
ok "25 s suspended: no run; resumed: next run $nxt, none at once"
echo "[$TEST_NAME] PASS"
