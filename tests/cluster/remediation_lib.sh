# shellcheck shell=bash
# Shared by the remediation_*.sh end-to-end tests (issue 7): the demo stack of
# manifests/overlays/local (api = poolguard-target, db = PostgreSQL, Prometheus, loadgen)
# in a namespace of the test's own, poolguard-controller as a host process scoped to that
# namespace, and helpers to apply Remediations and ChaosExperiments and read their status.
# Source lib.sh first. Needs POOLGUARD_TEST_KUBECONFIG (scripts/test exports it) for a
# local cluster with the node agent, and the controller built (POOLGUARD_BUILD_DIR,
# default <repo>/build).
#
# On exit: the ChaosExperiments are deleted while the controller still runs (their
# finalizer rolls the fault back), the controller is killed, the namespace and the
# renamed Prometheus ClusterRole/ClusterRoleBinding are deleted. On failure the
# Remediation's status, the experiments, the pods and the controller log tail are printed.

BUILD_DIR="${POOLGUARD_BUILD_DIR:-$REPO_DIR/build}"
CONTROLLER_BIN="$BUILD_DIR/controller/poolguard-controller"
OVERLAY="$REPO_DIR/manifests/overlays/local"
REM=api # the Remediation's name in every scenario
WORK="$(mktemp -d "/tmp/poolguard-$TEST_NAME.XXXXXX")"
CONTROLLER_LOG="$WORK/controller.log"
CONTROLLER_PID=""
CONTROLLER_ARGS=() # more flags for start_controller
REM_EXTRA_SPEC=""  # more spec fields (YAML, two-space indented) for apply_remediation
NS=""
PROM_IP=""

# ---------------------------------------------------------------- status and dumps
# shellcheck source=../../scripts/lib/status.sh
source "$REPO_DIR/scripts/lib/status.sh"
rem_json() { kubectl get remediation "$REM" -n "$NS" -o json; }
# rq JQ: a jq expression over the Remediation (raw output), with the definitions of
# scripts/lib/status.jq (incident, incidents, action_results, ...).
rq() { rem_json | status_jq -r "$1"; }
# rem_is JQ: succeeds when the jq expression is true for the Remediation (as rq).
rem_is() { rem_json | status_jq -e "$1" >/dev/null; }
# wait_rem DESCRIPTION TIMEOUT JQ: waits until the Remediation satisfies JQ.
wait_rem() { wait_for "remediation $REM: $1" "$2" rem_is "$3"; }

dump_state() {
  echo "======== [$TEST_NAME] state of namespace $NS at failure ========"
  echo "--- remediation $REM status:"
  kubectl get remediation "$REM" -n "$NS" -o yaml 2>&1 | sed -n '/^status:/,$p' | head -n 200
  echo "--- chaosschedules:"
  kubectl get chaosschedules -n "$NS" -o wide 2>&1
  echo "--- chaosexperiments:"
  kubectl get chaosexperiments -n "$NS" -o custom-columns=NAME:.metadata.name,PHASE:.status.phase,REASON:.status.reason,MESSAGE:.status.message 2>&1
  echo "--- pods:"
  kubectl get pods -n "$NS" -o wide 2>&1
  echo "--- events (last 25):"
  kubectl get events -n "$NS" --sort-by=.lastTimestamp 2>&1 | tail -n 25
  echo "--- controller log (last 60 lines of $CONTROLLER_LOG):"
  tail -n 60 "$CONTROLLER_LOG" 2>&1
  echo "======== end of state ========"
}

