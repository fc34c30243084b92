#!/usr/bin/env bash
# One slow target beside many healthy ones (issue 16, docs/benchmarks.md): is a
# Remediation's tick bounded, so that a target whose /health hangs does not delay the
# others? N Remediations (dry-run, detection.interval INTERVAL) on a healthy target, then
# the same plus SLOW Remediations on a target that accepts TCP connections and never
# answers (neither /health nor /metrics). poolguard-controller runs as a host process on
# the local cluster (--workers default 16, debug log), once per run; over a WINDOW after a
# warm-up each run prints:
#   - the healthy Remediations' ticks: how many per second against N/INTERVAL (a tick is
#     requeued INTERVAL after it ends, so the most there can be is a little below that),
#     their duration p50/p99/max, and how late each started after its requeue was due
#     (time in the work queue waiting for a worker: what a starved worker pool shows),
#     the fewest healthy ticks in any one second of the window and the seconds in which
#     a healthy tick started an interval or more late;
#   - the slow Remediations' ticks: how many, how long they take, and how many of the
#     workers they hold on average;
#   - for comparison, controller_runtime_reconcile_time_seconds and
#     workqueue_queue_duration_seconds quantiles between two scrapes (upper bucket bounds,
#     every Remediation's reconciles mixed), CPU per reconcile and RSS from /proc.
# Per-tick figures come from the controller's debug line "<key>: tick ... in N ms,
# requeue M ms" (remediation/reconciler.cc), stamped when the tick ends. Asserts nothing;
# the floor to read beside: healthy ticks' p99 under the interval, and the healthy tick
# rate unchanged within noise when the slow target is added.
#
#   bench/slow_target.sh [N] [INTERVAL] [WINDOW]   default 100 Remediations, 1 (s), 60 (s)
#   BENCH_SLOW=4                                  slow Remediations in the second run (1)
#   BENCH_WORKERS=16                              the controller's --workers (its default)
#   BENCH_WARMUP=5                                seconds from the controller's start to the window
#   BENCH_KEEP=1                                  keep the work directory (logs, scrapes) and namespace
#
# The targets are real pods on the local cluster's node agent (localnode: processes in a
# network namespace the host routes to, docs/localnode.md), which the controller reaches
# through the Services' EndpointSlices as in a cluster: Deployment `web` (1 pod, python3
# http.server answering /health {"status":"ok"} and a two-line /metrics) and Deployment
# `hang` (1 pod, a python3 listener that accepts and never reads or answers). dryRun
# Remediations claim no target (remediation/ownership.cc), so they share one target:
# every healthy Remediation probes web's pod (GET /health, GET /metrics, its log), every
# slow one hang's pod. The database named in the specs is a Service with no endpoints (as
# bench/scale.sh): the database probes end at once, the same in both runs.
#
# Needs POOLGUARD_TEST_KUBECONFIG (or KUBECONFIG) for a local cluster with the node agent
# (localcluster/up when poolguard-localnode is built), /usr/bin/python3, and the build.
set -euo pipefail
export POOLGUARD_TEST_KUBECONFIG="${POOLGUARD_TEST_KUBECONFIG:-${KUBECONFIG:?set KUBECONFIG to a local cluster (localcluster/up)}}"
N=${1:-100}
INTERVAL=${2:-1}
WINDOW=${3:-60}
SLOW=${BENCH_SLOW:-1}
WORKERS=${BENCH_WORKERS:-16}
WARMUP=${BENCH_WARMUP:-5}
INTERVAL_MS=$(awk -v i="$INTERVAL" 'BEGIN {printf "%d", i * 1000}')
PY=/usr/bin/python3
TEST_NAME=slow_target
# shellcheck source=../tests/cluster/lib.sh
source "$(dirname "$0")/../tests/cluster/lib.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_test_cluster jq curl
CTL="${POOLGUARD_BUILD_DIR:-$REPO_DIR/build}/controller/poolguard-controller"
[[ -x "$CTL" ]] || fail "no controller at $CTL (build it, or set POOLGUARD_BUILD_DIR)"
[[ -x "$PY" ]] || fail "$PY is needed for the target pods"
NS="slowtarget-$(date +%s)"
WORK="$(mktemp -d /tmp/poolguard-slow-target.XXXXXX)"
PID=""
cleanup() {
  stop_controller
  if [[ -n "${BENCH_KEEP:-}" ]]; then
    echo "kept (BENCH_KEEP): namespace $NS, $WORK" >&2
    return
  fi
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
stop_controller() {
  [[ -n "$PID" ]] || return 0
  kill -TERM "$PID" 2>/dev/null || true
  for _ in $(seq 1 100); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
  PID=""
}
trap cleanup EXIT
kubectl apply -f "$REPO_DIR/crds/" >/dev/null
kubectl create namespace "$NS" >/dev/null
kubectl create secret generic creds -n "$NS" --from-literal=username=app \
  --from-literal=password=x --from-literal=database=app >/dev/null
kubectl create service clusterip nodb -n "$NS" --tcp=5432:5432 >/dev/null

# ---- the targets: web answers at once, hang accepts and never answers ----
backend() { # name readiness-probe(yaml, may be empty) python-program
  cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: $1, namespace: $NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: $1}}
  template:
    metadata: {labels: {app: $1}}
    spec:
      containers:
        - name: app
          image: busybox:1.36
          command: ["$PY", "-c"]
          args:
            - |
              ${3//$'\n'/$'\n'              }
          ports: [{containerPort: 8000, name: http}]
$2
---
apiVersion: v1
kind: Service
metadata: {name: $1, namespace: $NS}
spec:
  selector: {app: $1}
  ports: [{name: http, port: 80, targetPort: http}]
YAML
}
WEB_PY='import http.server, os
class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            body, ctype = b"{\"status\":\"ok\"}", "application/json"
        elif self.path == "/metrics":
            body, ctype = b"# bench/slow_target.sh: a healthy target\nup 1\n", "text/plain; version=0.0.4"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
