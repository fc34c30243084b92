#!/usr/bin/env bash
# Issue 12's matrix (docs/benchmarks.md): each of examples/apps/ (fastapi, node, spring) on
# the local cluster beside the demo's PostgreSQL with 8 clients per pod, its own
# poolguard.yaml (DiagnosisDriven, detection interval 500ms, for 500ms), and each fault of
# the cluster tests (tests/cluster/apps_lib.sh), RUNS times:
#   lock   LockTable on its items table                  -> LockContention
#   slots  an Idle leak takes every slot, the app scales  -> ServerSlotsExhausted
#          out to 3
#   surge  TrafficSurge, 20 clients on /items/report       -> ConnectionPoolExhausted
# Per run, from the incident's own timeline: detection (the experiment's startedAt ->
# Degraded; for slots from when the new pod listens, when the outage can show,
# the time from the scale-out beside it) and recovery (Degraded -> verified Resolved), with the diagnosis and the first rung. Prints each run, then the
# median per app and fault against the issue's floors (the diagnosis right in every run,
# detection < 2 s, LockTable healed < 3 s). Each run must end as the cluster test's does,
# else the bench fails.
#
#   bench/apps.sh [RUNS]          default 3
#   BENCH_APPS="fastapi node"     only some apps (default: fastapi node spring)
#   BENCH_FAULTS="lock surge"     only some faults (default: lock slots surge)
#
# Uses the cluster POOLGUARD_TEST_KUBECONFIG names (as the cluster tests), else brings up
# a local cluster of its own in a temporary state dir and tears it down. Verification is
# the bench's: 2 healthy checks, window 1s (as bench/remediation.sh), so recovery measures
# the fix, not a long verification window.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-3}
APPS=${BENCH_APPS:-fastapi node spring}
FAULTS=${BENCH_FAULTS:-lock slots surge}
export BENCH_FAULTS=$FAULTS
log() { echo "[apps-bench] $*" >&2; }

if [[ "${APPS_BENCH_APP:-}" == "" ]]; then
  own=""
  if [[ -z "${POOLGUARD_TEST_KUBECONFIG:-}" ]]; then
    own=$(mktemp -d /tmp/poolguard-apps-bench-XXXXXX)
    export LOCALCLUSTER_STATE_DIR=$own/cluster LOCALCLUSTER_AUTO_PORTS=1
    trap '"$ROOT/localcluster/down" --purge >/dev/null 2>&1 || true; rm -rf "$own"' EXIT
    log "bringing up a local cluster in $LOCALCLUSTER_STATE_DIR"
    eval "$("$ROOT/localcluster/up")"
    export POOLGUARD_TEST_KUBECONFIG=$KUBECONFIG
  fi
  results=$(mktemp)
  for app in $APPS; do
    log "$app: $RUNS runs"
    APPS_BENCH_APP=$app "$0" "$RUNS" | tee -a "$results" >&2
  done
  echo
  echo "app      fault  runs  diagnosis (each right?)  detection s (median, each)      recovery s (median, each)"
  for app in $APPS; do
    for fault in $FAULTS; do
      awk -v app="$app" -v fault="$fault" '
        BEGIN { n = 0; wrong = 0
          want["lock"] = "LockContention"; want["slots"] = "ServerSlotsExhausted"
          want["surge"] = "ConnectionPoolExhausted" }
        $1 == "RUN" && $2 == app && $3 == fault { d[n] = $5; r[n] = $6; split($7, c, "/")
          if (c[1] != want[fault]) wrong++; n++ }
        function median(a, n,   i, j, t) {
          for (i = 0; i < n; i++) for (j = i + 1; j < n; j++) if (a[j] < a[i]) { t = a[i]; a[i] = a[j]; a[j] = t }
          return n % 2 ? a[int(n / 2)] : (a[n / 2 - 1] + a[n / 2]) / 2
        }
        END {
          if (n == 0) { printf "%-8s %-6s none\n", app, fault; exit }
          ds = ""; rs = ""
          for (i = 0; i < n; i++) { ds = ds sprintf(" %.2f", d[i]); rs = rs sprintf(" %.2f", r[i]) }
          md = median(d, n); mr = median(r, n)
          printf "%-8s %-6s %4d  %-23s  %5.2f (%s)  %s   %5.2f (%s)%s\n", app, fault, n,
            want[fault] (wrong ? " " wrong " WRONG" : ""), md, substr(ds, 2),
            md < 2 ? "< 2: met" : ">= 2: NOT met", mr, substr(rs, 2),
            fault == "lock" ? (mr < 3 ? "  < 3: met" : "  >= 3: NOT met") : ""
        }' "$results"
    done
  done
  rm -f "$results"
  exit 0
fi

# One app, RUNS runs, in a namespace of its own (the cluster tests' steps).
TEST_NAME="apps-bench-$APPS_BENCH_APP"
export TEST_NAME
# shellcheck source=../tests/cluster/lib.sh
source "$ROOT/tests/cluster/lib.sh"
# shellcheck source=../tests/cluster/remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=../tests/cluster/apps_lib.sh
source "$TESTS_CLUSTER_DIR/apps_lib.sh"
case "$APPS_BENCH_APP" in
  fastapi) app_up "$ROOT/examples/apps/fastapi" shop shop-password >&2 ;;
  node) app_up "$ROOT/examples/apps/node" catalog catalog-password >&2 ;;
  spring)
    APP_HEALTH_PATH=/actuator/health
    APP_HEALTHY='"status":"UP"'
    APP_POOL_ENV=SPRING_DATASOURCE_HIKARI_MAXIMUMPOOLSIZE
    app_up "$ROOT/examples/apps/spring" orders orders-password >&2
    ;;
  *) fail "unknown app $APPS_BENCH_APP (fastapi, node, spring)" ;;
esac
export APP_VERIFICATION='{consecutiveHealthy: 2, window: 1s, timeout: 60s, testPath: "/items?limit=1"}'
figures() { rq '.status.incident | "\(.detectionSeconds) \(.recoverySeconds) \(.diagnosis.conclusion)/\(.diagnosis.confidence) \(.actions[0].name)"'; }
first=1
for ((i = 1; i <= RUNS; i++)); do
  for fault in $BENCH_FAULTS; do
    ((first)) || app_reset >&2
    first=0
    case "$fault" in
      lock)
        app_lock_scenario >&2
        echo "RUN $APPS_BENCH_APP lock $i $(figures)"
        ;;
      slots)
        app_slots_scenario >&2
        read -r _ rec rest <<<"$(figures)"
        echo "RUN $APPS_BENCH_APP slots $i $SLOTS_DETECTION_ANSWER $rec $rest (from the scale-out: $SLOTS_DETECTION)"
        ;;
      surge)
        app_surge_scenario >&2
        echo "RUN $APPS_BENCH_APP surge $i $(figures)"
        ;;
      *) fail "unknown fault $fault (lock, slots, surge)" ;;
    esac
  done
done