remediation_cleanup() {
  local rc=${1:-$?} # (a caller's own cleanup passes the status it saw)
  set +e
  ((rc == 0)) || [[ -z "$NS" ]] || dump_state >&2
  if [[ -n "$NS" ]]; then
    kubectl delete remediations --all -n "$NS" --wait=false >/dev/null 2>&1
    # Schedules first: a schedule left running would create experiments after this.
    kubectl delete chaosschedules --all -n "$NS" --wait=false >/dev/null 2>&1
    if [[ -n "$CONTROLLER_PID" ]] && kill -0 "$CONTROLLER_PID" 2>/dev/null; then
      kubectl delete chaosexperiments --all -n "$NS" --timeout=30s >/dev/null 2>&1
    fi
  fi
  stop_controller KILL
  if [[ -n "$NS" ]]; then
    # Without a controller the rollback finalizer would hold the namespace forever.
    local ce
    for ce in $(kubectl get chaosexperiments -n "$NS" -o name 2>/dev/null); do
      kubectl patch -n "$NS" "$ce" --type merge -p '{"metadata":{"finalizers":null}}' >/dev/null 2>&1
    done
    kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1
    kubectl delete clusterrolebinding,clusterrole "$NS-prometheus" --ignore-not-found >/dev/null 2>&1
  fi
  if ((rc == 0)); then rm -rf "$WORK"; else echo "[$TEST_NAME] logs kept in $WORK" >&2; fi
  exit "$rc"
}

# ---------------------------------------------------------------- the stack
pods_ready() { # app count: exactly COUNT pods of the app, all Ready, none terminating
  local st
  st="$(kubectl get pods -n "$NS" -l "app.kubernetes.io/name=$1" \
    -o jsonpath='{range .items[*]}{.metadata.deletionTimestamp}/{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')"
  [[ "$(grep -c . <<<"$st")" -eq "$2" ]] && ! grep -qvx '/True' <<<"$st"
}
api_ips() { kubectl get pods -n "$NS" -l app.kubernetes.io/name=api -o jsonpath='{range .items[*]}{.status.podIP}{"\n"}{end}'; }
api_healthy() { # every api pod answers /health 200 with the database ok
  pods_ready api "${API_REPLICAS:-2}" || return 1
  local ip
  for ip in $(api_ips); do
    curl -fsS --max-time 3 "http://$ip:8000/health" | grep '"database":"ok"' >/dev/null || return 1
    # and its pool not queueing (a fresh pod briefly is, while it opens its connections)
    curl -fsS --max-time 3 "http://$ip:8000/metrics" | grep -x 'db_pool_waiters 0' >/dev/null || return 1
  done
}
stack_healthy() { pods_ready db 1 && pods_ready loadgen 1 && api_healthy; }

