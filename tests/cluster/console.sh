#!/usr/bin/env bash
# Issue 14: the control API (the reference design's /break/db_pool and /action/*) with
# Kubernetes identities, on the demo stack with a real API server, PostgreSQL and
# Prometheus. poolguard-console runs as a host process that knows only the API server's
# address and CA; each call carries a ServiceAccount token made by `kubectl create token`:
#   operator  bound to poolguard-console-operator (the chart's ClusterRole) in the stack's
#             namespace
#   outsider  bound to the same ClusterRole in another namespace only
# Checked: 401 without a token; 400 naming the field for bad bodies; the outsider sees
# nothing of the stack's namespace and gets 403 on every write there; the operator starts
# a LockTable experiment, approves the pending TerminateBlockingSessions, and the
# controller acts once, recording who approved in status and an Event; a rejection ends
# the next incident with NeedsHuman; an abort rolls an experiment back, naming who.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=console_lib.sh
source "$TESTS_CLUSTER_DIR/console_lib.sh"
console_up console

check "the operator's role (the chart's poolguard-console-operator, bound in $NS): what the console needs, nothing more"
for want_args in "yes patch remediations.poolguard.dev" "yes create chaosexperiments.poolguard.dev" \
  "yes watch remediations.poolguard.dev" "yes list events" "no delete remediations.poolguard.dev" \
  "no get secrets" "no patch deployments.apps" "no update remediations.poolguard.dev --subresource=status"; do
  read -ra a <<<"$want_args"
  got="$(kubectl auth can-i --as="$OPERATOR" "${a[@]:1}" -n "$NS" 2>/dev/null || true)"
  [[ "$got" == "${a[0]}" ]] || fail "kubectl auth can-i --as=$OPERATOR ${a[*]:1} -n $NS: '$got', want '${a[0]}'"
done
[[ "$(kubectl auth can-i --as="$OPERATOR" list remediations.poolguard.dev -n "$OTHER_NS" 2>/dev/null || true)" == no ]] ||
  fail "the operator may list Remediations in $OTHER_NS"
ok "patch/create/watch/events yes; delete, secrets, deployments, status no; nothing in $OTHER_NS"

check "sign-in: no token is 401, a token the API server refuses is 401, whoami names the ServiceAccount"
expect 401 '.error.code == "Unauthorized"' "" GET "/api/remediations?namespace=$NS"
expect 401 '.error.code == "Unauthorized"' "not-a-token" GET /api/whoami
expect 200 ".username == \"$OPERATOR\"" "$OPERATOR_TOKEN" GET /api/whoami
ok "401, 401, $OPERATOR"

check "bad bodies: 400 naming the field, before anything is created"
expect 400 '.error.field == "connections"' "$OPERATOR_TOKEN" POST /break/db_pool "{\"namespace\":\"$NS\",\"connections\":\"many\"}"
expect 400 '.error.field == "table"' "$OPERATOR_TOKEN" POST /break/db_pool "{\"namespace\":\"$NS\",\"mode\":\"LockTable\"}"
expect 400 '.error.field == "body"' "$OPERATOR_TOKEN" POST /break/db_pool '{"namespace":'
expect 400 '.error.field == "remediation"' "$OPERATOR_TOKEN" POST /action/approve "{\"namespace\":\"$NS\"}"
[[ "$(kubectl get chaosexperiments -n "$NS" -o name | count_lines)" == 0 ]] || fail "a bad request created an experiment"
ok "connections, table, body, remediation named; nothing created"

check "the outsider (rights in $OTHER_NS only) sees nothing of $NS and gets 403 on a write there"
REM_EXTRA_SPEC="  notifications: {webhook: {url: \"$HOOK_URL/alertmanager\", format: Alertmanager}}"
apply_remediation DiagnosisDriven '[TerminateBlockingSessions, RestartDeployment]' \
  '{cooldown: 2s, maxActionsPerHour: 10, requireApproval: [TerminateBlockingSessions]}'
