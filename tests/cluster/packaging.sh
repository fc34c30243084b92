#!/usr/bin/env bash
# What users apply, checked against the local cluster's real API server:
#  - the Helm chart: its CRDs and dashboard match their sources (helm/sync-crds
#    --check), `helm lint --strict`, bad values rejected by values.schema.json with
#    a message, and the chart rendered with default and non-default values passes a
#    server-side dry run (after the CRDs are applied for real);
#  - the kustomize overlays (kind, local) and the controller's kustomize copy render
#    and pass a server-side dry run; its ClusterRoles match the chart's;
#  - manifests/examples/ (when present) pass a server-side dry run;
#  - the Grafana dashboard parses and every metric its PromQL names is exported by a
#    live poolguard-target (on a throwaway PostgreSQL) or poolguard-controller;
#  - RBAC, applied for real: the api's identity may not patch Deployments nor read
#    Secrets; the controller's may do each thing its reconcilers need and nothing
#    it must not; docs/rbac.md's `kubectl auth can-i --list` tables match the server.
#
# Needs POOLGUARD_TEST_KUBECONFIG (scripts/test exports it) and the built binaries in
# POOLGUARD_BUILD_DIR (default <repo>/build). POOLGUARD_UPDATE_DOCS=1 rewrites the
# tables in docs/rbac.md instead of comparing them.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
BUILD_DIR="${POOLGUARD_BUILD_DIR:-$REPO_DIR/build}"
CHART="$REPO_DIR/helm/poolguard"
use_test_cluster helm jq curl python3

