#!/usr/bin/env bash
# The game day's figures (docs/benchmarks.md): scripts/gameday runs manifests/gameday/plan.yaml
# RUNS times (default 3) on the demo stack against a DiagnosisDriven Remediation, through
# tests/cluster/gameday.sh, and prints the report with the median detection and recovery
# per fault. Needs a local cluster with the node agent: KUBECONFIG or
# POOLGUARD_TEST_KUBECONFIG pointing at it (localcluster/up), and the build (scripts/build).
#
#   bench/gameday.sh [RUNS]
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
export GAMEDAY_RUNS="${1:-3}"
export POOLGUARD_TEST_KUBECONFIG="${POOLGUARD_TEST_KUBECONFIG:-${KUBECONFIG:?set KUBECONFIG to a local cluster (localcluster/up)}}"
exec bash "$ROOT/tests/cluster/gameday.sh"