wait_watching
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" GET "/api/remediations?namespace=$NS"
expect 200 '.items == []' "$OUTSIDER_TOKEN" GET "/api/remediations?namespace=$OTHER_NS"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" GET "/api/remediations"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" POST /break/db_pool "{\"namespace\":\"$NS\"}"
expect 200 '.items | length == 1' "$OPERATOR_TOKEN" GET "/api/remediations?namespace=$NS"
ok "403 on list and write in $NS, an empty list in $OTHER_NS; the operator sees 1 Remediation"

check "the target chart (GET /api/series): error ratio and pool saturation from the Remediation's Prometheus, for who may read it"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" GET "/api/series?namespace=$NS&name=$REM"
expect 200 '(.poolSaturation | length > 0) and (.errorRatio | type == "array") and ([.poolSaturation[][1]] | all(. >= 0 and . <= 1))' \
  "$OPERATOR_TOKEN" GET "/api/series?namespace=$NS&name=$REM&minutes=5"
ok "$(jq -c '{prometheus, step, errorRatio: (.errorRatio | length), poolSaturation: (.poolSaturation | length), last: .poolSaturation[-1]}' <<<"$BODY")"

check "POST /break/db_pool starts a LockTable experiment as the operator; the controller injects it"
expect 201 ".requestedBy == \"$OPERATOR\" and (.name | startswith(\"db-pool-\"))" "$OPERATOR_TOKEN" POST /break/db_pool \
  "{\"namespace\":\"$NS\",\"mode\":\"LockTable\",\"table\":\"items\",\"connections\":1,\"duration\":\"3m\"}"
LOCK="$(jq -r .name <<<"$BODY")"
wait_chaos_active "$LOCK"
[[ "$(kubectl get chaosexperiment "$LOCK" -n "$NS" -o jsonpath='{.metadata.annotations.poolguard\.dev/requested-by}')" == "$OPERATOR" ]] ||
  fail "experiment $LOCK does not name who asked"
expect 200 "[.items[].metadata.name] == [\"$LOCK\"]" "$OPERATOR_TOKEN" GET "/break?namespace=$NS"
ok "$LOCK Active, requested-by $OPERATOR, listed by GET /break"

