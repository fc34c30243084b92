#!/usr/bin/env bash
# API requests a Remediation tick makes (issue 16, docs/benchmarks.md), with and without
# the informer caches (--cache-reads): one Remediation (interval 1s) watching the demo
# stack's healthy api, poolguard-controller as a host process. The API server's own
# apiserver_request_total is read before and after a WINDOW-second window per mode, and
# once with no controller running (the other clients' share: the node agent, the
# controller-manager, Prometheus), which is subtracted. Prints requests per second — per
# tick, at interval 1s — by verb and resource. Asserts nothing.
#
#   bench/remediation_requests.sh [WINDOW]     default 30
#
# Needs POOLGUARD_TEST_KUBECONFIG (or KUBECONFIG) for a local cluster with the node agent
# (localcluster/up) and the build (scripts/build).
set -euo pipefail
export POOLGUARD_TEST_KUBECONFIG="${POOLGUARD_TEST_KUBECONFIG:-${KUBECONFIG:?set KUBECONFIG to a local cluster (localcluster/up)}}"
WINDOW=${1:-30}
TEST_NAME=remediation_requests
# shellcheck source=../tests/cluster/lib.sh
source "$(dirname "$0")/../tests/cluster/lib.sh"
# shellcheck source=../tests/cluster/remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=lib.sh
source "$(dirname "$0")/lib.sh"
stack_up reqs

# window LABEL: requests per second by verb and resource over WINDOW seconds.
window() {
  apiserver_requests >"$WORK/before"
  sleep "$WINDOW"
  apiserver_requests >"$WORK/after"
  requests_per_second "$WORK/before" "$WORK/after" "$WINDOW" | sed "s/^/$1 /"
}

apply_remediation DiagnosisDriven '[TerminateBlockingSessions, RestartDeployment, RestartDatabase, IncreasePoolSize]'
results="$WORK/results"
: >"$results"
window none >>"$results"
for mode in false true; do
  CONTROLLER_ARGS=(--cache-reads="$mode")
  start_controller
  wait_watching
  sleep 5 # informers synced, the tick settled
  window "cache-reads=$mode" >>"$results"
  stop_controller TERM
done

echo
echo "API requests per second (= per tick at interval 1s) beyond the other clients', by verb:resource"
printf "%-40s %16s %16s\n" "verb:resource" "cache-reads=false" "cache-reads=true"
awk '
  { rate[$1, $2] = $3; keys[$2] = 1; if ($1 != "none") modes[$1] = 1 }
  END {
    for (k in keys) {
      a = rate["cache-reads=false", k] - rate["none", k]; b = rate["cache-reads=true", k] - rate["none", k]
      if (a < 0.05 && b < 0.05) continue
      printf "%-40s %16.2f %16.2f\n", k, a, b; ta += a; tb += b
    }
    printf "~total %16.2f %16.2f\n", ta, tb
  }' "$results" | sort -k1,1 | sed 's/^~total/total/' | awk '{printf "%-40s %16s %16s\n", $1, $2, $3}'
