#!/usr/bin/env bash
# poolguard-controller at scale (issue 16, docs/benchmarks.md): RSS idle, then with N
# Remediations (dry-run, interval 10s, on synthetic targets: Deployments that do not run
# and a Service with no endpoints, so a tick is the controller's own work and the cache's)
# and N ChaosSchedules (suspended) in one namespace; CPU per reconcile and the Remediation
# reconcile time (p50, p99 from controller_runtime_reconcile_time_seconds) over a window.
# The controller runs as a host process on the local cluster. Asserts nothing.
#
#   bench/scale.sh [N] [WINDOW]      default 1000 resources of each kind, 60 s
#
# Needs POOLGUARD_TEST_KUBECONFIG (or KUBECONFIG) for a local cluster and the build.
set -euo pipefail
export POOLGUARD_TEST_KUBECONFIG="${POOLGUARD_TEST_KUBECONFIG:-${KUBECONFIG:?set KUBECONFIG to a local cluster (localcluster/up)}}"
N=${1:-1000}
WINDOW=${2:-60}
TEST_NAME=scale
# shellcheck source=../tests/cluster/lib.sh
source "$(dirname "$0")/../tests/cluster/lib.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_test_cluster jq curl
CTL="${POOLGUARD_BUILD_DIR:-$REPO_DIR/build}/controller/poolguard-controller"
NS="scale-$(date +%s)"
WORK="$(mktemp -d /tmp/poolguard-scale.XXXXXX)"
PID=""
cleanup() {
  [[ -z "$PID" ]] || kill "$PID" 2>/dev/null || true
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
kubectl apply -f "$REPO_DIR/crds/" >/dev/null
kubectl create namespace "$NS" >/dev/null
kubectl create secret generic creds -n "$NS" --from-literal=username=app \
  --from-literal=password=x --from-literal=database=app >/dev/null
kubectl create service clusterip synth -n "$NS" --tcp=80:80 >/dev/null

port=$((20000 + RANDOM % 20000))
"$CTL" --kubeconfig="$KUBECONFIG" --namespaces="$NS" --leader-elect=false \
  --metrics-bind-address="127.0.0.1:$port" --health-probe-bind-address=0 --log-level=warning \
  >"$WORK/controller.log" 2>&1 &
PID=$!
metric() { curl -fsS "http://127.0.0.1:$port/metrics"; }
reconciles() { metric | awk '/^controller_runtime_reconcile_total\{controller="remediation"/ {n += $NF} END {print n + 0}'; }
# quantile Q of the remediation reconcile-time histogram between two scrapes (an upper
# bucket bound)
buckets() {
  grep '^controller_runtime_reconcile_time_seconds_bucket{controller="remediation"' "$1" |
    sed 's/.*le="\([^"]*\)"} \(.*\)/\1 \2/' | sort -k1,1
}
quantile() {
  join <(buckets "$1") <(buckets "$2") | awk '{print $1, $3 - $2}' | sed 's/^+Inf/inf/' | sort -g |
    awk -v q="$3" '{le[NR] = $1; c[NR] = $2} END {
      total = c[NR]
      for (i = 1; i <= NR; i++) if (c[i] >= q * total) { print le[i]; exit } }'
}
sleep 10
echo "idle (no resources): RSS $(proc_rss "$PID") MB"

: >"$WORK/objects.yaml"
for ((i = 0; i < N; i++)); do
  synthetic_remediation "synth-$i" "$NS" "synth-$i" 10s >>"$WORK/objects.yaml"
  cat >>"$WORK/objects.yaml" <<YAML
---
apiVersion: poolguard.dev/v1alpha1
kind: ChaosSchedule
metadata: {name: synth-$i, namespace: $NS}
spec:
  schedule: "@hourly"
  suspend: true
  experimentTemplate:
    spec:
      target: {deployment: synth-$i}
      database: {service: synth, credentialsSecret: creds}
      fault: {type: ConnectionLeak, connectionLeak: {connections: 1}}
      duration: 30s
YAML
done
start=$SECONDS
kubectl apply --server-side -f "$WORK/objects.yaml" >/dev/null
echo "created $N Remediations and $N ChaosSchedules in $((SECONDS - start)) s"
sleep 30 # every Remediation has ticked a few times
metric >"$WORK/m0"
c0=$(proc_cpu_ticks "$PID")
r0=$(reconciles)
sleep "$WINDOW"
metric >"$WORK/m1"
c1=$(proc_cpu_ticks "$PID")
r1=$(reconciles)
hz=$(getconf CLK_TCK)
n=$((r1 - r0))
echo "with $N Remediations + $N ChaosSchedules: RSS $(proc_rss "$PID") MB"
awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$n" -v w="$WINDOW" 'BEGIN {
  printf "over %d s: %d Remediation reconciles (%.1f/s), CPU %.1f%% of a core, %.2f ms CPU per reconcile\n",
    w, n, n / w, 100 * c / hz / w, (n > 0 ? 1000 * c / hz / n : 0) }'
echo "Remediation reconcile time: p50 <= $(quantile "$WORK/m0" "$WORK/m1" 0.5) s, p99 <= $(quantile "$WORK/m0" "$WORK/m1" 0.99) s (bucket bounds)"