# Prometheus's view over the controller's look-back range (30 s): no 5xx, no pool
# timeouts, p99 under the detection threshold (2 s). A Remediation created while the
# range still holds an earlier outage opens an incident about it (a Ladder one restarts
# the api for the p99 of requests that waited on the last scenario's lock), so each
# scenario waits for this before it begins.
promql() {
  curl -fsS --max-time 5 "http://$PROM_IP:9090/api/v1/query" --data-urlencode "query=$1" |
    jq -r '.data.result[0].value[1] // "none"'
}
prom_quiet() {
  local sel="namespace=\"$NS\",pod=~\"api-[a-z0-9]+-[a-z0-9]+\"" errs tos p99
  errs="$(promql "sum(increase(http_requests_total{$sel,code=~\"5..\"}[30s]))")" || return 1
  tos="$(promql "sum(increase(db_pool_timeouts_total{$sel}[30s]))")" || return 1
  p99="$(promql "histogram_quantile(0.99, sum by (le) (rate(http_request_duration_seconds_bucket{$sel,route!=\"/metrics\",route!=\"/livez\"}[30s])))")" || return 1
  [[ "$errs" == none || "$errs" == 0 ]] && [[ "$tos" == none || "$tos" == 0 ]] || return 1
  [[ "$p99" == none || "$p99" == NaN ]] || awk -v v="$p99" 'BEGIN { exit !(v + 0 < 2) }'
}

# stack_up PREFIX: the overlay rendered into a new namespace PREFIX-<time>-<random>
# (cluster-scoped names poolguard-demo-* become $NS-*), all pods Ready, Prometheus
# scraping the api pods. Sets NS and PROM_IP.
stack_up() {
  use_test_cluster jq curl
  kubectl get node localnode >/dev/null 2>&1 ||
    fail "no Node 'localnode': the node agent is not running (see docs/localnode.md)"
  [[ -x "$CONTROLLER_BIN" ]] || fail "$CONTROLLER_BIN is missing: build it (scripts/build) or set POOLGUARD_BUILD_DIR"
  "$REPO_DIR/localnode/build-prometheus" >/dev/null || fail "localnode/build-prometheus failed"
  trap remediation_cleanup EXIT INT TERM
  kubectl apply -f "$REPO_DIR/crds/" >/dev/null || fail "kubectl apply -f crds/ failed"

  NS="$1-$(date +%s)-$RANDOM"
  check "the demo stack (manifests/overlays/local) in namespace $NS: api (2), db, prometheus, loadgen Ready"
  local start=$SECONDS
  kubectl kustomize "$OVERLAY" | sed "s/poolguard-demo/$NS/g" >"$WORK/stack.yaml" ||
    fail "kubectl kustomize $OVERLAY failed"
  kubectl apply -f "$WORK/stack.yaml" >/dev/null || fail "kubectl apply of the rendered stack failed"
  wait_for "api (2), db, prometheus and loadgen Ready and every api pod's /health ok" 180 \
    eval 'pods_ready prometheus 1 && stack_healthy'
  PROM_IP="$(kubectl get pods -n "$NS" -l app.kubernetes.io/name=prometheus -o jsonpath='{.items[0].status.podIP}')"
  [[ -n "$PROM_IP" ]] || fail "the prometheus pod has no IP"
  wait_for "Prometheus at $PROM_IP to have db_pool_size of both api pods" 90 \
    eval "[[ \$(curl -fsS --max-time 5 'http://$PROM_IP:9090/api/v1/query' --data-urlencode 'query=db_pool_size{namespace=\"$NS\"}' | jq '.data.result | length') -ge 2 ]]"
  ok "Ready in $((SECONDS - start))s; Prometheus at http://$PROM_IP:9090"
}

# ---------------------------------------------------------------- the controller
start_controller() {
  echo "==== controller start $(date -u +%FT%T.%3NZ)" >>"$CONTROLLER_LOG"
  "$CONTROLLER_BIN" --kubeconfig="$KUBECONFIG" --namespaces="$NS" --leader-elect=false \
    --metrics-bind-address=127.0.0.1:0 --health-probe-bind-address=0 \
    "${CONTROLLER_ARGS[@]}" >>"$CONTROLLER_LOG" 2>&1 &
  CONTROLLER_PID=$!
  # If this script dies without its EXIT trap (ctest's timeout kills it), take this
  # controller with it: nothing else would stop it.
  local pid=$CONTROLLER_PID
  (
    while kill -0 $$ 2>/dev/null; do sleep 1; done
    grep -q poolguard-controller "/proc/$pid/cmdline" 2>/dev/null && kill -KILL "$pid"
  ) >/dev/null 2>&1 </dev/null &
  sleep 0.2
  kill -0 "$CONTROLLER_PID" 2>/dev/null || fail "the controller exited at once: $(tail -n 20 "$CONTROLLER_LOG")"
}
stop_controller() { # SIGNAL (TERM or KILL)
  [[ -n "$CONTROLLER_PID" ]] || return 0
  kill "-${1:-TERM}" "$CONTROLLER_PID" 2>/dev/null || true
  wait "$CONTROLLER_PID" 2>/dev/null || true
  CONTROLLER_PID=""
}

# ---------------------------------------------------------------- resources
# apply_remediation STRATEGY ACTIONS [SAFETY] [VERIFICATION]: Remediation `api` with
# short windows (interval 1s, for 1s). ACTIONS is a YAML flow list; SAFETY and
# VERIFICATION are YAML flow maps replacing the defaults below.
apply_remediation() {
  local strategy="$1" actions="$2"
  local safety='{cooldown: 2s, maxActionsPerHour: 10}'
  local verification='{consecutiveHealthy: 3, window: 4s, timeout: 60s, testPath: "/items?limit=1"}'
  [[ -z "${3:-}" ]] || safety="$3"
  [[ -z "${4:-}" ]] || verification="$4"
  kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot apply the Remediation"
apiVersion: poolguard.dev/v1alpha1
kind: Remediation
metadata: {name: $REM}
spec:
  target: {deployment: api, service: api, port: 8000}
  database: {service: db, credentialsSecret: db-credentials, statefulSet: db}
  detection:
    interval: 1s
    for: 1s
    prometheus: {url: "http://$PROM_IP:9090"}
  strategy: $strategy
  actions: $actions
  increasePoolSize: {env: DB_POOL_SIZE, step: 5, max: 20}
  verification: $verification
  safety: $safety
$REM_EXTRA_SPEC
YAML
}

# A Remediation that watches a healthy target: phase Watching, no incident.
wait_watching() {
  wait_rem "phase Watching, the target seen Healthy, no incident" 60 \
    '.status.phase == "Watching" and (.status.incident == null) and
     ([.status.conditions[]? | select(.type == "Healthy" and .status == "True")] | length == 1)'
}

# chaos NAME FAULT_YAML [DURATION] [REINJECT]: a ChaosExperiment on the api. The default
# 5m outlasts any scenario's healing on a loaded machine (the Ladder's two rungs must end
# the lock, not its expiry); reset_stack deletes what is left.
chaos() {
  kubectl apply -n "$NS" -f - >/dev/null <<YAML || fail "cannot apply ChaosExperiment $1"
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: $1}
spec:
  target: {deployment: api, service: api, port: 8000}
  database: {service: db, credentialsSecret: db-credentials}
  fault: $2
  duration: ${3:-5m}
  reinject: ${4:-Never}
YAML
}
# shellcheck disable=SC2034  # the fault the remediation_*.sh tests inject
LOCK_TABLE='{type: ConnectionLeak, connectionLeak: {connections: 1, mode: LockTable, table: items}}'
chaos_phase() { kubectl get chaosexperiment "$1" -n "$NS" -o jsonpath='{.status.phase}'; }
wait_chaos_active() {
  wait_for "ChaosExperiment $1 Active" 60 eval "[[ \$(chaos_phase $1) == Active ]]"
}

# The state between scenarios: no Remediation, no experiment, every pod Ready, the api
# healthy and Prometheus's look-back range clear of the last outage.
reset_stack() {
  local start=$SECONDS
  kubectl delete remediations --all -n "$NS" --timeout=30s >/dev/null || fail "cannot delete the Remediations"
  kubectl delete chaosexperiments --all -n "$NS" --timeout=60s >/dev/null || fail "cannot delete the ChaosExperiments"
  # Fresh api pods: the node agent's pods/log ignores sinceSeconds (localnode/src/
  # kubelet_server.cc reads only tailLines and limitBytes), so the last outage's DB_ERROR
  # lines would read as current to a new Remediation forever (Detect keeps it Unknown).
  # Deleting the pods leaves the Deployment (generation, template) as it was.
  kubectl delete pods -n "$NS" -l app.kubernetes.io/name=api --wait=false >/dev/null || fail "cannot delete the api pods"
  wait_for "the stack healthy again (new api pods Ready)" 120 stack_healthy
  wait_for "Prometheus's 30s range clear of 5xx and pool timeouts" 90 prom_quiet
  note "reset in $((SECONDS - start))s"
}

# Generations and restart annotations of the api Deployment and the db StatefulSet.
workload_state() {
  printf 'deploy gen=%s restartedAt=%s env=%s; sts gen=%s restartedAt=%s' \
    "$(jp deployment/api '{.metadata.generation}' -n "$NS")" \
    "$(jp deployment/api '{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}' -n "$NS")" \
    "$(jp deployment/api '{.spec.template.spec.containers[0].env[?(@.name=="DB_POOL_SIZE")].value}' -n "$NS")" \
    "$(jp statefulset/db '{.metadata.generation}' -n "$NS")" \
    "$(jp statefulset/db '{.spec.template.metadata.annotations.kubectl\.kubernetes\.io/restartedAt}' -n "$NS")"
}

# The incident's figures for the log: detection and recovery seconds, the verdict.
incident_summary() { rq 'incident | figures'; }