class Server(http.server.ThreadingHTTPServer):
    request_queue_size = 256
Server((os.environ["BIND_ADDRESS"], 8000), Handler).serve_forever()'
HANG_PY='import os, select, socket, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((os.environ["BIND_ADDRESS"], 8000))
s.listen(256)
held = []  # accepted, never read nor answered; closed after 60 s
while True:
    if select.select([s], [], [], 1.0)[0]:
        held.append((time.monotonic(), s.accept()[0]))
    while held and time.monotonic() - held[0][0] > 60:
        held.pop(0)[1].close()'
WEB_READY='          readinessProbe: {httpGet: {path: /health, port: http}, periodSeconds: 5}'
{
  backend web "$WEB_READY" "$WEB_PY"
  backend hang "" "$HANG_PY"
} >"$WORK/targets.yaml"
kubectl apply -f "$WORK/targets.yaml" >/dev/null
kubectl rollout status -n "$NS" deploy/web --timeout=120s >/dev/null
kubectl rollout status -n "$NS" deploy/hang --timeout=120s >/dev/null
WEB_IP=$(kubectl get pod -n "$NS" -l app=web -o jsonpath='{.items[0].status.podIP}')
HANG_IP=$(kubectl get pod -n "$NS" -l app=hang -o jsonpath='{.items[0].status.podIP}')
wait_for "the EndpointSlices of web and hang" 60 bash -c \
  "kubectl get endpointslices -n $NS -l kubernetes.io/service-name=web -o jsonpath='{.items[*].endpoints[*].addresses[0]}' | grep -F $WEB_IP &&
   kubectl get endpointslices -n $NS -l kubernetes.io/service-name=hang -o jsonpath='{.items[*].endpoints[*].addresses[0]}' | grep -F $HANG_IP"
