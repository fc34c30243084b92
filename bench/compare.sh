#!/usr/bin/env bash
# poolguard-controller next to a Go controller on client-go (issue 16, docs/benchmarks.md):
# both run at the same time, as host processes, on the same local-cluster API server, in
# one namespace, each over N custom resources and the same N Deployments, and for each
# this prints: RSS idle (before any resource exists), RSS with N resources, CPU per
# reconcile and API requests per second over a WINDOW-second window, and the reconcile
# latency of a spec change (p50/p99 over SAMPLES changes). Beside them, issue 16's floors
# for poolguard: idle RSS < 30 MB; at 1000 resources < 60 MB and <= half the Go
# controller's. Asserts nothing.
#
#   bench/compare.sh [N] [WINDOW] [SAMPLES] [INTERVAL]   default 1000 60 50 30s
#   SAMPLE_CONTROLLER_QPS=50 bench/compare.sh ...        the Go side with QPS 50, Burst 100
#
# Needs POOLGUARD_TEST_KUBECONFIG (or KUBECONFIG) for a local cluster (localcluster/up),
# the build (build/controller/poolguard-controller, or POOLGUARD_BUILD_DIR) and Go
# (GO_VERSION) with the Go module proxy the first time (the Go binary is cached).
#
# Design:
# - Go side: the real, unmodified sample-controller program (module k8s.io/sample-controller,
#   its main package, 2 workers, 30 s informer resync, klog at its default level), built by
#   `go install k8s.io/sample-controller@VERSION` with the project's Go environment
#   (localcluster/lib/goenv.sh) and its own published go.mod/go.sum, so no go.mod is added
#   to this repository. VERSION is the cluster's staging version (v0.<minor>.<patch> of
#   KUBERNETES_VERSION) when the module proxy serves it, else the newest version it lists
#   (printed; the proxy refused the cluster's version when this was written). The binary
#   is cached in $POOLGUARD_CACHE_DIR (<repo>/.cache)/bench/sample-controller-VERSION-GO.
#   Its Foo CRD is the module's artifacts/examples/crd-status-subresource.yaml with one
#   change: spec.replicas' minimum 1 becomes 0, so that the N Foos have `replicas: 0` and
#   no pod runs (the namespace also gets a ResourceQuota of 0 pods, for the latency Foo
#   that goes to 1 replica). Each Foo foo-i makes sample-controller create Deployment d-i
#   and write the Foo's status; it counts a reconcile per "Successfully synced" log line.
#   Unmodified, its clients have client-go's default rate limit (QPS 5, Burst 10; each
#   reconcile writes the Foo's status): at N=1000 its 30 s resync asks for 33 reconciles/s,
#   it does 5/s, so its queue never drains and a spec change waits behind it for minutes
#   (the Go latency sampling then stops at the first 30 s time-out). With
#   SAMPLE_CONTROLLER_QPS=Q its main.go gets one line, `cfg.QPS, cfg.Burst = Q, 2Q`,
#   before it makes its clients (built from a copy of the module with its go.mod/go.sum,
#   cached as sample-controller-qpsQ): the same program without that limit.
#   poolguard-controller has no client-side rate limit.
# - poolguard side: as bench/scale.sh, N dry-run Remediations (interval INTERVAL, default
#   30s like sample-controller's resync, so both reconcile every object about as often),
#   targeting the Deployments d-i (the same N objects in both caches) and a Service with
#   no endpoints; --namespaces=the namespace, metrics on a loopback port; reconciles from
#   controller_runtime_reconcile_total. sample-controller watches Deployments in all
#   namespaces (it has no namespace flag), the bench's namespace holds nearly all of them.
# - RSS: VmRSS from /proc (MB = MiB): idle 20 s after start; at N after the 45 s settle,
#   before poolguard's /metrics is first read, and again after the window (poolguard's RSS
#   rose by steps at some /metrics reads in a trial). CPU: utime+stime from /proc/PID/stat
#   over the window.
# - API requests per controller: each runs as its own ServiceAccount (token kubeconfig,
#   bound to cluster-admin), and a FlowSchema per ServiceAccount (API Priority and
#   Fairness, priority level `exempt`, so nothing is queued or throttled) sorts its
#   requests; apiserver_flowcontrol_dispatched_requests_total{flow_schema=...} counts
#   them (every request, watches once when they start), both controllers measured in the
#   same window.
# - Latency: a watch (kubectl get --raw ...?watch=1, stamped by jq's `now` as each event
#   arrives) on the objects. poolguard: patch Remediation synth-0's detection.interval,
#   from the event carrying the new metadata.generation to the first with
#   status.observedGeneration >= it. Go: patch Foo foo-0's spec.replicas (0 <-> 1), from
#   the Foo event with the new generation to the first event of Deployment d-0 with
#   spec.replicas equal to it (its last write that changes anything: the status it then
#   writes is unchanged). Samples alternate between the two. p99 is nearest-rank, so with
#   fewer than 100 samples it is the largest.
# shellcheck disable=SC2031  # REPO_DIR: sample_controller's subshell sets it again, same value
set -euo pipefail
export POOLGUARD_TEST_KUBECONFIG="${POOLGUARD_TEST_KUBECONFIG:-${KUBECONFIG:?set KUBECONFIG to a local cluster (localcluster/up)}}"
N=${1:-1000}
WINDOW=${2:-60}
SAMPLES=${3:-50}
INTERVAL=${4:-30s}
TEST_NAME=compare
# shellcheck source=../tests/cluster/lib.sh
source "$(dirname "$0")/../tests/cluster/lib.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
use_test_cluster jq curl
CTL="${POOLGUARD_BUILD_DIR:-$REPO_DIR/build}/controller/poolguard-controller"
[[ -x "$CTL" ]] || fail "$CTL is not built (scripts/build)"
NS="compare-$(date +%s)"
WORK="$(mktemp -d /tmp/poolguard-compare.XXXXXX)"
PG_PID="" GO_PID="" WATCH_PIDS=()
cleanup() {
  local p
  for p in "$PG_PID" "$GO_PID" "${WATCH_PIDS[@]}"; do [[ -z "$p" ]] || kill "$p" 2>/dev/null || true; done
  kubectl delete flowschema "bench-pg-$NS" "bench-go-$NS" --ignore-not-found >/dev/null 2>&1 || true
  kubectl delete clusterrolebinding "bench-pg-$NS" "bench-go-$NS" --ignore-not-found >/dev/null 2>&1 || true
  kubectl delete namespace "$NS" --wait=false >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# ---- the Go controller's binary ---------------------------------------------------------
# sample_controller [QPS]: prints "VERSION BINARY MODULE-DIR" of a sample-controller
# binary, building it once per version (and QPS). With QPS, its main.go is patched to set
# the rest config's QPS and Burst (2 x QPS) before it makes its clients.
# (A subshell: localcluster's common.sh sets REPO_DIR, log and die of its own.)
# shellcheck disable=SC2030
sample_controller() (
  # shellcheck source=../localcluster/lib/common.sh
  source "$REPO_DIR/localcluster/lib/common.sh"
  # shellcheck source=../localcluster/lib/goenv.sh
  source "$LC_DIR/lib/goenv.sh"
  setup_go_env
  IFS=. read -r _ minor patch <<<"${KUBERNETES_VERSION#v}"
  local want="v0.$minor.$patch" ver="" dir bin src qps="${1:-}"
  if [[ -x "$CACHE_DIR/bench/sample-controller-$want-$GO_VERSION/sample-controller" ]]; then
    ver=$want
  elif (cd /tmp && GOFLAGS=-mod=mod go mod download k8s.io/sample-controller@"$want") >/dev/null 2>&1; then
    ver=$want
  else
    ver="$(cd /tmp && GOFLAGS=-mod=mod go list -m -versions k8s.io/sample-controller | awk '{print $NF}')"
    [[ "$ver" == v* ]] || die "the Go module proxy serves no version of k8s.io/sample-controller"
    log "the Go module proxy does not serve k8s.io/sample-controller@$want; using $ver, the newest it lists"
  fi
  (cd /tmp && GOFLAGS=-mod=mod go mod download k8s.io/sample-controller@"$ver") >/dev/null ||
    die "cannot download k8s.io/sample-controller@$ver"
  src="$GOMODCACHE/k8s.io/sample-controller@$ver"
  dir="$CACHE_DIR/bench/sample-controller-$ver-$GO_VERSION"
  bin="$dir/sample-controller${qps:+-qps$qps}"
  if [[ ! -x "$bin" && -z "$qps" ]]; then
    log "building k8s.io/sample-controller@$ver into $dir"
    mkdir -p "$dir"
    (cd /tmp && GOBIN="$dir" go install -trimpath -ldflags='-s -w' "k8s.io/sample-controller@$ver") >&2 ||
      die "go install k8s.io/sample-controller@$ver failed"
  elif [[ ! -x "$bin" ]]; then
    log "building k8s.io/sample-controller@$ver with QPS $qps, Burst $((2 * qps)) into $bin"
    local tmp
    tmp="$(mktemp -d /tmp/sample-controller.XXXXXX)"
    cp -r "$src/." "$tmp/" && chmod -R u+w "$tmp"
    grep -q '^	kubeClient, err := kubernetes.NewForConfig(cfg)$' "$tmp/main.go" ||
      die "$src/main.go: no 'kubeClient, err := kubernetes.NewForConfig(cfg)' line to patch"
    sed -i "s/^	kubeClient, err := kubernetes.NewForConfig(cfg)\$/	cfg.QPS, cfg.Burst = $qps, $((2 * qps))\n&/" "$tmp/main.go"
    mkdir -p "$dir"
    (cd "$tmp" && go build -trimpath -ldflags='-s -w' -o "$bin" .) >&2 || die "go build of the patched sample-controller failed"
    rm -rf "$tmp"
  fi
  echo "$ver $bin $src"
)
GO_QPS=${SAMPLE_CONTROLLER_QPS:-}
read -r GO_VER GO_BIN GO_SRC <<<"$(sample_controller "$GO_QPS")"
[[ -x "${GO_BIN:-}" ]] || fail "no sample-controller binary"

# ---- namespace, identities, CRDs -------------------------------------------------------------
kubectl apply -f "$REPO_DIR/crds/" >/dev/null
sed 's/minimum: 1$/minimum: 0/' "$GO_SRC/artifacts/examples/crd-status-subresource.yaml" | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Established crd/foos.samplecontroller.k8s.io crd/remediations.poolguard.dev >/dev/null
# sample-controller watches every namespace: an earlier run's Foos (a namespace still
# being deleted) would be its work too.
leftovers() { kubectl get foos -A --no-headers 2>/dev/null | wc -l; }
deadline=$((SECONDS + 600))
while (($(leftovers) > 0)); do
  ((SECONDS < deadline)) || fail "$(leftovers) Foos of an earlier run are still there after 600 s (kubectl get foos -A)"
  echo "waiting for $(leftovers) Foos of an earlier run to be deleted" >&2
  sleep 10
done
kubectl create namespace "$NS" >/dev/null
kubectl create quota no-pods -n "$NS" --hard=pods=0 >/dev/null
kubectl create secret generic creds -n "$NS" --from-literal=username=app \
  --from-literal=password=x --from-literal=database=app >/dev/null
kubectl create service clusterip synth -n "$NS" --tcp=80:80 >/dev/null

server="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
ca="$(kubectl config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
# identity WHO: ServiceAccount WHO (cluster-admin), its kubeconfig $WORK/WHO.kubeconfig and
# a FlowSchema bench-WHO-$NS that counts its requests.
identity() {
  local who=$1 token
  kubectl create serviceaccount "$who" -n "$NS" >/dev/null
  kubectl create clusterrolebinding "bench-$who-$NS" --clusterrole=cluster-admin \
    --serviceaccount="$NS:$who" >/dev/null
  token="$(kubectl create token "$who" -n "$NS" --duration=3h)"
  cat >"$WORK/$who.kubeconfig" <<YAML
apiVersion: v1
kind: Config
clusters:
- name: c
  cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
- name: $who
  user: {token: "$token"}
contexts:
- name: $who
  context: {cluster: c, user: $who}
current-context: $who
YAML
  kubectl apply -f - >/dev/null <<YAML
apiVersion: flowcontrol.apiserver.k8s.io/v1
kind: FlowSchema
metadata: {name: bench-$who-$NS}
spec:
  matchingPrecedence: 50
  priorityLevelConfiguration: {name: exempt}
  rules:
  - subjects: [{kind: ServiceAccount, serviceAccount: {name: $who, namespace: $NS}}]
    resourceRules: [{verbs: ["*"], apiGroups: ["*"], resources: ["*"], namespaces: ["*"], clusterScope: true}]
    nonResourceRules: [{verbs: ["*"], nonResourceURLs: ["*"]}]
YAML
}
identity pg
identity go
# "pg go": requests each ServiceAccount has made so far.
requests() {
  kubectl get --raw /metrics | awk -v pg="bench-pg-$NS" -v go="bench-go-$NS" '
    /^apiserver_flowcontrol_dispatched_requests_total\{/ {
      if (index($0, "flow_schema=\"" pg "\"")) p += $NF
      if (index($0, "flow_schema=\"" go "\"")) g += $NF
    }
    END { printf "%d %d\n", p, g }'
}

# ---- both controllers --------------------------------------------------------------------
port=$((20000 + RANDOM % 20000))
"$CTL" --kubeconfig="$WORK/pg.kubeconfig" --namespaces="$NS" --leader-elect=false \
  --metrics-bind-address="127.0.0.1:$port" --health-probe-bind-address=0 --log-level=warning \
  >"$WORK/pg.log" 2>&1 &
PG_PID=$!
"$GO_BIN" -kubeconfig="$WORK/go.kubeconfig" >"$WORK/go.log" 2>&1 &
GO_PID=$!
pg_reconciles() {
  curl -fsS "http://127.0.0.1:$port/metrics" |
    awk '/^controller_runtime_reconcile_total\{controller="remediation"/ {n += $NF} END {print n + 0}'
}
go_reconciles() { grep -c 'Successfully synced' "$WORK/go.log" || true; }
alive() {
  kill -0 "$PG_PID" 2>/dev/null || { tail -20 "$WORK/pg.log" >&2; fail "poolguard-controller exited"; }
  kill -0 "$GO_PID" 2>/dev/null || { tail -20 "$WORK/go.log" >&2; fail "sample-controller exited"; }
}
wait_for "poolguard-controller's metrics" 30 curl -fsS "http://127.0.0.1:$port/metrics"
wait_for "sample-controller's workers" 30 grep 'Started workers' "$WORK/go.log"
IDLE=20
read -r q0p q0g <<<"$(requests)"
sleep "$IDLE"
read -r q1p q1g <<<"$(requests)"
alive
idle_pg=$(proc_rss "$PG_PID") idle_go=$(proc_rss "$GO_PID")

# ---- N resources -----------------------------------------------------------------------------
: >"$WORK/foos.yaml"
: >"$WORK/remediations.yaml"
for ((i = 0; i < N; i++)); do
  cat >>"$WORK/foos.yaml" <<YAML
---
apiVersion: samplecontroller.k8s.io/v1alpha1
kind: Foo
metadata: {name: foo-$i, namespace: $NS}
spec: {deploymentName: d-$i, replicas: 0}
YAML
  synthetic_remediation "synth-$i" "$NS" "d-$i" "$INTERVAL" >>"$WORK/remediations.yaml"
done
start=$SECONDS
kubectl apply --server-side -f "$WORK/foos.yaml" >/dev/null
deployments() { kubectl get deployments -n "$NS" --no-headers 2>/dev/null | wc -l; }
deadline=$((SECONDS + 600))
until (($(deployments) >= N)); do
  ((SECONDS < deadline)) || fail "sample-controller made $(deployments) of $N Deployments in 600 s"
  sleep 2
done
echo "created $N Foos; sample-controller made their $N Deployments in $((SECONDS - start)) s" >&2
start=$SECONDS
kubectl apply --server-side -f "$WORK/remediations.yaml" >/dev/null
echo "created $N Remediations in $((SECONDS - start)) s; settling 45 s" >&2
sleep 45 # every Remediation has ticked, every Foo has been resynced
alive
# before poolguard's /metrics is first read: in a trial, its RSS rose ~18 MB at some
# scrapes (66 -> 84 -> 102 MB over 5 scrapes of 17 KB each) and stayed there
settled_pg=$(proc_rss "$PG_PID") settled_go=$(proc_rss "$GO_PID")
c0p=$(proc_cpu_ticks "$PG_PID") c0g=$(proc_cpu_ticks "$GO_PID")
r0p=$(pg_reconciles) r0g=$(go_reconciles)
read -r w0p w0g <<<"$(requests)"
sleep "$WINDOW"
c1p=$(proc_cpu_ticks "$PG_PID") c1g=$(proc_cpu_ticks "$GO_PID")
r1p=$(pg_reconciles) r1g=$(go_reconciles)
read -r w1p w1g <<<"$(requests)"
alive
full_pg=$(proc_rss "$PG_PID") full_go=$(proc_rss "$GO_PID")

# ---- latency of a spec change -------------------------------------------------------------
# watch_events FILE JQ PATH NAME: a watch on object NAME under PATH; one compact JSON array
# a line, [arrival time, JQ...], per event.
watch_events() {
  kubectl get --raw "$3?watch=1&fieldSelector=metadata.name%3D$4" |
    jq -c --unbuffered "[now, $2]" >"$1" &
  WATCH_PIDS+=($!)
}
watch_events "$WORK/w-rem" '.object.metadata.generation, (.object.status.observedGeneration // 0)' \
  "/apis/poolguard.dev/v1alpha1/namespaces/$NS/remediations" synth-0
watch_events "$WORK/w-foo" '.object.metadata.generation' \
  "/apis/samplecontroller.k8s.io/v1alpha1/namespaces/$NS/foos" foo-0
watch_events "$WORK/w-dep" '.object.spec.replicas' "/apis/apps/v1/namespaces/$NS/deployments" d-0
for f in w-rem w-foo w-dep; do wait_for "the watch $f" 30 test -s "$WORK/$f"; done
# Fields of a watch line split on -F'[][,]': $2 arrival time, $3 and $4 the JQ values.
observed() { awk -F'[][,]' -v g="$1" '$4 + 0 >= g {f = 1} END {exit !f}' "$WORK/w-rem"; }
foo_seen() { awk -F'[][,]' -v g="$1" '$3 + 0 == g {f = 1} END {exit !f}' "$WORK/w-foo"; }
dep_follows() { tail -n 1 "$WORK/w-dep" | awk -F'[][,]' -v v="$1" '{exit !($3 + 0 == v)}'; }
# poll COMMAND...: until it succeeds, 30 s at most (then returns 1).
poll() {
  local deadline=$((SECONDS + 30))
  until "$@"; do
    ((SECONDS < deadline)) || return 1
    sleep 0.05
  done
}
base=${INTERVAL%s}
: >"$WORK/pg-samples" # generation
: >"$WORK/go-samples" # generation replicas
go_saturated=0
for ((k = 1; k <= SAMPLES; k++)); do
  g=$(kubectl patch remediation synth-0 -n "$NS" --type=merge -o jsonpath='{.metadata.generation}' \
    -p "{\"spec\":{\"detection\":{\"interval\":\"$((base + k % 2))s\"}}}")
  if poll observed "$g"; then
    echo "$g" >>"$WORK/pg-samples"
  else
    note "Remediation generation $g not observed in 30 s"
  fi
  ((go_saturated)) && continue
  v=$((k % 2))
  g=$(kubectl patch foo foo-0 -n "$NS" --type=merge -o jsonpath='{.metadata.generation}' \
    -p "{\"spec\":{\"replicas\":$v}}")
  if poll foo_seen "$g" && poll dep_follows "$v"; then
    echo "$g $v" >>"$WORK/go-samples"
  else
    note "Deployment d-0 did not follow Foo generation $g in 30 s: no more samples of sample-controller"
    go_saturated=1
  fi
done
alive
# Latencies in ms, one a line.
pg_lat() {
  awk -F'[][,]' 'FILENAME == ARGV[1] { want[$1] = 1; next }
    { t = $2; g = $3; o = $4
      if (!(g in seen)) seen[g] = t
      for (w in want) if (!(w in done) && o + 0 >= w + 0 && (w in seen)) { done[w] = 1; printf "%.3f\n", 1000 * (t - seen[w]) } }' \
    "$WORK/pg-samples" "$WORK/w-rem"
}
go_lat() {
  local g v t0
  while read -r g v; do
    t0=$(awk -F'[][,]' -v g="$g" '$3 + 0 == g {print $2; exit}' "$WORK/w-foo")
    awk -F'[][,]' -v t0="$t0" -v v="$v" '$2 >= t0 && $3 + 0 == v {printf "%.3f\n", 1000 * ($2 - t0); exit}' "$WORK/w-dep"
  done <"$WORK/go-samples"
}
pct() { # FILE: "p50 p99 max n" (nearest rank)
  sort -g "$1" | awk '{v[NR] = $1} END {
    if (!NR) { print "- - - 0"; exit }
    i50 = int(0.5 * NR); if (i50 < 0.5 * NR) i50++; i99 = int(0.99 * NR); if (i99 < 0.99 * NR) i99++
    printf "%.1f %.1f %.1f %d\n", v[i50], v[i99], v[NR], NR }'
}
pg_lat >"$WORK/pg-lat"
go_lat >"$WORK/go-lat"
read -r lp50 lp99 lpmax lpn <<<"$(pct "$WORK/pg-lat")"
read -r lg50 lg99 lgmax lgn <<<"$(pct "$WORK/go-lat")"

# ---- figures ---------------------------------------------------------------------------------
hz=$(getconf CLK_TCK)
yes_no() { awk "BEGIN {print ($1) ? \"met\" : \"NOT met\"}"; }
echo
echo "poolguard-controller ($CTL, --workers default, Remediation interval $INTERVAL)"
echo "  vs sample-controller (k8s.io/sample-controller@$GO_VER, $GO_BIN, 2 workers, 30 s resync,"
if [[ -n "$GO_QPS" ]]; then
  echo "  client rate limit QPS $GO_QPS, Burst $((2 * GO_QPS)): main.go patched)"
else
  echo "  client rate limit client-go's default QPS 5, Burst 10: unmodified)"
fi
echo "  on $(kubectl version -o json | jq -r .serverVersion.gitVersion), namespace $NS, N=$N, window ${WINDOW}s"
printf '%-44s %16s %16s\n' "" "poolguard" "sample-controller"
printf '%-44s %16s %16s\n' "RSS idle (no resources), MB" "$idle_pg" "$idle_go"
printf '%-44s %16s %16s\n' "RSS at $N resources (+ $N Deployments), MB" "$settled_pg" "$settled_go"
printf '%-44s %16s %16s\n' "  same after the window (2 /metrics reads), MB" "$full_pg" "$full_go"
printf '%-44s %16s %16s\n' "  peak RSS (VmHWM), MB" "$(proc_hwm "$PG_PID")" "$(proc_hwm "$GO_PID")"
awk -v w="$WINDOW" -v hz="$hz" -v cp=$((c1p - c0p)) -v cg=$((c1g - c0g)) -v np=$((r1p - r0p)) -v ng=$((r1g - r0g)) 'BEGIN {
  printf "%-44s %16.1f %16.1f\n", "reconciles/s in the window", np / w, ng / w
  printf "%-44s %15.1f%% %15.1f%%\n", "CPU in the window, % of a core", 100 * cp / hz / w, 100 * cg / hz / w
  printf "%-44s %16.3f %16.3f\n", "CPU per reconcile, ms", (np ? 1000 * cp / hz / np : 0), (ng ? 1000 * cg / hz / ng : 0) }'