WORK="$(mktemp -d /tmp/poolguard-packaging.XXXXXX)"
chmod 0755 "$WORK"
PIDS=()
CLEANUP_CMDS=()
cleanup() {
  local rc=$? pid i
  for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  for ((i = ${#CLEANUP_CMDS[@]} - 1; i >= 0; i--)); do eval "${CLEANUP_CMDS[i]}" >/dev/null 2>&1 || true; done
  rm -rf "$WORK" || true
  exit "$rc"
}
trap cleanup EXIT INT TERM

# Prints the objects of a multi-document YAML stream (stdin) whose kind is one of $@.
select_kinds() {
  kubectl create --dry-run=client -o json -f - |
    jq -s --arg kinds "$*" '($kinds | split(" ")) as $k | {apiVersion: "v1", kind: "List",
      items: [.[] | (if .kind == "List" then .items[] else . end) | select(.kind as $x | $k | index($x))]}'
}
# server-side dry run of a YAML stream on stdin; $1 names it in messages.
dry_run() {
  local what="$1" out
  if ! out="$(kubectl apply --dry-run=server -f - 2>&1)"; then
    fail "server-side dry run of $what failed:
$out"
  fi
  ok "$what: $(grep -c . <<<"$out") objects pass a server-side dry run"
}

# ---------------------------------------------------------------------- chart
check "the chart's CRDs and dashboard are byte-identical to crds/ and manifests/base (helm/sync-crds --check)"
"$REPO_DIR/helm/sync-crds" --check || fail "the chart's copies are stale: run helm/sync-crds and commit"
ok "in sync"

check "helm lint --strict, default and non-default values"
for values in "" "$CHART/ci/nondefault-values.yaml"; do
  out="$(helm lint --strict "$CHART" ${values:+-f "$values"} 2>&1)" || fail "helm lint ${values:+-f $values} failed:
$out"
  grep -q '0 chart(s) failed' <<<"$out" || fail "helm lint did not report success: $out"
  ! grep -Eq '\[(WARNING|ERROR)\]' <<<"$out" || fail "helm lint has warnings: $out"
done
ok "lint clean"

check "bad values are rejected by values.schema.json, naming the value"
expect_schema_error() { # message-substring helm-args...
  local want="$1" out
  shift
  if out="$(helm template poolguard "$CHART" "$@" 2>&1)"; then fail "helm template $* was accepted"; fi
  grep -q "values don't meet the specifications of the schema" <<<"$out" ||
    fail "helm template $* failed, but not through the schema: $out"
  grep -qF -- "$want" <<<"$out" || fail "schema error for $* does not say '$want': $out"
}
expect_schema_error "at '/logLevel': value must be one of" --set logLevel=verbose
expect_schema_error "at '/replicaCount': minimum" --set replicaCount=-1
expect_schema_error "at '/image/pullPolicy'" --set image.pullPolicy=Sometimes
expect_schema_error "'Bad_NS' does not match pattern" --set 'targetNamespaces[0]=Bad_NS'
expect_schema_error "additional properties 'replicas' not allowed" --set replicas=3
expect_schema_error "at '/leaderElection/enabled': value must be true" --set replicaCount=2 --set leaderElection.enabled=false
expect_schema_error "at '/metrics/port'" --set metrics.port=70000
expect_schema_error "at '/maxConnectionsPerExperiment'" --set maxConnectionsPerExperiment=0
ok "8 kinds of bad values rejected with a message"

check "the CRDs apply for real and become Established"
kubectl apply --server-side --force-conflicts -f "$CHART/crds/" >/dev/null || fail "applying the chart's CRDs failed"
kubectl wait --for=condition=Established --timeout=60s crd/chaosexperiments.poolguard.dev crd/chaosschedules.poolguard.dev crd/remediations.poolguard.dev >/dev/null ||
  fail "the CRDs did not become Established"
ok "chaosexperiments.poolguard.dev, remediations.poolguard.dev Established"

# The non-default values render a ServiceMonitor: give the API server a minimal
# stand-in for the Prometheus Operator's CRD (removed afterwards) so it can be dry-run.
if ! kubectl get crd servicemonitors.monitoring.coreos.com >/dev/null 2>&1; then
  kubectl apply -f - >/dev/null <<'EOF' || fail "cannot create the ServiceMonitor stand-in CRD"
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  scope: Namespaced
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
  CLEANUP_CMDS+=("kubectl delete crd servicemonitors.monitoring.coreos.com --wait=false")
  kubectl wait --for=condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com >/dev/null ||
    fail "the ServiceMonitor stand-in CRD did not become Established"
fi

# The namespaces the manifests name, for real (removed afterwards if they were not there).
for ns in poolguard-system poolguard-demo; do
  # A namespace still terminating (a previous run) must be gone before it is made again.
  deadline=$((SECONDS + 90))
  while [[ "$(kubectl get namespace "$ns" -o jsonpath='{.status.phase}' 2>/dev/null)" == Terminating ]]; do
    ((SECONDS < deadline)) || fail "namespace $ns has been Terminating for 90s"
    sleep 0.5
  done
  if ! kubectl get namespace "$ns" >/dev/null 2>&1; then
    kubectl create namespace "$ns" >/dev/null || fail "cannot create namespace $ns"
    CLEANUP_CMDS+=("kubectl delete namespace $ns --timeout=90s")
  fi
done

check "helm template (default values) passes a server-side dry run"
helm template poolguard "$CHART" -n poolguard-system >"$WORK/chart-default.yaml" || fail "helm template failed"
dry_run "chart, default values" <"$WORK/chart-default.yaml"
grep -q 'grafana_dashboard' "$WORK/chart-default.yaml" && fail "the default render includes the dashboard ConfigMap (grafanaDashboard.enabled is false)"
grep -q 'kind: ServiceMonitor' "$WORK/chart-default.yaml" && fail "the default render includes a ServiceMonitor (metrics.serviceMonitor.enabled is false)"
ok "no ServiceMonitor or dashboard by default"

check "helm template (helm/poolguard/ci/nondefault-values.yaml) passes a server-side dry run"
helm template poolguard "$CHART" -n poolguard-system -f "$CHART/ci/nondefault-values.yaml" >"$WORK/chart-ci.yaml" ||
  fail "helm template with non-default values failed"
dry_run "chart, non-default values" <"$WORK/chart-ci.yaml"
for want in 'kind: ServiceMonitor' 'grafana_dashboard: "1"' '--namespaces=poolguard-demo,default' \
            'image: "registry.example.com/poolguard/controller:0.1.0-ci"' 'replicas: 2' '--workers=8'; do
  grep -qF -- "$want" "$WORK/chart-ci.yaml" || fail "the non-default render lacks: $want"
done
# The dashboard in the ConfigMap is the JSON itself.
select_kinds ConfigMap <"$WORK/chart-ci.yaml" | jq -e '.items[] | select(.metadata.name == "pg-ctl-dashboard")
  | .data["poolguard.json"] | fromjson | .uid == "poolguard"' >/dev/null ||
  fail "the dashboard ConfigMap does not hold the dashboard JSON"
ok "ServiceMonitor, dashboard ConfigMap (valid JSON), namespaces, image, replicas and extra args rendered"

# ------------------------------------------------------------------ kustomize
for overlay in kind local; do
  check "kubectl kustomize manifests/overlays/$overlay renders and passes a server-side dry run"
  kubectl kustomize "$REPO_DIR/manifests/overlays/$overlay" >"$WORK/overlay-$overlay.yaml" ||
    fail "kubectl kustomize manifests/overlays/$overlay failed"
  dry_run "overlay $overlay" <"$WORK/overlay-$overlay.yaml"
done
select_kinds Service <"$WORK/overlay-kind.yaml" | jq -e '[.items[] | select(.spec.type == "NodePort")
  | .spec.ports[0].nodePort] | sort == [30300, 30800, 30900]' >/dev/null ||
  fail "the kind overlay does not expose api, Prometheus and Grafana on NodePorts 30800, 30900, 30300"
for port in 30800 30900 30300; do
  grep -q "containerPort: $port" "$REPO_DIR/kind-config.yaml" || fail "kind-config.yaml does not map NodePort $port"
done
ok "kind overlay NodePorts match kind-config.yaml"
select_kinds Deployment <"$WORK/overlay-local.yaml" | jq -e '[.items[] | select(.spec.template.spec.containers[].image
  | test("^grafana/"))] | length == 0' >/dev/null || fail "the local overlay still runs Grafana (not in localnode's image table)"
