#!/usr/bin/env bash
# Issue 12: PoolGuard heals an application it did not write. examples/apps/fastapi (the
# reference design's service: FastAPI + SQLAlchemy, pool 5/0/3/pre-ping, its /health and
# its DB_ERROR logs, no Prometheus metrics, a database role of its own) on the local
# cluster beside the demo's PostgreSQL, with steady traffic; its Remediation and LockTable
# experiment exactly as examples/apps/fastapi/poolguard.yaml writes them. Expected:
# the shop's sessions found by its role, detection from what PostgreSQL shows of them,
# LockContention with High confidence, TerminateBlockingSessions verified, no restart.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
APP="$REPO_DIR/examples/apps/fastapi"
REM=shop
LOAD_PIDS=()

use_test_cluster jq curl psql
kubectl get node localnode >/dev/null 2>&1 ||
  fail "no Node 'localnode': the node agent is not running (see docs/localnode.md)"
[[ -x "$CONTROLLER_BIN" ]] || fail "$CONTROLLER_BIN is missing: build it (scripts/build)"
stop_load() {
  local pid
  for pid in "${LOAD_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  LOAD_PIDS=()
}
trap 'rc=$?; set +e; stop_load; (exit $rc); remediation_cleanup' EXIT INT TERM

check "the FastAPI example's dependencies (PyPI) installed"
start=$SECONDS
venv="$("$APP/install")" || fail "examples/apps/fastapi/install failed"
ok "$venv in $((SECONDS - start))s"

NS="apps-fastapi-$(date +%s)-$RANDOM"
check "the demo's PostgreSQL in namespace $NS, with the shop's role, database and schema"
kubectl apply -f "$REPO_DIR/crds/" >/dev/null || fail "kubectl apply -f crds/ failed"
kubectl create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"
# Experiments run only in namespaces that opt in (as the demo's does).
kubectl label namespace "$NS" poolguard.dev/chaos=enabled >/dev/null || fail "cannot label namespace $NS"
kubectl kustomize "$OVERLAY" | sed "s/poolguard-demo/$NS/g" >"$WORK/stack.yaml" ||
  fail "kubectl kustomize $OVERLAY failed"
kubectl apply -n "$NS" -l app.kubernetes.io/name=db -f "$WORK/stack.yaml" >/dev/null ||
  fail "cannot apply the database"
wait_for "db Ready" 120 pods_ready db 1
db_ip="$(jp pod/db-0 '{.status.podIP}' -n "$NS")"
admin_password="$(kubectl get secret db-credentials -n "$NS" -o jsonpath='{.data.password}' | base64 -d)"
wait_for "PostgreSQL at $db_ip to accept logins" 60 \
  eval "PGPASSWORD='$admin_password' psql -h '$db_ip' -U app -d app -Atqc 'SELECT 1' >/dev/null 2>&1"
PGPASSWORD="$admin_password" psql -h "$db_ip" -U app -d app -v ON_ERROR_STOP=1 -q -f "$APP/setup.sql" ||
  fail "setup.sql failed"
PGPASSWORD=shop-password psql -h "$db_ip" -U shop -d shop -v ON_ERROR_STOP=1 -q -f "$APP/schema.sql" ||
  fail "schema.sql failed"
ok "role shop, database shop, table items"

check "the shop (2 replicas) Ready and serving /items, with traffic"
kubectl apply -n "$NS" -f "$APP/kubernetes.yaml" >/dev/null || fail "cannot apply kubernetes.yaml"
shop_ips() { kubectl get pods -n "$NS" -l app.kubernetes.io/name=shop -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}'; }
shop_serves() {
  pods_ready shop 2 || return 1
  local ip
  for ip in $(shop_ips); do
    curl -fsS --max-time 3 "http://$ip:8000/items?limit=1" | grep -q '"id"' || return 1
    curl -fsS --max-time 3 "http://$ip:8000/health" | grep -q '"status":"ok"' || return 1
  done
}
wait_for "both shop pods Ready, /items and /health ok" 180 shop_serves
# Steady traffic, more than a pool holds, as users would send: 8 clients per pod (pool 5),
# one request each 0.2 s.
for ip in $(shop_ips); do
  for _ in 1 2 3 4 5 6 7 8; do
    (while true; do
      curl -s -o /dev/null --max-time 10 "http://$ip:8000/items?limit=5" || true
      sleep 0.2
    done) >/dev/null 2>&1 &
    LOAD_PIDS+=($!)
  done
done
ok "serving at $(shop_ips | paste -sd' ')"

# The example's two objects, as a user applies them: the Remediation first, the
# experiment once the shop is seen healthy.
awk 'BEGIN{RS="---\n"} /kind: Remediation/' "$APP/poolguard.yaml" >"$WORK/remediation.yaml"
awk 'BEGIN{RS="---\n"} /kind: ChaosExperiment/' "$APP/poolguard.yaml" >"$WORK/chaos.yaml"
start_controller
check "Remediation shop Watching; its sessions found by the Secret's role"
kubectl apply -n "$NS" -f "$WORK/remediation.yaml" >/dev/null || fail "cannot apply the Remediation"
wait_watching
wait_rem "status.sessions naming role shop with the shop's sessions" 30 \
  '.status.sessions.matchedBy == "role \"shop\" or a client address of 2 pods" and .status.sessions.target >= 2'
ok "status.sessions: $(rq '.status.sessions | tojson')"

check "LockTable on the shop's items: detected, LockContention (High), the holder terminated, no restart"
before="$(jp deployment/shop '{.metadata.generation}' -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
kubectl apply -n "$NS" -f "$WORK/chaos.yaml" >/dev/null || fail "cannot apply the ChaosExperiment"
wait_chaos_active shop-lock-items
wait_rem "an incident linked to shop-lock-items" 30 ".status.incident.chaosExperiment == \"$NS/shop-lock-items\""
wait_rem "the incident Resolved" 60 '.status.incident.outcome == "Resolved"'
rem_is '.status.incident.diagnosis.conclusion == "LockContention" and .status.incident.diagnosis.confidence == "High"' ||
  fail "diagnosis: $(rq '.status.incident.diagnosis | {conclusion, confidence, summary, checks}')"
rem_is '[.status.incident.actions[] | {name, result}] == [{name: "TerminateBlockingSessions", result: "Verified"}]' ||
  fail "actions: $(rq '[.status.incident.actions[] | {name, rung, result, verification}]')"
rem_is '.status.incident.signals.failing | index("dbSessions") != null' ||
  fail "dbSessions was not among the failing signals: $(rq '.status.incident.signals')"
after="$(jp deployment/shop '{.metadata.generation}' -n "$NS")/$(jp statefulset/db '{.metadata.generation}' -n "$NS")"
[[ "$after" == "$before" ]] || fail "a workload changed (deployment/statefulset generations $before -> $after)"
wait_for "the experiment to end (its session terminated)" 60 \
  eval "[[ \$(chaos_phase shop-lock-items) == Completed ]]"
ok "$(incident_summary)"
ok "pool check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "PoolTimeouts") | .evidence')"
ok "lock check: $(rq '.status.incident.diagnosis.checks[] | select(.name == "BlockingSessions") | .evidence')"
shop_serves || fail "the shop does not serve after the fix"
ok "generations (deployment/statefulset) $after unchanged; the shop serves"

echo "[$TEST_NAME] PASS"