curl -fsS -m 2 "http://$WEB_IP:8000/health" >/dev/null || fail "web's pod $WEB_IP does not answer from the host"
if curl -fsS -m 2 "http://$HANG_IP:8000/health" >/dev/null 2>&1; then fail "hang's pod answered"; fi

remediations() { # prefix count target
  local i
  for ((i = 0; i < $2; i++)); do
    cat <<YAML
---
apiVersion: poolguard.dev/v1alpha1
kind: Remediation
metadata: {name: $1-$i, namespace: $NS}
spec:
  target: {deployment: $3, service: $3, port: 80}
  database: {service: nodb, port: 5432, credentialsSecret: creds}
  detection: {interval: ${INTERVAL}s}
  safety: {dryRun: true}
YAML
  done
}

# ---- measuring ----
port=$((20000 + RANDOM % 20000))
metric() { curl -fsS "http://127.0.0.1:$port/metrics"; }
now_sod() { date -u +%H:%M:%S.%N | awk -F: '{printf "%.3f", $1 * 3600 + $2 * 60 + $3}'; }
reconciles() { awk '/^controller_runtime_reconcile_total\{controller="remediation"/ {n += $NF} END {print n + 0}' "$1"; }
# quantile Q of histogram METRIC{FILTER...} between two scrapes (an upper bucket bound)
buckets() { # file metric filter
  grep "^$2_bucket{.*$3" "$1" | sed 's/.*le="\([^"]*\)"} \(.*\)/\1 \2/' | sort -k1,1
}
quantile() { # m0 m1 q metric filter
  join <(buckets "$1" "$4" "$5") <(buckets "$2" "$4" "$5") | awk '{print $1, $3 - $2}' |
    sed 's/^+Inf/inf/' | sort -g | awk -v q="$3" '{le[NR] = $1; c[NR] = $2} END {
      total = c[NR]
      if (total == 0) { print "-"; exit }
      for (i = 1; i <= NR; i++) if (c[i] >= q * total) { print le[i]; exit } }'
}
# The debug log's tick lines ending in [t0, t1] (seconds of the UTC day), per class: the
# healthy (ok-*) and the slow (slow-*) Remediations. Prints
#   healthy ticks tick_p50 tick_p99 tick_max late_p50 late_p99 late_max   (ms)
#   slow    (the same)
#   seconds fewest_healthy_ticks_in_a_second seconds_with_a_healthy_tick_late_by_>=interval
#           workers_held_by_slow_ticks
# where late = this tick's start - (the previous tick's end + its requeue): the time it
# waited for a worker.
ticks() { # log t0 t1 interval_ms
  sed -n 's/^[0-9-]*T\([0-9:.]*\)Z debug *[^ ]* \([^ ]*\): tick .* in \([0-9]*\) ms, requeue \(-\{0,1\}[0-9]*\) ms$/\1 \2 \3 \4/p' "$1" |
    awk -v t0="$2" -v t1="$3" -v iv="$4" '{
      split($1, hms, ":"); end = hms[1] * 3600 + hms[2] * 60 + hms[3]
      key = $2; ms = $3; start = end - ms / 1000
      class = (key ~ /\/slow-/) ? "slow" : "healthy"
      if (end >= t0 && end <= t1) {
        print class, "tick", ms
        sec = int(end - t0)
        if (class == "healthy") n[sec]++; else held += ms
        if (key in due) {
          late = int(1000 * (start - due[key]) + 0.5)
          print class, "late", late
          if (class == "healthy" && late >= iv) stalled[sec] = 1
        }
      }
      due[key] = ($4 >= 0) ? end + $4 / 1000 : end + 1e9
    }
    END {
      fewest = -1
      for (sec = 0; sec < int(t1 - t0); sec++) if (fewest < 0 || n[sec] + 0 < fewest) fewest = n[sec] + 0
      for (sec in stalled) nstalled++
      printf "seconds %d %d %.2f\n", fewest, nstalled, held / 1000 / (t1 - t0)
    }' | sort -k1,1 -k2,2 -k3,3n | awk '
      function flush() {
        if (cls == "") return
        printf "%s %d %s %s %s %s %s %s\n", cls, nt, q(t, nt, 0.5), q(t, nt, 0.99), (nt ? t[nt] : "-"),
          q(l, nl, 0.5), q(l, nl, 0.99), (nl ? l[nl] : "-")
        cls = ""
      }
      function q(a, n, p,   i) { if (n == 0) return "-"; i = int(p * n + 0.999999); if (i < 1) i = 1; return a[i] }
      $1 == "seconds" { flush(); print; next }
      $1 != cls { flush(); cls = $1; nt = 0; nl = 0; split("", t); split("", l) }
      $2 == "tick" { t[++nt] = $3 }
      $2 == "late" { l[++nl] = $3 }
      END { flush() }'
}

