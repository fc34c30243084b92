#!/usr/bin/env bash
# Prometheus as the repo deploys it: `kubectl apply -k manifests/overlays/local` on the
# local cluster (node agent running), the api, db and prometheus pods become Ready, and
# Prometheus — upstream Prometheus built by localnode/build-prometheus behind the
# prom/prometheus image (localnode/images.yaml; Debian's lacks Kubernetes discovery) —
# discovers the api pods through kubernetes_sd_configs (in-cluster config: the
# ServiceAccount token, the API server at KUBERNETES_SERVICE_HOST, the ClusterRole of
# prometheus-rbac.yaml), scrapes them (prometheus.io/* annotations, the config's
# relabelling) and its HTTP API shows each api pod's db_pool_size series. Everything it
# applied is deleted at the end (namespace poolguard-demo and the ClusterRole/Binding),
# waiting until the namespace is gone, so later tests start clean.
#
# Needs POOLGUARD_TEST_KUBECONFIG (scripts/test exports it) for a local cluster with the
# node agent (docs/localnode.md). PROMETHEUS_TEST_TIMEOUT (90) bounds the wait for the
# targets and series.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
OVERLAY="$REPO_DIR/manifests/overlays/local"
NS=poolguard-demo # fixed by manifests/base/kustomization.yaml
TIMEOUT="${PROMETHEUS_TEST_TIMEOUT:-90}"
use_test_cluster jq curl
kubectl get node localnode >/dev/null 2>&1 ||
  fail "no Node 'localnode': the node agent is not running (build poolguard-localnode, or set LOCALNODE_BINARY; see docs/localnode.md)"

ns_gone() { ! kubectl get namespace "$NS" >/dev/null 2>&1; }

# prom/prometheus runs localnode/images/prometheus.sh: upstream Prometheus, built here
# if missing (Debian's has no kubernetes_sd_configs; see docs/localnode.md).
check "a Prometheus with kubernetes_sd_configs for the prom/prometheus image (localnode/build-prometheus)"
prom_bin="$("$REPO_DIR/localnode/build-prometheus")" || fail "localnode/build-prometheus failed"
ok "$prom_bin: $("$prom_bin" --version 2>&1 | head -n1)"

# The namespace is the manifests' own: a leftover that is being deleted is waited for,
# one that lives is someone else's and is left alone.
if ! ns_gone; then
  if [[ -n "$(kubectl get namespace "$NS" -o jsonpath='{.metadata.deletionTimestamp}')" ]]; then
    note "namespace $NS is still terminating: waiting for it"
    wait_for "namespace $NS (terminating) to be gone" 120 ns_gone
  elif ! ns_gone; then # (it may have finished deleting between the two reads)
    fail "namespace $NS already exists on this cluster: this test applies the manifests there and deletes it afterwards; delete it first"
  fi
fi

APPLIED=0
cleanup() {
  local rc=$?
  if ((APPLIED)); then
    # The namespace with everything in it, the ClusterRole and ClusterRoleBinding.
    kubectl delete -k "$OVERLAY" --ignore-not-found --wait=false >/dev/null 2>&1 || true
    local deadline=$((SECONDS + 120))
    until ns_gone; do
      if ((SECONDS >= deadline)); then
        printf '[%s] WARNING: namespace %s still there after 120s\n' "$TEST_NAME" "$NS" >&2
        break
      fi
      sleep 0.5
    done
  fi
  exit "$rc"
}
trap cleanup EXIT INT TERM

# Pods of one app label, and whether all of them (at least one) are Ready.
pods_of() { kubectl get pods -n "$NS" -l "app.kubernetes.io/name=$1" -o jsonpath='{range .items[*]}{.metadata.name}{"\n"}{end}'; }
all_ready() { # app count
  local st
  st="$(kubectl get pods -n "$NS" -l "app.kubernetes.io/name=$1" \
    -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}')"
  [[ "$(grep -c . <<<"$st")" -eq "$2" ]] && ! grep -qv '^True$' <<<"$st"
}