select_kinds Deployment <"$WORK/overlay-kind.yaml" | jq -e '.items[] | select(.metadata.name == "api") | .spec.template.spec
  | .automountServiceAccountToken == false and .containers[0].livenessProbe.httpGet.path == "/livez"
    and .containers[0].readinessProbe.httpGet.path == "/health"' >/dev/null ||
  fail "the api Deployment must have automountServiceAccountToken: false, liveness /livez, readiness /health"
ok "api: no token, liveness /livez, readiness /health"

check "manifests/base/controller and manifests/base/console (without Helm) pass a server-side dry run; their ClusterRoles match the chart's"
kubectl kustomize "$REPO_DIR/manifests/base/controller" >"$WORK/controller-kustomize.yaml" ||
  fail "kubectl kustomize manifests/base/controller failed"
dry_run "manifests/base/controller" <"$WORK/controller-kustomize.yaml"
kubectl kustomize "$REPO_DIR/manifests/base/console" >"$WORK/console-kustomize.yaml" ||
  fail "kubectl kustomize manifests/base/console failed"
dry_run "manifests/base/console" <"$WORK/console-kustomize.yaml"
{
  echo ---
  cat "$WORK/console-kustomize.yaml"
} >>"$WORK/controller-kustomize.yaml"
rules() { select_kinds ClusterRole Role | jq -S '[.items[] | {kind, name: .metadata.name, rules}] | sort_by(.name)'; }
rules <"$WORK/controller-kustomize.yaml" >"$WORK/rules-kustomize.json"
rules <"$WORK/chart-default.yaml" >"$WORK/rules-chart.json"
diff -u "$WORK/rules-chart.json" "$WORK/rules-kustomize.json" >"$WORK/rules.diff" ||
  fail "the RBAC rules of manifests/base/controller differ from the chart's:
$(cat "$WORK/rules.diff")"
ok "same ClusterRoles and Role, same rules"

if compgen -G "$REPO_DIR/manifests/examples/*.yaml" >/dev/null; then
  check "manifests/examples/*.yaml pass a server-side dry run (validated by the CRDs' schemas)"
  for f in "$REPO_DIR"/manifests/examples/*.yaml; do
    dry_run "examples/${f##*/}" <"$f"
  done
else
  note "manifests/examples/ has no examples yet: nothing to dry-run there"
fi

# ------------------------------------------------------------------ dashboard
check "the dashboard JSON parses, and every metric its PromQL names is exported"
DASHBOARD="$REPO_DIR/manifests/base/monitoring/dashboards/poolguard.json"
jq -e '.uid and (.panels | length > 0)' "$DASHBOARD" >/dev/null || fail "$DASHBOARD does not parse as a dashboard"
# Metric names in PromQL: identifiers outside {...}, [...], strings and by/without(...)
# lists that are not functions, keywords or aggregation operators.
jq -r '.. | objects | select(has("expr")) | .expr' "$DASHBOARD" >"$WORK/exprs.txt"
jq -r '.templating.list[] | select(.type == "query") | .definition' "$DASHBOARD" >>"$WORK/exprs.txt"
python3 - "$WORK/exprs.txt" >"$WORK/dashboard-metrics.txt" <<'EOF'
import re, sys
keywords = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or",
            "unless", "offset", "inf", "nan"}