awk -v i="$IDLE" -v w="$WINDOW" -v ip=$((q1p - q0p)) -v ig=$((q1g - q0g)) -v wp=$((w1p - w0p)) -v wg=$((w1g - w0g)) 'BEGIN {
  printf "%-44s %16.2f %16.2f\n", "API requests/s idle", ip / i, ig / i
  printf "%-44s %16.2f %16.2f\n", "API requests/s at N", wp / w, wg / w }'
printf '%-44s %16s %16s\n' "spec-change reconcile latency p50, ms" "$lp50" "$lg50"
printf '%-44s %16s %16s\n' "spec-change reconcile latency p99, ms" "$lp99" "$lg99"
printf '%-44s %16s %16s\n' "  max, ms (samples)" "$lpmax ($lpn)" "$lgmax ($lgn)"
((!go_saturated)) || echo "  sample-controller: a spec change was not reconciled within 30 s (its queue is saturated); sampling stopped"
echo
echo "issue 16's floors for poolguard:"
echo "  idle RSS $idle_pg MB < 30 MB: $(yes_no "$idle_pg < 30")"
for pair in "$settled_pg $settled_go before /metrics reads" "$full_pg $full_go after the window"; do
  read -r a b when <<<"$pair"
  echo "  RSS at $N resources ($when) $a MB < 60 MB: $(yes_no "$a < 60")$( ((N == 1000)) || echo " (the floor is for N=1000)")"
  echo "  RSS at $N resources ($when) $a MB <= half of sample-controller's $b MB: $(yes_no "$a <= $b / 2")"
done
