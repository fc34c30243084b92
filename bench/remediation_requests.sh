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
stack_up reqs

# "verb resource[/subresource] count" for every (verb, resource) the server counted.
scrape() {
  kubectl get --raw /metrics | awk '
    /^apiserver_request_total\{/ {
      verb = ""; res = ""; sub_ = ""
      if (match($0, /verb="[^"]*"/)) verb = substr($0, RSTART + 6, RLENGTH - 7)
      if (match($0, /resource="[^"]*"/)) res = substr($0, RSTART + 10, RLENGTH - 11)
      if (match($0, /subresource="[^"]*"/)) sub_ = substr($0, RSTART + 13, RLENGTH - 14)
      if (res == "") next
      key = verb " " res (sub_ == "" ? "" : "/" sub_)
      n[key] += $NF
    }
    END { for (k in n) print k, n[k] }' | sort
}
# window LABEL: requests per second by verb and resource over WINDOW seconds.
window() {
  local before after
  before="$(scrape)"
  sleep "$WINDOW"
  after="$(scrape)"
  join -a 2 -e 0 -o 0,1.2,2.2 <(sed 's/ \([^ ]*\)$/|\1/; s/ /:/; s/|/ /' <<<"$before" | sort) \
    <(sed 's/ \([^ ]*\)$/|\1/; s/ /:/; s/|/ /' <<<"$after" | sort) |
    awk -v w="$WINDOW" -v l="$1" '{d = ($3 - $2) / w; if (d > 0) printf "%s %s %.2f\n", l, $1, d}'
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