names = set()
for expr in open(sys.argv[1]):
    e = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    for _ in range(5):
        e = re.sub(r'\{[^{}]*\}', ' ', e)
    e = re.sub(r'\[[^\]]*\]', ' ', e)
    e = re.sub(r'\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)', ' ', e)
    e = re.sub(r'label_values\(\s*([a-zA-Z_:][a-zA-Z0-9_:]*)\s*,[^)]*\)', r' \1 ', e)
    for m in re.finditer(r'([a-zA-Z_:][a-zA-Z0-9_:]*)(\s*\()?', e):
        word, call = m.group(1), m.group(2)
        if call or word in keywords or re.fullmatch(r'[0-9.e]+', word):
            continue
        if m.start() > 0 and (e[m.start() - 1].isdigit() or e[m.start() - 1] == '.'):
            continue  # the 'e' of 1e-9
        names.add(word)
print("\n".join(sorted(names)))
EOF
[[ -s "$WORK/dashboard-metrics.txt" ]] || fail "found no metric names in the dashboard's PromQL"
ok "$(grep -c . "$WORK/dashboard-metrics.txt") metric names in $(grep -c . "$WORK/exprs.txt") expressions"

# Exported names from a scrape: sample names, plus every family's TYPE line
# (histograms expand to _bucket, _sum, _count).
exported_names() {
  python3 -c '
import re, sys
names = set()
for line in sys.stdin:
    m = re.match(r"# TYPE (\S+) (\S+)", line)
    if m:
        names.add(m.group(1))
        if m.group(2) in ("histogram", "summary"):
            names.update(m.group(1) + s for s in ("_bucket", "_sum", "_count"))
        continue
    m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)[{ ]", line)
    if m:
        names.add(m.group(1))
print("\n".join(sorted(names)))'
}
# A free port below the ephemeral range (32768-60999), where an outgoing connection could
# take it before the process under test binds it, and apart from scripts/pg's and
# localcluster's 20000-31999 (tests/support/net.h's FreePort draws from the same range).
free_port() {
  python3 -c '
import random, socket
for _ in range(500):
    port = random.randint(15000, 19999)
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            continue
    print(port)
    break
else:
    raise SystemExit("no free port in 15000-19999")'
}

TARGET_BIN="$BUILD_DIR/target/poolguard-target"
[[ -x "$TARGET_BIN" ]] || fail "$TARGET_BIN is missing: build it (scripts/build --target poolguard-target) or set POOLGUARD_BUILD_DIR"
PG_DIR="$WORK/pg"
"$REPO_DIR/scripts/pg" init "$PG_DIR" >/dev/null || fail "scripts/pg init failed"
CLEANUP_CMDS+=("'$REPO_DIR/scripts/pg' destroy '$PG_DIR'")
"$REPO_DIR/scripts/pg" start "$PG_DIR" >/dev/null || fail "scripts/pg start failed"
TARGET_PORT="$(free_port)"
DATABASE_URL="$("$REPO_DIR/scripts/pg" url "$PG_DIR")" BIND_ADDRESS=127.0.0.1 PORT="$TARGET_PORT" \
  LOG_LEVEL=warning "$TARGET_BIN" >"$WORK/target.log" 2>&1 &
PIDS+=($!)
deadline=$((SECONDS + 60))
until curl -fsS "http://127.0.0.1:$TARGET_PORT/health" >/dev/null 2>&1; do
  kill -0 "${PIDS[-1]}" 2>/dev/null || fail "poolguard-target exited: $(tail -n 20 "$WORK/target.log")"
  ((SECONDS < deadline)) || fail "poolguard-target not healthy after 60s: $(tail -n 20 "$WORK/target.log")"
  sleep 0.3
done
curl -fsS "http://127.0.0.1:$TARGET_PORT/items" >/dev/null || fail "GET /items failed on the target"
curl -sS -o /dev/null "http://127.0.0.1:$TARGET_PORT/nope" || true
curl -fsS "http://127.0.0.1:$TARGET_PORT/metrics" | exported_names >"$WORK/exported.txt" ||
  fail "scraping the target's /metrics failed"
