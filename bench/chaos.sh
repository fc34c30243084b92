#!/usr/bin/env bash
# ChaosExperiment inject and release (docs/benchmarks.md): for each N, RUNS times:
#   inject:  the ChaosExperiment appears in the API server (watch ADDED) -> the watch shows
#            phase Active with status.leakedConnections == N (and pg_stat_activity is
#            then checked to agree);
#   release: the abort (spec.abort=true) appears in the watch -> pg_stat_activity shows
#            none of the experiment's sessions (polled over one open psql session);
#   aborted: the abort appears -> the watch shows phase Aborted.
# Prints each run, then median and max per N. Asserts nothing.
#
#   bench/chaos.sh [RUNS] [N...]        defaults: 5 runs, N = 20 200
#
# Brings up everything itself and tears it down on exit (bench/chaos_lib.sh: a local
# cluster, PostgreSQL with max_connections 300 on a test host, the namespace, the target
# Deployment, poolguard-controller from ${BUILD_DIR:-build} or $POOLGUARD_CONTROLLER with a
# raised --max-connections-per-experiment). Needs root (the network namespace).
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUNS=${1:-5}
shift || true
SIZES=("$@")
[ ${#SIZES[@]} -gt 0 ] || SIZES=(20 200)
NS=chaos-bench
BENCH=chaos
# shellcheck source=chaos_lib.sh
source "$ROOT/bench/chaos_lib.sh"

chaos_setup 300
target_yaml api | kubectl apply -f - >/dev/null
start_controller --max-connections-per-experiment 1000
watch_experiments
open_counter
count_sessions() { # application_name -> COUNT
  query "SELECT count(*) FROM pg_stat_activity WHERE application_name = '$1';"
}

# The stamp of the first event line matching an awk condition ($2 name, $3 phase,
# $4 leakedConnections, $5 abort), waiting up to 120 s for it.
event_time() { # awk-condition
  local t=""
  for _ in $(seq 1 12000); do
    t=$(awk "$1 { print \$1; exit }" "$EVENTS")
    [ -z "$t" ] || break
    sleep 0.01
  done
  [ -n "$t" ] || { tail -n 30 "$WORK/controller.log" >&2; die "timed out waiting for: $1"; }
  echo "$t"
}

echo "# bench/chaos.sh $RUNS runs; ms; inject = ADDED -> Active with all held; release = abort -> pg_stat_activity 0; aborted = abort -> phase Aborted"
printf '%-6s %-4s %8s %8s %8s %s\n' N run inject release aborted pg_stat_activity@Active
declare -A SUMMARY
for n in "${SIZES[@]}"; do
  inject=() release=() aborted=()
  for run in $(seq 1 "$RUNS"); do
    name="ce-$n-$run"
    app="poolguard-chaos/$NS/$name"
    kubectl create -f - >/dev/null <<EOF
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: $name, namespace: $NS}
spec:
  target: {deployment: api}
  database: {service: db, credentialsSecret: db-credentials}
  fault: {type: ConnectionLeak, connectionLeak: {connections: $n, mode: Idle}}
  duration: 10m
EOF
    t_added=$(event_time "\$2 == \"$name\"")
    t_active=$(event_time "\$2 == \"$name\" && \$3 == \"Active\" && \$4 == \"$n\"")
    count_sessions "$app"
    held=$COUNT
    # Abort in the background and poll at once, so the poll never starts late.
    kubectl patch chaosexperiment "$name" -n "$NS" --type merge -p '{"spec":{"abort":true}}' >/dev/null &
    patch_pid=$!
    while count_sessions "$app" && [ "$COUNT" != 0 ]; do :; done
    t_released=$EPOCHREALTIME
    wait "$patch_pid"
    t_abort=$(event_time "\$2 == \"$name\" && \$NF == \"true\"")
    t_aborted=$(event_time "\$2 == \"$name\" && \$3 == \"Aborted\"")
    inject+=("$(ms "$t_added" "$t_active")")
    release+=("$(ms "$t_abort" "$t_released")")
    aborted+=("$(ms "$t_abort" "$t_aborted")")
    printf '%-6s %-4s %8s %8s %8s %s\n' "$n" "$run" "${inject[-1]}" "${release[-1]}" "${aborted[-1]}" "$held"
    kubectl delete chaosexperiment "$name" -n "$NS" --wait=true >/dev/null
  done
  SUMMARY[$n]="$(stats "${inject[@]}") $(stats "${release[@]}") $(stats "${aborted[@]}")"
done

echo
echo "| N | runs | inject median / max (ms) | release median / max (ms) | Aborted median / max (ms) |"
echo "|---|---|---|---|---|"
for n in "${SIZES[@]}"; do
  read -r im ix rm rx am ax <<<"${SUMMARY[$n]}"
  echo "| $n | $RUNS | $im / $ix | $rm / $rx | $am / $ax |"
done
