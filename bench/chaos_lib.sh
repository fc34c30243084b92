# shellcheck shell=bash
# Shared by bench/chaos.sh and bench/chaos_scale.sh: a local cluster in a temporary state
# dir (LOCALCLUSTER_AUTO_PORTS=1), PostgreSQL on a test host of its own (scripts/pg,
# POOLGUARD_PG_NETNS=1: an EndpointSlice cannot name loopback), a labelled namespace with
# the db Service, EndpointSlice and Secret, poolguard-controller as a host process, a
# stamped watch of every experiment's changes and one psql session for counting. Sourced
# with ROOT, NS and a log prefix (BENCH) set; torn down by its EXIT trap. Needs root.

CTL=${POOLGUARD_CONTROLLER:-$ROOT/${BUILD_DIR:-build}/controller/poolguard-controller}
die() { echo "bench/$BENCH.sh: $*" >&2; exit 1; }
log() { echo "[$BENCH-bench] $*" >&2; }
[ -x "$CTL" ] || die "no controller at $CTL (cmake --build ${BUILD_DIR:-build} --target poolguard-controller, or set BUILD_DIR / POOLGUARD_CONTROLLER)"
[ "$(id -u)" -eq 0 ] || die "needs root (scripts/pg POOLGUARD_PG_NETNS=1 makes a network namespace)"

WORK=$(mktemp -d "/tmp/poolguard-$BENCH-bench-XXXXXX")
export LOCALCLUSTER_STATE_DIR=$WORK/cluster LOCALCLUSTER_AUTO_PORTS=1
CTL_PID="" WATCH_PID="" PSQL_PID="" PG_DIR=$WORK/pg

cleanup() {
  set +e
  [ -z "$WATCH_PID" ] || kill "$WATCH_PID" 2>/dev/null
  [ -z "$PSQL_PID" ] || kill "$PSQL_PID" 2>/dev/null
  if [ -n "$CTL_PID" ]; then
    kill -TERM "$CTL_PID" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$CTL_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$CTL_PID" 2>/dev/null
  fi
  "$ROOT/scripts/pg" destroy "$PG_DIR" >/dev/null 2>&1
  "$ROOT/localcluster/down" --purge >/dev/null 2>&1
  rm -rf "$WORK"
}
trap cleanup EXIT

# chaos_setup MAX_CONNECTIONS: the cluster, PostgreSQL (role and database app), the CRDs
# and namespace $NS with Service db, its EndpointSlice and Secret db-credentials.
chaos_setup() {
  log "local cluster in $LOCALCLUSTER_STATE_DIR"
  eval "$("$ROOT/localcluster/up" 2>"$WORK/up.log")" || { cat "$WORK/up.log" >&2; die "localcluster/up failed"; }
  log "PostgreSQL (max_connections $1) on a test host"
  POOLGUARD_PG_NETNS=1 "$ROOT/scripts/pg" init "$PG_DIR" '' "$1"
  "$ROOT/scripts/pg" start "$PG_DIR"
  PG_HOST=$("$ROOT/scripts/pg" host "$PG_DIR")
  PG_PORT=$("$ROOT/scripts/pg" port "$PG_DIR")
  SUPER_URL=$("$ROOT/scripts/pg" url "$PG_DIR")
  psql -X -q "$SUPER_URL" -c "CREATE ROLE app LOGIN PASSWORD 'app'" -c "CREATE DATABASE app OWNER app"
  log "CRDs, namespace $NS, Service/EndpointSlice/Secret db"
  kubectl apply --server-side --force-conflicts -f "$ROOT/crds/" >/dev/null
  kubectl wait --for=condition=Established --timeout=30s crd/chaosexperiments.poolguard.dev >/dev/null
  kubectl apply -f - >/dev/null <<YAML
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
YAML
}

# target_yaml NAME: a Deployment without pods. An experiment's target must exist (a
# guardrail), its pods are not needed for a leak.
target_yaml() {
  cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $NS}
spec:
  replicas: 0
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec: {containers: [{name: api, image: poolguard/target:dev}]}
YAML
}

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# start_controller ARGS...: poolguard-controller on namespace $NS, waited for until ready;
# its metrics at 127.0.0.1:$METRICS.
start_controller() {
  local health
  health=$(free_port)
  METRICS=$(free_port)
  log "poolguard-controller ($CTL)"
  "$CTL" --kubeconfig "$KUBECONFIG" --namespaces "$NS" \
    --health-probe-bind-address "127.0.0.1:$health" --metrics-bind-address "127.0.0.1:$METRICS" \
    --log-level warning "$@" >"$WORK/controller.log" 2>&1 &
  CTL_PID=$!
  for _ in $(seq 1 200); do
    curl -fs "http://127.0.0.1:$health/readyz" >/dev/null 2>&1 && return
    kill -0 "$CTL_PID" 2>/dev/null || { cat "$WORK/controller.log" >&2; die "the controller exited"; }
    sleep 0.1
  done
  die "the controller was not ready in 20 s"
}

# watch_experiments: every change of every experiment, one line each in $EVENTS, stamped
# when the watch delivers it: "TIME name phase leakedConnections abort".
watch_experiments() {
  EVENTS=$WORK/events
  : >"$EVENTS"
  kubectl get chaosexperiments -n "$NS" -w \
    -o jsonpath='{.metadata.name} {.status.phase} {.status.leakedConnections} {.spec.abort}{"\n"}' \
    > >(while IFS= read -r line; do echo "$EPOCHREALTIME $line"; done >>"$EVENTS") 2>/dev/null &
  WATCH_PID=$!
  sleep 1 # the watch is established before the first experiment
}

# One superuser session for counting: a query is one round trip, no new connection.
open_counter() {
  coproc PSQL { psql -X -A -t -q "$SUPER_URL" 2>&1; }
}
# query SQL: its one value in $COUNT (no subshell: the coprocess is ours only).
query() {
  printf '%s\n' "$1" >&"${PSQL[1]}"
  IFS= read -r -u "${PSQL[0]}" COUNT
  [[ "$COUNT" =~ ^[0-9]+$ ]] || die "counting sessions failed: $COUNT"
}

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (b - a) * 1000 }'; }
stats() { # values... -> "median max"
  printf '%s\n' "$@" | sort -n | awk '{ v[NR] = $1 } END {
    m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2; printf "%.0f %.0f", m, v[NR] }'
}