ok "poolguard-target exports $(grep -c . "$WORK/exported.txt") names"

if [[ -d "$REPO_DIR/controller" ]]; then
  CONTROLLER_BIN="$BUILD_DIR/controller/poolguard-controller"
  [[ -x "$CONTROLLER_BIN" ]] ||
    fail "$CONTROLLER_BIN is missing (controller/ exists): build it (scripts/build) or set POOLGUARD_BUILD_DIR"
  # A namespace of its own, so it watches nothing anyone else uses.
  CTRL_NS="pkg-metrics-$RANDOM"
  kubectl create namespace "$CTRL_NS" >/dev/null || fail "cannot create namespace $CTRL_NS"
  CLEANUP_CMDS+=("kubectl delete namespace $CTRL_NS --wait=false")
  METRICS_PORT="$(free_port)"
  HEALTH_PORT="$(free_port)"
  "$CONTROLLER_BIN" --kubeconfig="$KUBECONFIG" --namespaces="$CTRL_NS" \
    --metrics-bind-address="127.0.0.1:$METRICS_PORT" --health-probe-bind-address="127.0.0.1:$HEALTH_PORT" \
    --log-level=warning >"$WORK/controller.log" 2>&1 &
  PIDS+=($!)
  deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$HEALTH_PORT/readyz" >/dev/null 2>&1; do
    kill -0 "${PIDS[-1]}" 2>/dev/null || fail "poolguard-controller exited: $(tail -n 20 "$WORK/controller.log")"
    ((SECONDS < deadline)) || fail "poolguard-controller not ready after 60s: $(tail -n 20 "$WORK/controller.log")"
    sleep 0.3
  done
  # Some families (per-controller histograms) appear only after a reconcile: give it
  # one. The namespace has not opted in to chaos, so it is Rejected and nothing opens.
  kubectl apply -n "$CTRL_NS" -f - >/dev/null <<'EOF' || fail "cannot create the ChaosExperiment that exercises the controller"
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata:
  name: metrics-probe
spec:
  target: {deployment: api}
  database: {service: db, credentialsSecret: db-credentials}
  fault: {type: ConnectionLeak, connectionLeak: {connections: 1, mode: Idle}}
  duration: 10s
EOF
  deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" 2>/dev/null | grep '^controller_runtime_reconcile_time_seconds_count' >/dev/null; do
    ((SECONDS < deadline)) || fail "the controller did not reconcile a ChaosExperiment within 60s: $(tail -n 20 "$WORK/controller.log")"
    sleep 0.3
  done
  curl -fsS "http://127.0.0.1:$METRICS_PORT/metrics" | exported_names >"$WORK/controller-exported.txt" ||
    fail "scraping the controller's /metrics failed"
  ok "poolguard-controller exports $(grep -c . "$WORK/controller-exported.txt") names"
  cat "$WORK/controller-exported.txt" >>"$WORK/exported.txt"
else
  note "controller/ does not exist yet: the dashboard's controller metrics are NOT checked against a live scrape"
fi
sort -u -o "$WORK/exported.txt" "$WORK/exported.txt"
missing="$(comm -23 "$WORK/dashboard-metrics.txt" "$WORK/exported.txt")"
[[ -z "$missing" ]] || fail "the dashboard names metrics nobody exports: $(tr '\n' ' ' <<<"$missing")"
ok "every metric in the dashboard is exported: $(tr '\n' ' ' <"$WORK/dashboard-metrics.txt")"

# ----------------------------------------------------------------------- RBAC
check "RBAC applied for real (chart defaults and the demo overlay's ServiceAccounts and roles)"
RBAC_KINDS=(ServiceAccount ClusterRole ClusterRoleBinding Role RoleBinding)
{ select_kinds "${RBAC_KINDS[@]}" <"$WORK/chart-default.yaml"; } >"$WORK/rbac-chart.json"
{ select_kinds "${RBAC_KINDS[@]}" <"$WORK/overlay-local.yaml"; } >"$WORK/rbac-demo.json"
for f in rbac-chart rbac-demo; do
  kubectl apply -f "$WORK/$f.json" >/dev/null || fail "applying $f for real failed"
  CLEANUP_CMDS+=("kubectl delete --ignore-not-found -f '$WORK/$f.json'")
done
ok "$(jq '.items | length' "$WORK/rbac-chart.json") chart and $(jq '.items | length' "$WORK/rbac-demo.json") demo objects applied"

