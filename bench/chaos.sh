#!/usr/bin/env bash
# ChaosExperiment inject and release (docs/benchmarks.md): for each N, RUNS times:
#   inject:  the ChaosExperiment appears in the API server (watch ADDED) -> the watch shows
#            phase Active with status.leakedConnections == N (and pg_stat_activity is
#            then checked to agree);
#   release: the abort (spec.abort=true) appears in the watch -> pg_stat_activity shows
#            none of the experiment's sessions (polled over one open psql session);
#   aborted: the abort appears -> the watch shows phase Aborted.
# Prints each run, then median and max per N. Asserts nothing.
#
#   bench/chaos.sh [RUNS] [N...]        defaults: 5 runs, N = 20 200
#
# Brings up everything itself and tears it down on exit: a local cluster in a temporary
# state dir (LOCALCLUSTER_AUTO_PORTS=1), PostgreSQL on a test host of its own
# (scripts/pg, POOLGUARD_PG_NETNS=1, max_connections 300), the CRDs, a labelled namespace
# with the db Service, EndpointSlice and Secret, and poolguard-controller from
# ${BUILD_DIR:-build} (or $POOLGUARD_CONTROLLER) with a raised
# --max-connections-per-experiment. Needs root (the network namespace).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20 200)
CTL=${POOLGUARD_CONTROLLER:-$ROOT/${BUILD_DIR:-build}/controller/poolguard-controller}
NS=chaos-bench

die() { echo "bench/chaos.sh: $*" >&2; exit 1; }
log() { echo "[chaos-bench] $*" >&2; }
[ -x "$CTL" ] || die "no controller at $CTL (cmake --build ${BUILD_DIR:-build} --target poolguard-controller, or set BUILD_DIR / POOLGUARD_CONTROLLER)"
[ "$(id -u)" -eq 0 ] || die "needs root (scripts/pg POOLGUARD_PG_NETNS=1 makes a network namespace)"

WORK=$(mktemp -d /tmp/poolguard-chaos-bench-XXXXXX)
export LOCALCLUSTER_STATE_DIR=$WORK/cluster LOCALCLUSTER_AUTO_PORTS=1
CTL_PID="" WATCH_PID="" PG_DIR=$WORK/pg