check "the pending TerminateBlockingSessions: the outsider gets 403, a stale incident 409, the operator's approval is acted on once"
wait_rem "AwaitingApproval for TerminateBlockingSessions" 60 '.status.phase == "AwaitingApproval"'
INCIDENT="$(rq .status.incident.id)"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" POST /action/approve "{\"namespace\":\"$NS\",\"remediation\":\"$REM\"}"
expect 409 '.error.field == "incident"' "$OPERATOR_TOKEN" POST /action/approve "{\"namespace\":\"$NS\",\"remediation\":\"$REM\",\"incident\":\"19990101T000000Z\"}"
rem_is '.status.phase == "AwaitingApproval"' || fail "a refused approval moved the Remediation: $(rq .status.phase)"
expect 200 ".decidedBy == \"$OPERATOR\" and .incident == \"$INCIDENT\"" "$OPERATOR_TOKEN" POST /action/approve \
  "{\"namespace\":\"$NS\",\"remediation\":\"$REM\",\"incident\":\"$INCIDENT\"}"
wait_rem "the incident Resolved" 90 '.status.incident.outcome == "Resolved"'
rem_is "[.status.incident.actions[] | {name, result, approvedBy}] == [{name: \"TerminateBlockingSessions\", result: \"Verified\", approvedBy: \"$OPERATOR\"}]" ||
  fail "actions: $(rq '[.status.incident.actions[] | {name, result, approvedBy}]')"
kubectl get events -n "$NS" --field-selector "involvedObject.name=$REM,reason=Approved" -o json |
  jq -e --arg m "TerminateBlockingSessions approved by $OPERATOR" '[.items[] | select(.message == $m)] | length == 1' >/dev/null ||
  fail "no Approved Event naming $OPERATOR: $(kubectl get events -n "$NS" --field-selector "involvedObject.name=$REM" -o custom-columns=R:.reason,M:.message --no-headers | tail -n 8)"
ok "incident $INCIDENT: $(incident_summary); approvedBy $OPERATOR in status and the Approved Event"

check "a rejection: the next incident ends NeedsHuman (Rejected), naming who, with no action"
wait_for "experiment $LOCK over (its session severed)" 60 eval "[[ \$(chaos_phase $LOCK) == Completed ]]"
expect 201 '.name == "lock-reject"' "$OPERATOR_TOKEN" POST /break/db_pool \
  "{\"namespace\":\"$NS\",\"mode\":\"LockTable\",\"table\":\"items\",\"connections\":1,\"duration\":\"3m\",\"name\":\"lock-reject\"}"
wait_chaos_active lock-reject
wait_rem "a new incident AwaitingApproval" 90 ".status.phase == \"AwaitingApproval\" and .status.incident.id != \"$INCIDENT\""
I2="$(rq .status.incident.id)"
expect 200 '.status == "rejected"' "$OPERATOR_TOKEN" POST /action/reject "{\"namespace\":\"$NS\",\"remediation\":\"$REM\"}"
wait_rem "Exhausted with reason Rejected" 30 \
  '.status.phase == "Exhausted" and ([.status.conditions[] | select(.type == "NeedsHuman" and .reason == "Rejected")] | length == 1)'
rem_is "(.status.message | contains(\"rejected by $OPERATOR\")) and ([.status.incident.actions[]?] | length == 0)" ||
  fail "the rejected incident: $(rq '{message: .status.message, actions: .status.incident.actions}')"
ok "$(rq .status.message)"

check "POST /break/abort: the outsider gets 403; the operator's abort rolls the experiment back, naming who"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" POST /break/abort "{\"namespace\":\"$NS\",\"name\":\"lock-reject\"}"
expect 200 ".abortedBy == \"$OPERATOR\"" "$OPERATOR_TOKEN" POST /break/abort "{\"namespace\":\"$NS\",\"name\":\"lock-reject\"}"
wait_for "lock-reject Aborted" 30 eval "[[ \$(chaos_phase lock-reject) == Aborted ]]"
msg="$(kubectl get chaosexperiment lock-reject -n "$NS" -o jsonpath='{.status.message}')"
[[ "$msg" == *"by $OPERATOR"* ]] || fail "the Aborted message does not name who: $msg"
db_ip="$(kubectl get pod db-0 -n "$NS" -o jsonpath='{.status.podIP}')"
db_password="$(kubectl get secret db-credentials -n "$NS" -o jsonpath='{.data.password}' | base64 -d)"
held="$(PGPASSWORD="$db_password" psql -h "$db_ip" -U app -d app -Atqc \
  "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'poolguard-chaos/$NS/%'")" ||
  fail "cannot read pg_stat_activity"
[[ "$held" == 0 ]] || fail "chaos sessions still held after the abort: $held"
ok "$msg; 0 chaos sessions in pg_stat_activity"

check "an experiment the controller refuses is Rejected, and that is notified too"
expect 201 '.name == "too-big"' "$OPERATOR_TOKEN" POST /break/db_pool \
  "{\"namespace\":\"$NS\",\"connections\":5000,\"name\":\"too-big\"}"
wait_for "too-big Rejected" 30 eval "[[ \$(chaos_phase too-big) == Rejected ]]"
ok "$(kubectl get chaosexperiment too-big -n "$NS" -o jsonpath='{.status.reason}: {.status.message}')"

check "notifications: each once per webhook (after one refused POST each), with the incident's fields and a link to the console"
slack_want="[\"AwaitingApproval $INCIDENT\",\"Resolved $INCIDENT\",\"AwaitingApproval $I2\",\"NeedsHuman $I2\",\"Rejected too-big\"]"
# Slack: what each message says, as "<event> <incident or experiment>".
slack_events() {
  hooks /slack '[.[] | .text | if test("needs approval") then "AwaitingApproval " + capture("incident (?<i>[0-9TZ]+)").i
    elif test("resolved incident") then "Resolved " + capture("incident (?<i>[0-9TZ]+)").i
    elif test("needs a human") then "NeedsHuman " + capture("incident (?<i>[0-9TZ]+)").i
    elif test("was rejected") then "Rejected " + capture("/(?<n>[a-z0-9-]+) was rejected").n
    else . end]'
}
same_set() { [[ "$("$1" | jq -c sort)" == "$(jq -c sort <<<"$2")" ]]; } # FUNCTION JSON_ARRAY
wait_for "the Slack webhook to have the 5 notifications" 60 same_set slack_events "$slack_want"
hooks /slack "all(.text | contains(\"$URL/?select=$NS/\"))" | grep -qx true || fail "a Slack message without the console link: $(hooks /slack '[.[].text]')"
hooks /slack '.[0].blocks[0].text.text' | grep -q 'diagnosis LockContention' || fail "the first Slack message lacks the diagnosis: $(hooks /slack '.[0]')"
am_want="[\"PoolGuardAwaitingApproval $INCIDENT firing\",\"PoolGuardResolved $INCIDENT resolved\",\"PoolGuardAwaitingApproval $I2 firing\",\"PoolGuardNeedsHuman $I2 firing\"]"
am_events() { hooks /alertmanager '[.[] | .alerts[0] | "\(.labels.alertname) \(.labels.incident) \(.status)"]'; }
wait_for "the Remediation's own Alertmanager webhook to have its 4" 30 same_set am_events "$am_want"
hooks /alertmanager "all(.version == \"4\" and .alerts[0].labels.namespace == \"$NS\" and .alerts[0].labels.remediation == \"$REM\")" | grep -qx true ||
  fail "Alertmanager bodies: $(hooks /alertmanager '.')"
refused="$(jq -s '[.[] | select(.status != 200)] | length' "$HOOKS")"
[[ "$refused" == 2 ]] || fail "the receiver refused $refused POSTs, want 2 (the first on each path)"
ok "Slack: $(slack_events | jq -c .); Alertmanager: $(am_events | jq -c .); 2 first attempts refused and retried"

check "manual actions (/action/restart-db, /action/restart-api): refused by the safety rules with the reason, or acted on once with verification"
expect 403 '.error.code == "Forbidden"' "$OUTSIDER_TOKEN" POST /action/restart-api "{\"namespace\":\"$NS\",\"remediation\":\"$REM\"}"
expect 202 '.action == "RestartDatabase"' "$OPERATOR_TOKEN" POST /action/restart-db "{\"namespace\":\"$NS\",\"remediation\":\"$REM\"}"
req="$(jq -r .requestId <<<"$BODY")"
wait_rem "request $req refused" 30 ".status.manualRequest.id == \"$req\" and .status.manualRequest.state == \"Refused\""
rem_is '.status.manualRequest.message | contains("RestartDatabase is not in spec.actions")' ||
  fail "the refusal: $(rq .status.manualRequest)"
generation() { kubectl get deployment api -n "$NS" -o jsonpath='{.metadata.generation}'; }
before="$(generation)"
expect 202 ".action == \"RestartDeployment\" and .requestedBy == \"$OPERATOR\"" "$OPERATOR_TOKEN" POST /action/restart-api \
  "{\"namespace\":\"$NS\",\"remediation\":\"$REM\"}"
req="$(jq -r .requestId <<<"$BODY")"
wait_rem "request $req accepted" 30 ".status.manualRequest.id == \"$req\" and .status.manualRequest.state == \"Accepted\""
wait_rem "the manual RestartDeployment verified" 120 \
  "[.status.incident.actions[]? | {name, result, requestedBy}] == [{name: \"RestartDeployment\", result: \"Verified\", requestedBy: \"$OPERATOR\"}]"
wait_rem "its incident Resolved" 30 '.status.phase == "Resolved"'
after="$(generation)"
((after == before + 1)) || fail "Deployment api generation $before -> $after (want one restart)"
sleep 5 # the annotation stays: the request must not be taken again
[[ "$(generation)" == "$after" ]] || fail "the manual restart was repeated: generation $after -> $(generation)"
ok "restart-db: refused (not in spec.actions); restart-api: $(incident_summary); generation $before -> $after, not repeated"