API_SA=system:serviceaccount:poolguard-demo:api
CTRL_SA=system:serviceaccount:poolguard-system:poolguard-controller
# can_i yes|no SUBJECT VERB RESOURCE [--subresource=S] [kubectl args]: the authorizer's answer must be as expected.
can_i() {
  local want="$1" as="$2" got
  shift 2
  got="$(kubectl auth can-i --as="$as" "$@" 2>/dev/null || true)"
  [[ "$got" == "$want" ]] || fail "kubectl auth can-i --as=$as $* says '$got', expected '$want'"
}
# RoleBindings take effect at once, but allow the authorizer's cache a moment.
deadline=$((SECONDS + 30))
until [[ "$(kubectl auth can-i --as="$CTRL_SA" get secrets -n poolguard-demo 2>/dev/null)" == yes ]]; do
  ((SECONDS < deadline)) || fail "the controller's RoleBinding in poolguard-demo had no effect after 30s"
  sleep 0.5
done

check "the api's identity ($API_SA) may not patch Deployments, read Secrets or do anything else"
can_i no "$API_SA" patch deployments.apps -n poolguard-demo
can_i no "$API_SA" get secrets -n poolguard-demo
can_i no "$API_SA" list secrets -n poolguard-demo
can_i no "$API_SA" get pods -n poolguard-demo
can_i no "$API_SA" create chaosexperiments.poolguard.dev -n poolguard-demo
ok "denied: patch deployments, get/list secrets, get pods, create chaosexperiments"

CONSOLE_SA=system:serviceaccount:poolguard-system:poolguard-console
check "the console's own identity ($CONSOLE_SA) holds no rights: every call it makes is the signed-in user's"
for args in "get remediations.poolguard.dev --all-namespaces" "list chaosexperiments.poolguard.dev --all-namespaces" \
  "create chaosexperiments.poolguard.dev -n poolguard-demo" "patch remediations.poolguard.dev -n poolguard-demo" \
  "list events -n poolguard-demo" "get secrets -n poolguard-system" "list pods --all-namespaces"; do
  read -ra a <<<"$args"
  can_i no "$CONSOLE_SA" "${a[@]}"
done
jq -e '.items[] | select(.kind == "ServiceAccount" and .metadata.name == "poolguard-console") | .automountServiceAccountToken == false' \
  "$WORK/rbac-chart.json" >/dev/null || fail "the console's ServiceAccount mounts a token"
ok "denied all 7; its ServiceAccount mounts no token"

check "the controller's identity ($CTRL_SA) can do what its reconcilers need"
n=0
while read -r ns verb resource sub; do
  [[ -z "$verb" ]] && continue
  args=("$verb" "$resource")
  # (kubectl reads pods/log as the pod named "log": subresources need --subresource)
  [[ -n "$sub" ]] && args+=(--subresource="$sub")
  if [[ "$ns" == "*" ]]; then args+=(--all-namespaces); else args+=(-n "$ns"); fi
  can_i yes "$CTRL_SA" "${args[@]}"
  n=$((n + 1))
done <<'EOF'
* list chaosexperiments.poolguard.dev
* watch chaosexperiments.poolguard.dev
* update chaosexperiments.poolguard.dev
* patch chaosexperiments.poolguard.dev status
* update chaosexperiments.poolguard.dev status
* update chaosexperiments.poolguard.dev finalizers
* create chaosexperiments.poolguard.dev
* delete chaosexperiments.poolguard.dev
* watch chaosschedules.poolguard.dev
* update chaosschedules.poolguard.dev status
* update chaosschedules.poolguard.dev finalizers
* watch remediations.poolguard.dev
* update remediations.poolguard.dev status
* update remediations.poolguard.dev finalizers
* create events
* patch events
* list services
* watch pods
* list endpointslices.discovery.k8s.io
* watch deployments.apps
* watch statefulsets.apps
* get namespaces
poolguard-system watch namespaces/poolguard-system
poolguard-system list namespaces/poolguard-system
poolguard-demo get secrets
poolguard-demo get pods log
poolguard-demo patch deployments.apps
poolguard-demo patch statefulsets.apps
poolguard-demo patch services
poolguard-system get leases.coordination.k8s.io
poolguard-system create leases.coordination.k8s.io
poolguard-system update leases.coordination.k8s.io
EOF
ok "$n needed permissions granted"

