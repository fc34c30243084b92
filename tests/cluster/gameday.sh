#!/usr/bin/env bash
# Issue 15: scripts/gameday runs manifests/gameday/plan.yaml (LockTable, the in-app leak of
# abandoned exports, CredentialRotation, DatabaseDown stopped and hung, NetworkPartition) against the demo stack's api and a
# DiagnosisDriven Remediation, one fault after another, and writes its report. Every row
# must be right: the expected diagnosis, healed (or handed to a person) as expected,
# nothing left behind. The report is printed into the test's log. GAMEDAY_RUNS=N runs the
# plan N times (bench/gameday.sh: the medians per fault).
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
stack_up gameday
start_controller

check "scripts/gameday: six faults, each diagnosed right, healed or handed to a person as expected, nothing left behind"
# The loop breaker would count the next fault healed within 5 minutes as a relapse of the
# last: a game day's faults are separate incidents.
apply_remediation DiagnosisDriven '[TerminateBlockingSessions, RestartDeployment, RestartDatabase, IncreasePoolSize]' \
  '{cooldown: 2s, maxActionsPerHour: 20, loopBreaker: {relapseWindow: 1s}}'
wait_watching
start=$SECONDS
runs="${GAMEDAY_RUNS:-1}"
report_url="https://ci.example/gameday/$NS/report.md"
"$REPO_DIR/scripts/gameday" --namespace "$NS" --remediation "$REM" --runs "$runs" --out "$WORK/gameday" \
  --report-url "$report_url" ||
  fail "the game day found a fault not met as expected (report above; $WORK/gameday/report.json)"
rows="$(jq length "$WORK/gameday/report.json")"
[[ "$rows" == $((6 * runs)) ]] || fail "the report has $rows rows, expected $((6 * runs))"
# The hung database was healed by restarting it, and the api was never restarted into it.
jq -e '[.[] | select(.plan == "database-hung") | .actions == ["RestartDatabase/Verified"]] | all' \
  "$WORK/gameday/report.json" >/dev/null ||
  fail "database-hung was not healed by RestartDatabase alone: $(jq -c '.[] | select(.plan == "database-hung") | .actions' "$WORK/gameday/report.json")"
jq -e 'all(.[]; .ok and .left_behind == 0 and .incident != null)' "$WORK/gameday/report.json" >/dev/null ||
  fail "a row is not right: $(jq -c '.[] | select(.ok | not)' "$WORK/gameday/report.json")"
grep -q '^| run | fault |' "$WORK/gameday/report.md" || fail "report.md has no table"
# The timeline links the report: each incident (current or in history) of a game-day
# experiment carries the report's address with the experiment's anchor.
# (The timeline keeps the current incident and the last 10: with more runs, the newest.)
read -r total linked < <(rem_json | jq -r --arg u "$report_url" '[(.status.incident // empty), (.status.history // [])[]
  | select(.chaosExperiment != null)] | "\(length) \([.[] | select((.chaosReport // "") == ($u + "#" + (.chaosExperiment | split("/")[1])))] | length)"')
kept=$((rows < 11 ? rows : 11))
((total >= kept && linked == total)) ||
  fail "$linked of the $total game-day incidents in the timeline link the report ($report_url#<experiment>); expected all, and at least $kept"
grep -q '<a id="lock-table-r1"></a>' "$WORK/gameday/report.md" || fail "report.md has no anchor for lock-table-r1"
ok "$rows of $rows as expected in $((SECONDS - start))s, each incident linking the report; report in $WORK/gameday"