check "kubectl apply -k manifests/overlays/local: api, db and prometheus pods Ready"
start=$SECONDS
kinds="$(kubectl kustomize "$OVERLAY" | sed -n 's/^kind: //p' | sort -u | tr '\n' ' ')"
APPLIED=1
out="$(kubectl apply -k "$OVERLAY" 2>&1)" || fail "kubectl apply -k manifests/overlays/local failed: $out"
not_ready_logs() { # the last lines of each pod that is not Ready
  local p
  for p in $(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name} {.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' | awk '$2 != "True" {print $1}'); do
    echo "--- kubectl logs $p (last 20 lines):"
    kubectl logs -n "$NS" "$p" --tail=20 2>&1 || true
  done
}
all_three_ready() { all_ready api 2 && all_ready db 1 && all_ready prometheus 1; }
deadline=$((SECONDS + 120))
until all_three_ready; do
  ((SECONDS < deadline)) || fail "after 120s not all of api (2), db (1), prometheus (1) are Ready:
$(kubectl get pods,pvc -n "$NS" -o wide 2>&1)
$(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}: {.status.containerStatuses[0].state} restarts={.status.containerStatuses[0].restartCount}{"\n"}{end}' 2>&1)
$(not_ready_logs)"
  sleep 0.5
done
ok "$kinds-> all Ready in $((SECONDS - start))s: $(kubectl get pods -n "$NS" -o jsonpath='{range .items[*]}{.metadata.name}={.status.podIP} {end}')"

mapfile -t API_PODS < <(pods_of api)
PROM_POD="$(pods_of prometheus | sed -n 1p)"  # not head: under pipefail kubectl could die of SIGPIPE
PROM_IP="$(kubectl get pod -n "$NS" "$PROM_POD" -o jsonpath='{.status.podIP}')"
[[ -n "$PROM_IP" ]] || fail "pod $PROM_POD has no podIP"
PROM="http://$PROM_IP:9090"

# What Prometheus sees: every kubernetes-pods target of this namespace as pod=health,
# and the pods that have a db_pool_size series.
targets() {
  curl -fsS --max-time 5 "$PROM/api/v1/targets?state=active" |
    jq -r --arg ns "$NS" '.data.activeTargets[] | select(.labels.job == "kubernetes-pods" and .labels.namespace == $ns)
      | "\(.labels.pod)=\(.health) \(.scrapeUrl) \(.lastError)"'
}
series() {
  curl -fsS --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=db_pool_size{namespace=\"$NS\"}" |
    jq -r '.data.result[] | "\(.metric.pod) \(.value[1])"'
}
complete() {
  local t s p
  t="$(targets)" && s="$(series)" || return 1
  for p in "${API_PODS[@]}"; do
    grep -q "^$p=up " <<<"$t" || return 1
    grep -q "^$p " <<<"$s" || return 1
  done
}

check "Prometheus ($PROM_POD at $PROM) discovers the api pods through kubernetes_sd_configs: /api/v1/targets lists them up"
start=$SECONDS
deadline=$((SECONDS + TIMEOUT))
until complete; do
  if ((SECONDS >= deadline)); then
    fail "after ${TIMEOUT}s Prometheus does not show every api pod (${API_PODS[*]}) up with a db_pool_size series.
/api/v1/targets (kubernetes-pods in $NS, pod=health url lastError):
$(targets 2>&1 || true)
all active targets: $(curl -sS --max-time 5 "$PROM/api/v1/targets?state=active" 2>&1 | jq -c '[.data.activeTargets[] | {scrapePool, labels, health, lastError}]' 2>&1 | head -c 3000)
dropped targets: $(curl -sS --max-time 5 "$PROM/api/v1/targets?state=dropped" 2>&1 | jq '.data.droppedTargets | length' 2>&1)
db_pool_size: $(series 2>&1 || true)
prometheus log (last 30 lines):
$(kubectl logs -n "$NS" "$PROM_POD" --tail=30 2>&1)"
  fi
  sleep 1
done
ok "after $((SECONDS - start))s: $(targets | awk '{print $1}' | tr '\n' ' ')"

check "its API shows the api pods' series: /api/v1/query?query=db_pool_size"
ok "$(series | tr '\n' ';')"
echo "[$TEST_NAME] PASS"