check "... and nothing it must not"
n=0
while read -r ns verb resource sub; do
  [[ -z "$verb" ]] && continue
  args=("$verb" "$resource")
  # (kubectl reads pods/log as the pod named "log": subresources need --subresource)
  [[ -n "$sub" ]] && args+=(--subresource="$sub")
  if [[ "$ns" == "*" ]]; then args+=(--all-namespaces); else args+=(-n "$ns"); fi
  can_i no "$CTRL_SA" "${args[@]}"
  n=$((n + 1))
done <<'EOF'
* delete namespaces
* list namespaces
* watch namespaces/poolguard-demo
* create clusterroles.rbac.authorization.k8s.io
* create clusterrolebindings.rbac.authorization.k8s.io
* create rolebindings.rbac.authorization.k8s.io
* get secrets
* list secrets
* patch deployments.apps
* delete remediations.poolguard.dev
* create remediations.poolguard.dev
* create chaosschedules.poolguard.dev
* update chaosschedules.poolguard.dev
* delete chaosschedules.poolguard.dev
* create pods exec
* create pods
* delete pods
poolguard-demo list secrets
poolguard-demo delete deployments.apps
poolguard-demo create deployments.apps
poolguard-demo update secrets
poolguard-demo delete statefulsets.apps
default get secrets
default patch deployments.apps
default patch services
poolguard-demo update services
poolguard-demo delete services
default get pods log
default create leases.coordination.k8s.io
kube-system get secrets
EOF
ok "$n forbidden permissions denied"

check "docs/rbac.md's 'kubectl auth can-i --list' tables match the API server"
RBAC_DOC="$REPO_DIR/docs/rbac.md"
python3 - "$CTRL_SA" >"$WORK/can-i.md" <<'EOF'
import subprocess, sys
sa = sys.argv[1]
out = []
for ns, why in (("poolguard-demo", "a target namespace (RoleBinding to poolguard-controller-target)"),
                ("poolguard-system", "the controller's own namespace (leader-election Lease)"),
                ("default", "any other namespace")):
    text = subprocess.run(["kubectl", "auth", "can-i", "--list", "--as=" + sa, "-n", ns],
                          check=True, capture_output=True, text=True).stdout
    out.append(f"#### In `{ns}`: {why}\n")
    out.append("| Resources | Non-Resource URLs | Resource Names | Verbs |")
    out.append("|---|---|---|---|")
    lines = text.splitlines()
    header = lines[0]
    cols = [header.index(h) for h in ("Resources", "Non-Resource URLs", "Resource Names", "Verbs")] + [None]
    for line in lines[1:]:
        cells = [line[cols[i]:cols[i + 1]].strip() for i in range(4)]
        out.append("| " + " | ".join(f"`{c}`" if c and c != "[]" else c for c in cells) + " |")
    out.append("")
print("\n".join(out).rstrip())
EOF
begin='<!-- can-i:begin (generated by tests/cluster/packaging.sh; POOLGUARD_UPDATE_DOCS=1 rewrites it) -->'
end='<!-- can-i:end -->'
[[ -f "$RBAC_DOC" ]] || fail "$RBAC_DOC is missing"
{ grep -qF "$begin" "$RBAC_DOC" && grep -qF "$end" "$RBAC_DOC"; } || fail "$RBAC_DOC lacks the can-i markers"
awk -v b="$begin" -v e="$end" '$0 == e {p = 0} p {print} $0 == b {p = 1}' "$RBAC_DOC" >"$WORK/can-i-doc.md"
if ! diff -u "$WORK/can-i-doc.md" "$WORK/can-i.md" >"$WORK/can-i.diff"; then
  if [[ "${POOLGUARD_UPDATE_DOCS:-}" == 1 ]]; then
    awk -v b="$begin" -v e="$end" -v f="$WORK/can-i.md" '
      $0 == b {print; while ((getline l < f) > 0) print l; skip = 1; next}
      $0 == e {skip = 0} !skip {print}' "$RBAC_DOC" >"$WORK/rbac.md.new"
    cp "$WORK/rbac.md.new" "$RBAC_DOC"
    note "docs/rbac.md's tables rewritten"
  else
    fail "docs/rbac.md's can-i tables differ from the API server (POOLGUARD_UPDATE_DOCS=1 rewrites them):
$(cat "$WORK/can-i.diff")"
  fi
fi
ok "tables match"

echo "[$TEST_NAME] PASS"
