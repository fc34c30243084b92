#!/usr/bin/env bash
# Remediation detection and recovery (docs/benchmarks.md), issue 7's scenarios 1 and 2,
# each RUNS times on the demo stack (manifests/overlays/local: api, db, Prometheus,
# loadgen) with a LockTable ChaosExperiment:
#   ladder:    Ladder [RestartDeployment, RestartDatabase] — the api restart fails
#              verification (the lock holder stays), the database restart heals;
#   terminate: DiagnosisDriven — TerminateBlockingSessions heals, no restart.
# Per run, from the Remediation's own timeline (status.history[0]):
#   detection: the experiment's startedAt -> Degraded (incident.detectionSeconds);
#   recovery:  Degraded -> verified Resolved (incident.recoverySeconds), all rungs;
#   rung:      the healing rung's startedAt -> its verified finish.
# Prints each run, then median and p90 per scenario, against issue 7's floors
# (detection < 2 s median; recovery < 10 s for a restart rung, < 3 s for
# TerminateBlockingSessions). Asserts nothing.
#
#   bench/remediation.sh [RUNS]        default 5
#   BENCH_SCENARIOS="terminate"        only some scenarios (default: ladder terminate)
#   BENCH_KEEP=1                       keep the cluster, controller and the last run's objects
#
# Brings up its own local cluster in a temporary state dir (LOCALCLUSTER_AUTO_PORTS=1)
# and runs poolguard-controller from ${BUILD_DIR:-build} as a host process; tears it all
# down on exit. Detection settings: interval 500ms, for 500ms; verification: 2 healthy
# checks, window 1s; cooldown 0s (the ladder's second rung follows the first at once).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
# shellcheck source=../scripts/lib/status.sh
source "$ROOT/scripts/lib/status.sh"  # status_jq: jq with scripts/lib/status.jq
RUNS=${1:-5}
CTL=${POOLGUARD_CONTROLLER:-$ROOT/${BUILD_DIR:-build}/controller/poolguard-controller}
NS=poolguard-demo

die() { echo "bench/remediation.sh: $*" >&2; exit 1; }
log() { echo "[remediation-bench] $*" >&2; }
[ -x "$CTL" ] || die "no controller at $CTL (scripts/build, or set BUILD_DIR / POOLGUARD_CONTROLLER)"

WORK=$(mktemp -d /tmp/poolguard-remediation-bench-XXXXXX)
export LOCALCLUSTER_STATE_DIR=$WORK/cluster LOCALCLUSTER_AUTO_PORTS=1
CTL_PID=""
cleanup() {
  set +e
  if [ -n "${BENCH_KEEP:-}" ]; then
    log "kept (BENCH_KEEP): controller pid $CTL_PID, KUBECONFIG=$LOCALCLUSTER_STATE_DIR/kubeconfig, log $WORK/controller.log"
    return
  fi
  if [ -n "$CTL_PID" ]; then
    kill -TERM "$CTL_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTL_PID" 2>/dev/null
  fi
  "$ROOT/localcluster/down" --purge >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

"$ROOT/localnode/build-prometheus" >/dev/null
log "local cluster in $LOCALCLUSTER_STATE_DIR"
eval "$("$ROOT/localcluster/up" 2>"$WORK/up.log")" || { cat "$WORK/up.log" >&2; die "localcluster/up failed"; }
kubectl apply -f "$ROOT/crds/" >/dev/null
kubectl apply -k "$ROOT/manifests/overlays/local" >/dev/null
log "waiting for the demo stack"
kubectl wait -n $NS --for=condition=Available deploy --all --timeout=180s >/dev/null
kubectl rollout status -n $NS sts/db --timeout=180s >/dev/null
PROM=$(kubectl get pod -n $NS -l app.kubernetes.io/name=prometheus -o jsonpath='{.items[0].status.podIP}')

"$CTL" --namespaces=$NS --leader-elect=false --metrics-bind-address=0 --log-level="${BENCH_LOG_LEVEL:-info}" \
  --health-probe-bind-address=0 >"$WORK/controller.log" 2>&1 &
CTL_PID=$!

# The target healthy again: both api pods Ready and the db Ready.
wait_healthy() {
  for _ in $(seq 1 240); do
    if kubectl rollout status -n $NS deploy/api --timeout=1s >/dev/null 2>&1 &&
      kubectl rollout status -n $NS sts/db --timeout=1s >/dev/null 2>&1 &&
      [ "$(kubectl get deploy -n $NS api -o jsonpath='{.status.readyReplicas}')" = "2" ]; then
      return 0
    fi
    sleep 0.5
  done
  die "the demo stack did not become healthy"
}

remediation() { # name strategy actions
  cat <<EOF
apiVersion: poolguard.dev/v1alpha1
kind: Remediation
metadata: {name: $1}
spec:
  target: {deployment: api, service: api, port: 8000}
  database: {service: db, credentialsSecret: db-credentials, statefulSet: db}
  detection: {interval: 500ms, for: 500ms, prometheus: {url: "http://$PROM:9090"}}
  strategy: $2
  actions: $3
  verification: {consecutiveHealthy: 2, window: 1s, timeout: 60s, testPath: "/items?limit=1"}
  safety: {maxActionsPerHour: 100, cooldown: 0s}
EOF
}

chaos() { # name
  cat <<EOF
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: $1}
spec:
  target: {deployment: api}
  database: {service: db, credentialsSecret: db-credentials}
  fault:
    type: ConnectionLeak
    connectionLeak: {connections: 1, mode: LockTable, table: items}
  duration: 120s
EOF
}

