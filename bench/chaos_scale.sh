#!/usr/bin/env bash
# N ChaosExperiments at once (issue 16, docs/benchmarks.md): N targets (Deployments without
# pods, one experiment per target is a guardrail), then N ConnectionLeak experiments, C
# idle sessions each, applied in one request. Prints:
#   inject:  from the apply to each experiment's first Active with all C held (p50, p99,
#            last), and to pg_stat_activity holding all N x C sessions;
#   held:    the controller's RSS, threads and open files with all held, its CPU for the
#            injection, and over a WINDOW-second steady window its CPU and the API server's
#            requests (all clients; the cluster has no other workload);
#   end:     END=expire (default): each experiment's Completed after its endsAt (p50, p99,
#            max), and the last session gone after the last endsAt;
#            END=kill-switch: the kill switch turned on (the annotation on the controller's
#            namespace) -> every session gone, every experiment Aborted.
# Asserts only what the figures need (all Active, all ended). Nothing else runs on the
# cluster.
#
#   bench/chaos_scale.sh [N] [C] [DURATION] [WINDOW]   default 1000 1 120s 20
#   END=kill-switch bench/chaos_scale.sh ...
#
# Brings up everything itself and tears it down on exit (bench/chaos_lib.sh), PostgreSQL
# with max_connections N x C + 100. Needs root (the network namespace).
# shellcheck disable=SC2016  # awk conditions in single quotes, for awk to expand
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
N=${1:-1000}
C=${2:-1}
DURATION=${3:-120s}
WINDOW=${4:-20}
END=${END:-expire}
[[ "$END" == expire || "$END" == kill-switch ]] || { echo "END is expire or kill-switch" >&2; exit 2; }
NS=chaos-scale
BENCH=chaos_scale
# shellcheck source=chaos_lib.sh
source "$ROOT/bench/chaos_lib.sh"

chaos_setup $((N * C + 100))
for ((i = 0; i < N; i++)); do target_yaml "t-$i"; done >"$WORK/targets.yaml"
kubectl apply --server-side -f "$WORK/targets.yaml" >/dev/null
KILL_NS=poolguard-bench-switch
kubectl create namespace "$KILL_NS" >/dev/null
start_controller --chaos-kill-switch-namespace="$KILL_NS"
watch_experiments
open_counter
held_sessions() { query "SELECT count(*) FROM pg_stat_activity WHERE application_name LIKE 'poolguard-chaos/$NS/%';"; }

# shellcheck source=lib.sh
source "$ROOT/bench/lib.sh"
HZ=$(getconf CLK_TCK)
# first_times AWK-CONDITION: per experiment, the stamp of its first event line matching
# the condition ($2 name, $3 phase, $4 leakedConnections); "name time" lines.
first_times() { awk "$1 && !(\$2 in t) { t[\$2] = \$1 } END { for (n in t) print n, t[n] }" "$EVENTS"; }
# quantiles of numbers on stdin: "p50 p99 max"
quantiles() {
  sort -n | awk '{v[NR] = $1} END {
    if (NR == 0) { print "- - -"; exit }
    i50 = int(0.5 * NR + 0.999); i99 = int(0.99 * NR + 0.999)
    printf "%.0f %.0f %.0f\n", v[i50], v[i99], v[NR] }'
}
sleep 5
idle_rss=$(proc_rss "$CTL_PID") idle_threads=$(proc_threads "$CTL_PID")

for ((i = 0; i < N; i++)); do
  cat <<YAML
---
apiVersion: poolguard.dev/v1alpha1
kind: ChaosExperiment
metadata: {name: ce-$i, namespace: $NS}
spec:
  target: {deployment: t-$i}
  database: {service: db, credentialsSecret: db-credentials}
  fault: {type: ConnectionLeak, connectionLeak: {connections: $C, mode: Idle}}
  duration: $DURATION
YAML
done >"$WORK/experiments.yaml"
log "applying $N experiments"
c0=$(proc_cpu_ticks "$CTL_PID")
t0=$EPOCHREALTIME
kubectl apply --server-side -f "$WORK/experiments.yaml" >/dev/null
t_applied=$EPOCHREALTIME
active_cond="\$3 == \"Active\" && \$4 == \"$C\""
deadline=$((SECONDS + 900))
t_all_held=""
while :; do
  if [ -z "$t_all_held" ]; then
    held_sessions
    [ "$COUNT" != $((N * C)) ] || t_all_held=$EPOCHREALTIME
  fi
  active=$(first_times "$active_cond" | wc -l)
  [ -z "$t_all_held" ] || [ "$active" -lt "$N" ] || break
  failed=$(first_times '$3 == "Failed"' | wc -l)
  [ "$failed" = 0 ] || { kubectl get chaosexperiments -n "$NS" | grep -v Active | head >&2; die "$failed experiments Failed"; }
  ((SECONDS < deadline)) || die "$active of $N Active after 900 s ($COUNT sessions held)"
  sleep 0.2