cleanup() {
  set +e
  [ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null
  if [ -n "${PSQL_PID:-}" ]; then kill "$PSQL_PID" 2>/dev/null; fi
  if [ -n "$CTL_PID" ]; then
    kill -TERM "$CTL_PID" 2>/dev/null
    for _ in $(seq 1 100); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTL_PID" 2>/dev/null
  fi
  "$ROOT/scripts/pg" destroy "$PG_DIR" >/dev/null 2>&1
  "$ROOT/localcluster/down" --purge >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

log "local cluster in $LOCALCLUSTER_STATE_DIR"
eval "$("$ROOT/localcluster/up" 2>"$WORK/up.log")" || { cat "$WORK/up.log" >&2; die "localcluster/up failed"; }

log "PostgreSQL (max_connections 300) on a test host"
POOLGUARD_PG_NETNS=1 "$ROOT/scripts/pg" init "$PG_DIR" '' 300
"$ROOT/scripts/pg" start "$PG_DIR"
PG_HOST=$("$ROOT/scripts/pg" host "$PG_DIR")
PG_PORT=$("$ROOT/scripts/pg" port "$PG_DIR")
SUPER_URL=$("$ROOT/scripts/pg" url "$PG_DIR")
psql -X -q "$SUPER_URL" -c "CREATE ROLE app LOGIN PASSWORD 'app'" -c "CREATE DATABASE app OWNER app"

log "CRDs, namespace $NS, Service/EndpointSlice/Secret db, the target Deployment api (no pods)"
kubectl apply --server-side --force-conflicts -f "$ROOT/crds/" >/dev/null
kubectl wait --for=condition=Established --timeout=30s crd/chaosexperiments.poolguard.dev >/dev/null
kubectl apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata: {name: $NS, labels: {poolguard.dev/chaos: enabled}}
---
apiVersion: v1
kind: Service
metadata: {name: db, namespace: $NS}
spec: {ports: [{name: postgres, port: 5432, targetPort: $PG_PORT}]}
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: db-local
  namespace: $NS
  labels: {kubernetes.io/service-name: db, endpointslice.kubernetes.io/managed-by: poolguard-bench}
addressType: IPv4
ports: [{name: postgres, port: $PG_PORT, protocol: TCP}]
endpoints: [{addresses: ["$PG_HOST"], conditions: {ready: true}}]
---
apiVersion: v1
kind: Secret
metadata: {name: db-credentials, namespace: $NS}
stringData: {username: app, password: app, database: app}
---
# The experiments' target: it must exist (a guardrail), its pods are not needed here.
apiVersion: apps/v1
kind: Deployment
metadata: {name: api, namespace: $NS}
spec:
  replicas: 0
  selector: {matchLabels: {app: api}}
  template:
    metadata: {labels: {app: api}}
    spec: {containers: [{name: api, image: poolguard/target:dev}]}
EOF

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HEALTH=$(free_port)
METRICS=$(free_port)
log "poolguard-controller ($CTL)"
"$CTL" --kubeconfig "$KUBECONFIG" --namespaces "$NS" \
  --health-probe-bind-address "127.0.0.1:$HEALTH" --metrics-bind-address "127.0.0.1:$METRICS" \
  --max-connections-per-experiment 1000 --log-level warning >"$WORK/controller.log" 2>&1 &
CTL_PID=$!
for _ in $(seq 1 200); do
  curl -fs "http://127.0.0.1:$HEALTH/readyz" >/dev/null 2>&1 && break
  kill -0 "$CTL_PID" 2>/dev/null || { cat "$WORK/controller.log" >&2; die "the controller exited"; }
  sleep 0.1
done

# Every change of every experiment, stamped when the watch delivers it.
EVENTS=$WORK/events
: >"$EVENTS"
kubectl get chaosexperiments -n "$NS" -w \
  -o jsonpath='{.metadata.name} {.status.phase} {.status.leakedConnections} {.spec.abort}{"\n"}' \
  > >(while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >>"$EVENTS") 2>/dev/null &
WATCH_PID=$!
sleep 1  # the watch is established before the first experiment

# One superuser session for counting: a query is one round trip, no new connection.
coproc PSQL { psql -X -A -t -q "$SUPER_URL" 2>&1; }
count_sessions() { # application_name -> COUNT (no subshell: the coprocess is ours only)
  printf "SELECT count(*) FROM pg_stat_activity WHERE application_name = '%s';\n" "$1" >&"${PSQL[1]}"
  IFS= read -r -u "${PSQL[0]}" COUNT
  [[ "$COUNT" =~ ^[0-9]+$ ]] || die "counting sessions failed: $COUNT"
}

# The stamp of the first event line matching an awk condition ($2 name, $3 phase,
# $4 leakedConnections, $5 abort), waiting up to 120 s for it.
event_time() { # awk-condition
  local t=""
  for _ in $(seq 1 12000); do
    t=$(awk "$1 { print \$1; exit }" "$EVENTS")
    [ -z "$t" ] || break
    sleep 0.01
  done
  [ -n "$t" ] || { tail -n 30 "$WORK/controller.log" >&2; die "timed out waiting for: $1"; }
  echo "$t"
}
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
stats() { # values... -> "median max"
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f %.0f", m, v[NR] }'
}

echo "# bench/chaos.sh $RUNS runs; ms; inject = ADDED -> Active with all held; release = abort -> pg_stat_activity 0; aborted = abort -> phase Aborted"
printf '%-6s %-4s %8s %8s %8s %s\n' N run inject release aborted pg_stat_activity@Active
declare -A SUMMARY
for n in "${SIZES[@]}"; do
  inject=() release=() aborted=()
  for run in $(seq 1 "$RUNS"); do
    name="ce-$n-$run"
    app="poolguard-chaos/$NS/$name"
    kubectl create -f - >/dev/null <<EOF
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: $name, namespace: $NS}
spec:
  target: {deployment: api}
  database: {service: db, credentialsSecret: db-credentials}
  fault: {type: ConnectionLeak, connectionLeak: {connections: $n, mode: Idle}}
  duration: 10m
EOF
    t_added=$(event_time "\$2 == \"$name\"")
    t_active=$(event_time "\$2 == \"$name\" && \$3 == \"Active\" && \$4 == \"$n\"")
    count_sessions "$app"
    held=$COUNT
    # Abort in the background and poll at once, so the poll never starts late.
    kubectl patch chaosexperiment "$name" -n "$NS" --type merge -p '{"spec":{"abort":true}}' >/dev/null &
    patch_pid=$!
    while count_sessions "$app" && [ "$COUNT" != 0 ]; do :; done
    t_released=$EPOCHREALTIME
    wait "$patch_pid"
    t_abort=$(event_time "\$2 == \"$name\" && \$NF == \"true\"")
    t_aborted=$(event_time "\$2 == \"$name\" && \$3 == \"Aborted\"")
    inject+=("$(ms "$t_added" "$t_active")")
    release+=("$(ms "$t_abort" "$t_released")")
    aborted+=("$(ms "$t_abort" "$t_aborted")")
    printf '%-6s %-4s %8s %8s %8s %s\n' "$n" "$run" "${inject[-1]}" "${release[-1]}" "${aborted[-1]}" "$held"
    kubectl delete chaosexperiment "$name" -n "$NS" --wait=true >/dev/null
  done
  SUMMARY[$n]="$(stats "${inject[@]}") $(stats "${release[@]}") $(stats "${aborted[@]}")"
done

echo
echo "| N | runs | inject median / max (ms) | release median / max (ms) | Aborted median / max (ms) |"
echo "|---|---|---|---|---|"
for n in "${SIZES[@]}"; do
  read -r im ix rm rx am ax <<<"${SUMMARY[$n]}"
  echo "| $n | $RUNS | $im / $ix | $rm / $rx | $am / $ax |"
done