declare -A R
run() { # label slow-count
  local label=$1 slow=$2 m0 m1 c0 c1 t0 t1 hz n h s
  "$CTL" --kubeconfig="$KUBECONFIG" --namespaces="$NS" --leader-elect=false --workers="$WORKERS" \
    --metrics-bind-address="127.0.0.1:$port" --health-probe-bind-address=0 --log-level=debug \
    >"$WORK/controller-$label.log" 2>&1 &
  PID=$!
  # The cache syncs within a second; every key is queued at once then, so the slow
  # Remediations start their ticks together (their worst case: they stay in step until
  # something shifts one) and the window includes that.
  sleep "$WARMUP"
  m0="$WORK/m0-$label" m1="$WORK/m1-$label"
  metric >"$m0"
  c0=$(proc_cpu_ticks "$PID")
  t0=$(now_sod)
  sleep "$WINDOW"
  metric >"$m1"
  c1=$(proc_cpu_ticks "$PID")
  t1=$(now_sod)
  R[$label.rss]=$(proc_rss "$PID")
  stop_controller
  hz=$(getconf CLK_TCK)
  n=$(($(reconciles "$m1") - $(reconciles "$m0")))
  ticks "$WORK/controller-$label.log" "$t0" "$t1" "$INTERVAL_MS" >"$WORK/ticks-$label"
  h=$(grep '^healthy ' "$WORK/ticks-$label" || echo "healthy 0 - - - - - -")
  s=$(grep '^slow ' "$WORK/ticks-$label" || echo "slow 0 - - - - - -")
  local f k i
  read -r -a f <<<"$h"
  i=1
  for k in hn h50 h99 hmax l50 l99 lmax; do R[$label.$k]=${f[i]}; i=$((i + 1)); done
  read -r -a f <<<"$s"
  i=1
  for k in sn s50 s99 smax; do R[$label.$k]=${f[i]}; i=$((i + 1)); done
  read -r -a f <<<"$(grep '^seconds ' "$WORK/ticks-$label")"
  i=1
  for k in fewest stalled held; do R[$label.$k]=${f[i]}; i=$((i + 1)); done
  R[$label.hrate]=$(awk -v n="${R[$label.hn]}" -v w="$WINDOW" 'BEGIN {printf "%.1f", n / w}')
  R[$label.srate]=$(awk -v n="${R[$label.sn]}" -v w="$WINDOW" -v k="$slow" 'BEGIN {printf "%.2f", (k ? n / w / k : 0)}')
  R[$label.n]=$n
  R[$label.cpu]=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v w="$WINDOW" 'BEGIN {printf "%.0f", 100 * c / hz / w}')
  R[$label.cpur]=$(awk -v c=$((c1 - c0)) -v hz="$hz" -v n="$n" 'BEGIN {printf "%.2f", (n > 0 ? 1000 * c / hz / n : 0)}')
  R[$label.rt50]=$(quantile "$m0" "$m1" 0.5 controller_runtime_reconcile_time_seconds 'controller="remediation"')
  R[$label.rt99]=$(quantile "$m0" "$m1" 0.99 controller_runtime_reconcile_time_seconds 'controller="remediation"')
  R[$label.qw50]=$(quantile "$m0" "$m1" 0.5 workqueue_queue_duration_seconds 'name="remediation"')
  R[$label.qw99]=$(quantile "$m0" "$m1" 0.99 workqueue_queue_duration_seconds 'name="remediation"')
  R[$label.health]=$(kubectl get rem -n "$NS" -o json |
    jq -r '[.items[] | "\(.metadata.name | sub("-[0-9]+$"; ""))=\(.status.detection.health // "none")"] | group_by(.) | map("\(length) \(.[0])") | join(", ")')
}

