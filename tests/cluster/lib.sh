# shellcheck shell=bash
# Shared helpers for the cluster tests. Sourced by each test script.
# Each test brings the local cluster up itself (a no-op when it already runs)
# in LOCALCLUSTER_STATE_DIR (the test driver sets a temporary one; standalone
# runs use <repo>/.state/localcluster-test) on free ports, and works in its
# own namespace(s).
set -euo pipefail
# With pipefail, never `producer | grep -q`: grep -q exits at the first match, the
# producer then dies of SIGPIPE (curl: exit 23) and the pipeline fails although it
# matched. Use `producer | grep PATTERN >/dev/null`, which reads to the end.

TESTS_CLUSTER_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO_DIR="$(cd "$TESTS_CLUSTER_DIR/../.." && pwd)"
TEST_NAME="$(basename "$0" .sh)"

export LOCALCLUSTER_STATE_DIR="${LOCALCLUSTER_STATE_DIR:-$REPO_DIR/.state/localcluster-test}"
# Free random ports on the first `up` of the state dir (then remembered there),
# so test clusters never clash with a developer cluster or another test run.
export LOCALCLUSTER_AUTO_PORTS="${LOCALCLUSTER_AUTO_PORTS:-1}"

check() { printf '[%s] CHECK: %s\n' "$TEST_NAME" "$*"; }
ok()    { printf '[%s]   ok: %s\n' "$TEST_NAME" "$*"; }
fail()  { printf '[%s] FAIL: %s\n' "$TEST_NAME" "$*" >&2; exit 1; }
note()  { printf '[%s] NOTE: %s\n' "$TEST_NAME" "$*"; }

# For tests that use the running cluster named by POOLGUARD_TEST_KUBECONFIG (scripts/test
# exports it) instead of bringing one up: exports KUBECONFIG, puts the pinned kubectl and
# helm from the localcluster binary cache on PATH, checks kubectl and TOOLS are there and
# the API server is ready. use_test_cluster [TOOL...]
use_test_cluster() {
  [[ -n "${POOLGUARD_TEST_KUBECONFIG:-}" ]] ||
    fail "POOLGUARD_TEST_KUBECONFIG is not set: run through scripts/test, or bring up a cluster (eval \"\$(LOCALCLUSTER_STATE_DIR=... localcluster/up)\") and export POOLGUARD_TEST_KUBECONFIG=\$KUBECONFIG"
  [[ -f "$POOLGUARD_TEST_KUBECONFIG" ]] || fail "POOLGUARD_TEST_KUBECONFIG=$POOLGUARD_TEST_KUBECONFIG: no such file"
  export KUBECONFIG="$POOLGUARD_TEST_KUBECONFIG"
  eval "$("$REPO_DIR/localcluster/lc" env | grep '^export PATH=')"
  local tool
  for tool in kubectl "$@"; do
    command -v "$tool" >/dev/null || fail "$tool is not on PATH"
  done
  # (waited for: /readyz can answer 500 for a moment while etcd is slow on a loaded disk)
  wait_for "the API server in $KUBECONFIG to be ready" 60 kubectl get --raw /readyz
}

# Brings the cluster up and exports KUBECONFIG and PATH (kubectl, helm).
cluster_up() {
  local env
  env="$("$REPO_DIR/localcluster/up")" || fail "localcluster/up failed (state $LOCALCLUSTER_STATE_DIR)"
  eval "$env"
  [[ -f "$KUBECONFIG" ]] || fail "localcluster/up printed KUBECONFIG=$KUBECONFIG but the file is missing"
}

# wait_for DESCRIPTION TIMEOUT_SECONDS COMMAND...: polls COMMAND until it succeeds.
wait_for() {
  local what="$1" timeout="$2" deadline
  shift 2
  deadline=$((SECONDS + timeout))
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || fail "timed out after ${timeout}s waiting for: $what"
    sleep 0.5
  done
}

# Creates a fresh namespace for this test and deletes it when the test ends.
TEST_NAMESPACES=()
new_namespace() { # prefix -> sets NS
  NS="$1-$(date +%s)-$RANDOM"
  kubectl create namespace "$NS" >/dev/null || fail "cannot create namespace $NS"
  TEST_NAMESPACES+=("$NS")
  trap cleanup_namespaces EXIT
}
cleanup_namespaces() {
  local ns
  for ns in "${TEST_NAMESPACES[@]}"; do
    kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  done
}

# jsonpath of one object: jp KIND/NAME EXPR [kubectl args]
jp() { # (three tries: one failed GET on a loaded machine is not the answer)
  for _ in 1 2 3; do
    kubectl get "$1" -o "jsonpath=$2" "${@:3}" && return
    sleep 1
  done
  return 1
}

count_lines() { grep -c . || true; }