done
c1=$(proc_cpu_ticks "$CTL_PID")
held_rss=$(proc_rss "$CTL_PID") held_threads=$(proc_threads "$CTL_PID") held_fds=$(find "/proc/$CTL_PID/fd" -mindepth 1 | wc -l)
read -r i50 i99 imax < <(first_times "$active_cond" | awk -v t0="$t0" '{printf "%.0f\n", ($2 - t0) * 1000}' | quantiles)

c2=$(proc_cpu_ticks "$CTL_PID")
apiserver_requests >"$WORK/q2"
sleep "$WINDOW"
c3=$(proc_cpu_ticks "$CTL_PID")
apiserver_requests >"$WORK/q3"
requests_per_second "$WORK/q2" "$WORK/q3" "$WINDOW" | sort -k2,2 -rn >"$WORK/rates"
held_sessions
[ "$COUNT" = $((N * C)) ] || die "$COUNT sessions held after the window, not $((N * C))"

# endsAt of every experiment, epoch seconds ("name endsAt").
kubectl get chaosexperiments -n "$NS" -o json | jq -r '.items[] | .status.endsAt as $e |
  "\(.metadata.name) \(($e | sub("\\.[0-9]+Z$"; "Z") | fromdate) + (($e | capture("(?<f>\\.[0-9]+)Z$").f // "0") | tonumber))"' \
  >"$WORK/ends"
last_end=$(awk 'NR == 1 || $2 > m {m = $2} END {print m}' "$WORK/ends")
if [ "$END" = kill-switch ]; then
  log "turning the kill switch on"
  t_end=$EPOCHREALTIME
  kubectl annotate namespace "$KILL_NS" poolguard.dev/chaos-kill-switch=bench >/dev/null
  end_cond='$3 == "Aborted"'
else
  log "waiting for endsAt (the last at $(date -d "@${last_end%.*}" +%T))"
  t_end=$last_end
  end_cond='$3 == "Completed"'
fi
deadline=$((SECONDS + 900))
t_released=""
while :; do
  if [ -z "$t_released" ]; then
    held_sessions
    [ "$COUNT" != 0 ] || t_released=$EPOCHREALTIME
  fi
  ended=$(first_times "$end_cond" | wc -l)
  [ -z "$t_released" ] || [ "$ended" -lt "$N" ] || break
  ((SECONDS < deadline)) || die "$ended of $N ended, $COUNT sessions held, 900 s after the end began"
  sleep 0.1
done
c4=$(proc_cpu_ticks "$CTL_PID")
if [ "$END" = kill-switch ]; then
  late=$(first_times "$end_cond" | awk -v t="$t_end" '{printf "%.0f\n", ($2 - t) * 1000}' | quantiles)
else
  late=$(join <(sort "$WORK/ends") <(first_times "$end_cond" | sort) |
    awk '{printf "%.0f\n", ($3 - $2) * 1000}' | quantiles)
fi
read -r e50 e99 emax <<<"$late"

ms_since() { ms "$1" "$2"; }
pct() { awk -v c="$1" -v hz="$HZ" -v w="$2" 'BEGIN {printf "%.1f", 100 * c / hz / w}'; }
echo
echo "# bench/chaos_scale.sh: N=$N experiments x C=$C idle sessions, duration $DURATION, END=$END"
echo "| | figure |"
echo "|---|---|"
echo "| apply ($N objects, one server-side apply) | $(ms_since "$t0" "$t_applied") ms |"
echo "| apply -> Active with all held, per experiment p50 / p99 / last | $i50 / $i99 / $imax ms |"
echo "| apply -> pg_stat_activity holds all $((N * C)) | $(ms_since "$t0" "$t_all_held") ms |"
echo "| controller CPU for the injection | $(awk -v c=$((c1 - c0)) -v hz="$HZ" -v n="$N" 'BEGIN {printf "%.1f s (%.2f ms per experiment)", c / hz, 1000 * c / hz / n}') |"
echo "| RSS idle -> all held | $idle_rss -> $held_rss MB |"
echo "| threads idle -> all held; open files held | $idle_threads -> $held_threads; $held_fds |"
echo "| steady ${WINDOW} s with all held: controller CPU, API requests/s (all clients) | $(pct $((c3 - c2)) "$WINDOW") % of a core, $(awk '{t += $2} END {printf "%.2f", t}' "$WORK/rates") ($(awk '$2 >= 0.05 {printf "%s%s %s", sep, $1, $2; sep = ", "}' "$WORK/rates")) |"
if [ "$END" = kill-switch ]; then
  echo "| kill switch on -> every session gone | $(ms_since "$t_end" "$t_released") ms |"
  echo "| kill switch on -> Aborted, per experiment p50 / p99 / last | $e50 / $e99 / $emax ms |"
else
  echo "| last endsAt -> every session gone | $(ms_since "$t_end" "$t_released") ms |"
  echo "| endsAt -> Completed, per experiment p50 / p99 / max | $e50 / $e99 / $emax ms |"
fi
echo "| controller CPU for the end | $(awk -v c=$((c4 - c3)) -v hz="$HZ" 'BEGIN {printf "%.1f s", c / hz}') |"
echo "| RSS after | $(proc_rss "$CTL_PID") MB |"
