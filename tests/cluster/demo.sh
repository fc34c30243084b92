#!/usr/bin/env bash
# The README's demo, its cluster part, on the shared test cluster: `scripts/demo
# --current-cluster` installs the CRDs and the controller with the Helm chart (the chart,
# not a hand-written copy, is how the local cluster's end-to-end demo gets its controller),
# deploys manifests/overlays/local, applies manifests/examples/remediation.yaml and the
# LockTable ChaosExperiment, and must end with a verified fix (the verdict) within
# POOLGUARD_DEMO_TIMEOUT (default here 120 s) and no new incident in the next 15 s.
# Then `scripts/demo --uninstall` removes the release and the namespaces (and the CRDs
# when this test installed them), and the test checks they are gone.
#
# Chart rendering, lint, schema and RBAC checks are cluster.packaging's; this one only
# proves the installed chart runs the whole loop.
#
# Needs POOLGUARD_TEST_KUBECONFIG (scripts/test exports it), the built binaries
# (controller, target, localnode) and localnode/build-prometheus's Prometheus.
set -euo pipefail

source "$(dirname "$0")/lib.sh"
# shellcheck source=../../scripts/lib/status.sh
source "$REPO_DIR/scripts/lib/status.sh"
use_test_cluster helm jq curl

NS=poolguard-demo
SYSTEM_NS=poolguard-system
DEMO="$REPO_DIR/scripts/demo"
LOG="$(mktemp /tmp/poolguard-demo-test.XXXXXX)"

check "Prometheus for the local cluster is built (localnode/build-prometheus, cached)"
"$REPO_DIR/localnode/build-prometheus" >/dev/null || fail "localnode/build-prometheus failed"
ok "built"

# A namespace an earlier test deleted may still be terminating (cluster.prometheus only
# warns after 120 s): wait for it. One that lives is someone else's.
ns_gone() { ! kubectl get namespace "$1" >/dev/null 2>&1; }
for ns in "$NS" "$SYSTEM_NS"; do
  if ! ns_gone "$ns" && [[ -n "$(kubectl get namespace "$ns" -o jsonpath='{.metadata.deletionTimestamp}' 2>/dev/null)" ]]; then
    note "namespace $ns is still terminating: waiting for it"
    wait_for "namespace $ns (terminating) to be gone" 180 ns_gone "$ns"
  fi
  if ! ns_gone "$ns"; then
    fail "namespace $ns already exists: another test (or a demo) left it; this test installs and removes it"
  fi
done
crds_existed=0
kubectl get crd remediations.poolguard.dev >/dev/null 2>&1 && crds_existed=1

cleanup() {
  local rc=$?
  if ((rc != 0)); then
    echo "[$TEST_NAME] the demo's output:"
    sed 's/^/    /' "$LOG"
  fi
  POOLGUARD_DEMO_DELETE_CRDS=$((1 - crds_existed)) "$DEMO" --current-cluster --uninstall >/dev/null 2>&1 || true
  rm -f "$LOG"
  exit "$rc"
}
trap cleanup EXIT INT TERM

check "scripts/demo --current-cluster: chart install, workload Ready, LockTable incident detected, diagnosed, healed and verified"
started=$SECONDS
if ! POOLGUARD_DEMO_TIMEOUT="${POOLGUARD_DEMO_TIMEOUT:-120}" POOLGUARD_DEMO_SETTLE="${POOLGUARD_DEMO_SETTLE:-15}" \
  "$DEMO" --current-cluster >"$LOG" 2>&1; then
  fail "scripts/demo failed after $((SECONDS - started))s: $(grep 'DEMO FAILED' "$LOG" || tail -n 5 "$LOG")"
fi
verdict="$(grep -A1 '^== Verdict' "$LOG" | tail -n 1 | sed 's/^ *//')"
[[ "$verdict" =~ ^detected\ in\ [0-9.]+\ s,\ healed\ at\ rung\ [0-9]+\ \(TerminateBlockingSessions\)\ in\ [0-9.]+\ s$ ]] ||
  fail "the demo passed but its verdict line is not what a LockTable fix says: '$verdict'"
ok "in $((SECONDS - started))s: $verdict"

check "the controller that healed it is the Helm release's"
helm status poolguard -n "$SYSTEM_NS" -o json | jq -e '.info.status == "deployed"' >/dev/null ||
  fail "helm release poolguard in $SYSTEM_NS is not deployed"
kubectl get deployment poolguard-controller -n "$SYSTEM_NS" -o json | jq -e '
  .metadata.labels["app.kubernetes.io/managed-by"] == "Helm"
  and (.spec.template.spec.containers[0].image | startswith("poolguard/controller:"))
  and (.spec.template.spec.containers[0].args | index("--leader-elect"))' >/dev/null ||
  fail "deployment poolguard-controller is not the chart's (managed-by Helm, image poolguard/controller, --leader-elect)"
kubectl get remediation api -n "$NS" -o json | status_jq -e 'incidents
  | map(.verdict // "") | any(test("healed at rung 1 \\(TerminateBlockingSessions\\)"))' >/dev/null ||
  fail "Remediation api's status has no verdict for the fix"
ok "release deployed, Deployment managed by Helm with --leader-elect; the verdict is in Remediation api's status"

check "scripts/demo --uninstall removes the release, the namespaces$( ((crds_existed)) || echo ' and the CRDs')"
POOLGUARD_DEMO_DELETE_CRDS=$((1 - crds_existed)) "$DEMO" --current-cluster --uninstall >"$LOG" 2>&1 ||
  fail "scripts/demo --uninstall failed: $(tail -n 5 "$LOG")"
helm status poolguard -n "$SYSTEM_NS" >/dev/null 2>&1 && fail "helm release poolguard is still there"
for ns in "$NS" "$SYSTEM_NS"; do
  kubectl get namespace "$ns" >/dev/null 2>&1 && fail "namespace $ns is still there"
done
kubectl get clusterrole poolguard-demo-prometheus poolguard-controller >/dev/null 2>&1 &&
  fail "the demo's ClusterRoles are still there"
if ((crds_existed == 0)); then
  kubectl get crd remediations.poolguard.dev >/dev/null 2>&1 && fail "the CRDs this test installed are still there"
fi
ok "gone"

echo "[$TEST_NAME] PASS"