declare -A DET REC RUNG
LAST_END=0
run_one() { # scenario run strategy actions
  local scenario=$1 run=$2 name="bench-$1-$2"
  # The previous run's objects, which BENCH_KEEP leaves (it keeps the last run's only):
  # two Remediations on one target would race (the younger is refused, TargetClaimed).
  kubectl delete rem,chaos -n $NS --all --wait=true >/dev/null 2>&1 || true
  [ -z "$(kubectl get rem -n $NS -o name 2>/dev/null)" ] || die "run $run: an earlier Remediation is still there"
  wait_healthy
  # Each run starts clean: Prometheus's 30 s range (the PromQL signals) must no longer
  # hold the previous run's outage, or a fresh Remediation would open an incident on it.
  local quiet=$((LAST_END + 35 - $(date +%s)))
  [ "$quiet" -le 0 ] || sleep "$quiet"
  remediation "$name" "$3" "$4" | kubectl apply -n $NS -f - >/dev/null
  for _ in $(seq 1 60); do
    [ "$(kubectl get rem -n $NS "$name" -o jsonpath='{.status.detection.health}')" = Healthy ] && break
    sleep 0.5
  done
  sleep 3 # a baseline
  chaos "$name" | kubectl apply -n $NS -f - >/dev/null
  local inc=""
  for _ in $(seq 1 240); do
    inc=$(kubectl get rem -n $NS "$name" -o json | status_jq -c closed_incident)
    [ -n "$inc" ] && break
    sleep 0.5
  done
  [ -n "$inc" ] || { kubectl get rem -n $NS "$name" -o yaml >&2; tail -20 "$WORK/controller.log" >&2; die "$scenario run $run: no closed incident in 120 s"; }
  local outcome det rec rung verdict
  outcome=$(jq -r '.outcome' <<<"$inc")
  det=$(jq -r '.detectionSeconds // "-"' <<<"$inc")
  rec=$(jq -r '.recoverySeconds // "-"' <<<"$inc")
  rung=$(status_jq -r healing_rung_seconds <<<"$inc")
  verdict=$(jq -r '.verdict' <<<"$inc")
  printf '%-10s %3d  %-22s %9s %9s %9s  %s\n' "$scenario" "$run" "$outcome" "$det" "$rec" "$rung" "$verdict"
  DET[$scenario]+="$det "
  REC[$scenario]+="$rec "
  RUNG[$scenario]+="$rung "
  LAST_END=$(date +%s)
  if [ -z "${BENCH_KEEP:-}" ]; then
    kubectl delete chaos -n $NS "$name" --wait=true >/dev/null 2>&1 || true
    kubectl delete rem -n $NS "$name" >/dev/null 2>&1 || true
  fi
}

stats() { # values...  -> "median p90"
  printf '%s\n' "$@" | grep -v '^-$' | sort -n | awk '{v[NR]=$1} END {
    if (NR == 0) { print "- -"; exit }
    m = (NR % 2) ? v[(NR+1)/2] : (v[NR/2] + v[NR/2+1]) / 2
    i = int(0.9 * NR + 0.999999); if (i < 1) i = 1; if (i > NR) i = NR
    printf "%.2f %.2f\n", m, v[i] }'
}

printf '%-10s %3s  %-22s %9s %9s %9s  %s\n' scenario run outcome detect_s recover_s rung_s verdict
for run in $(seq 1 "$RUNS"); do
  for s in ${BENCH_SCENARIOS:-ladder terminate}; do
    case $s in
      ladder) run_one ladder "$run" Ladder "[RestartDeployment, RestartDatabase]" ;;
      terminate) run_one terminate "$run" DiagnosisDriven "[TerminateBlockingSessions, RestartDeployment, RestartDatabase]" ;;
    esac
  done
done

echo
printf '%-10s %18s %18s %18s\n' scenario "detection med/p90" "recovery med/p90" "rung med/p90"
for s in ${BENCH_SCENARIOS:-ladder terminate}; do
  # shellcheck disable=SC2086  # the samples, space-separated: one argument each
  read -r dm dp <<<"$(stats ${DET[$s]})"
  # shellcheck disable=SC2086  # (as above)
  read -r rm rp <<<"$(stats ${REC[$s]})"
  # shellcheck disable=SC2086  # (as above)
  read -r gm gp <<<"$(stats ${RUNG[$s]})"
  printf '%-10s %8s / %-7s %8s / %-7s %8s / %-7s\n' "$s" "$dm" "$dp" "$rm" "$rp" "$gm" "$gp"
done
echo
echo "floors (issue 7): detection median < 2 s; recovery < 10 s for a restart rung, < 3 s for TerminateBlockingSessions"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