echo "bench/slow_target.sh: $N healthy Remediations (dryRun, interval ${INTERVAL}s), $SLOW slow in run 2;" \
  "poolguard-controller --workers=$WORKERS; window ${WINDOW}s after ${WARMUP}s"
echo "targets: web pod $WEB_IP (answers /health, /metrics), hang pod $HANG_IP (accepts, never answers)"
remediations ok "$N" web >"$WORK/healthy.yaml"
kubectl apply --server-side -f "$WORK/healthy.yaml" >/dev/null
run base 0
remediations slow "$SLOW" hang >"$WORK/slow.yaml"
kubectl apply --server-side -f "$WORK/slow.yaml" >/dev/null
run slow "$SLOW"

expected=$(awk -v n="$N" -v i="$INTERVAL" 'BEGIN {printf "%.1f", n / i}')
row() { printf '%-44s %18s %18s\n' "$@"; }
echo
row "" "run 1: no slow" "run 2: +$SLOW slow"
row "healthy ticks/s (expected <= N/interval = $expected)" "${R[base.hrate]}" "${R[slow.hrate]}"
row "healthy tick time p50 / p99 / max (ms)" "${R[base.h50]} / ${R[base.h99]} / ${R[base.hmax]}" "${R[slow.h50]} / ${R[slow.h99]} / ${R[slow.hmax]}"
row "healthy start late p50 / p99 / max (ms)" "${R[base.l50]} / ${R[base.l99]} / ${R[base.lmax]}" "${R[slow.l50]} / ${R[slow.l99]} / ${R[slow.lmax]}"
row "fewest healthy ticks in one second" "${R[base.fewest]}" "${R[slow.fewest]}"
row "seconds with a healthy tick late >= interval" "${R[base.stalled]} of $WINDOW" "${R[slow.stalled]} of $WINDOW"
row "slow ticks/s per slow Remediation" "-" "${R[slow.srate]}"
row "slow tick time p50 / p99 / max (ms)" "-" "${R[slow.s50]} / ${R[slow.s99]} / ${R[slow.smax]}"
row "workers held by slow ticks (mean, of $WORKERS)" "-" "${R[slow.held]}"
row "all reconciles (metrics) in the window" "${R[base.n]}" "${R[slow.n]}"
row "reconcile time p50 / p99 (s, bucket bound)" "${R[base.rt50]} / ${R[base.rt99]}" "${R[slow.rt50]} / ${R[slow.rt99]}"
row "queue wait p50 / p99 (s, bucket bound)" "${R[base.qw50]} / ${R[base.qw99]}" "${R[slow.qw50]} / ${R[slow.qw99]}"
row "controller CPU (% of a core)" "${R[base.cpu]}" "${R[slow.cpu]}"
row "CPU per reconcile (ms)" "${R[base.cpur]}" "${R[slow.cpur]}"
row "RSS (MB)" "${R[base.rss]}" "${R[slow.rss]}"
echo "status.detection.health after each run: run 1: ${R[base.health]}; run 2: ${R[slow.health]}"
echo
echo "floor (issue 16): healthy tick p99 < interval (${INTERVAL}s) and healthy start lateness well under it;" \
  "healthy ticks/s unchanged within noise with the slow target"
echo "machine: $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
