#!/usr/bin/env bash
# Healthy GET /items/{id} throughput and latency of poolguard-target (pool size 5), in one
# run beside `pgbench -S -c 5` on the same PostgreSQL (the physical limit of five
# connections) and beside the reference design's FastAPI + SQLAlchemy target under the
# same wrk load; then the same wrk load while IDLE_SOCKETS idle connections are held open
# against the target (an attacker that opens sockets and sends nothing, reconnecting when
# the server closes them), with /livez and /metrics probed on new connections meanwhile.
# For each run, also the CPU each request cost the load generator, the server and PostgreSQL
# (from /proc and the shell's `times`): where the two cores went.
# Prints figures; asserts nothing.
#   bench/target.sh [SECONDS] [HTTP_CONNECTIONS] [IDLE_SOCKETS (default 5000)]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
source bench/lib.sh
duration=${1:-15}
conns=${2:-16}
idle=${3:-5000}

scripts/build --target poolguard-target >/dev/null
state=$(mktemp -d /tmp/poolguard-bench.XXXXXX)
chmod 0755 "$state"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  scripts/pg destroy "$state/pg" >/dev/null 2>&1 || true
  rm -rf "$state"
}
trap cleanup EXIT

scripts/pg init "$state/pg" "" 100 && scripts/pg start "$state/pg"
admin=$(scripts/pg url "$state/pg")
psql -q "$admin" -c "CREATE ROLE app LOGIN PASSWORD 'app'" -c "CREATE DATABASE app OWNER app"
url=$(scripts/pg url "$state/pg" app app app)
postmaster=$(head -1 "$state/pg/data/postmaster.pid")
hz=$(getconf CLK_TCK)
DATABASE_URL=$url build/target/poolguard-target migrate >/dev/null 2>&1

# python venv for the FastAPI version, cached under bench/.venv (ignored)
venv="$root/bench/.venv"
if [ ! -x "$venv/bin/uvicorn" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q -r bench/fastapi_target/requirements.txt
fi

wait_http() { for _ in $(seq 1 200); do curl -fsS "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# wrk prints "Requests/sec: N" and, with --latency, "50%  1.23ms" ... "99%  4.56ms".
to_ms() { awk '{v=$1; if (v ~ /us$/) {sub(/us$/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v*=1000}; printf "%.2f", v}'; }
cpu_lines=()
# cpu_line LABEL REQUESTS CLIENT_SECONDS SERVER_TICKS POSTGRES_TICKS
cpu_line() {
  cpu_lines+=("$(awk -v l="$1" -v n="$2" -v c="$3" -v s="$4" -v p="$5" -v hz="$hz" 'BEGIN {
    if (n <= 0) n = 1
    printf "%-34s %10.1f %10s %10.1f", l, c * 1e6 / n, (s == "-" ? "-" : sprintf("%.1f", s * 1e6 / hz / n)), p * 1e6 / hz / n }')")
}
run_wrk() {  # base_url label name server_pid
  local out s0 p0 s1 p1
  s0=$(proc_cpu_ticks "$4"); p0=$(proc_tree_cpu_ticks "$postmaster")
  out=$( (wrk -t2 -c"$conns" -d"${duration}s" --latency -s bench/random_item.lua "$1" && times) )
  s1=$(proc_cpu_ticks "$4"); p1=$(proc_tree_cpu_ticks "$postmaster")
  local rps p50 p99 errors
  rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' <<<"$out")
  p50=$(awk '$1=="50%" {print $2}' <<<"$out" | to_ms)
  p99=$(awk '$1=="99%" {print $2}' <<<"$out" | to_ms)
  errors=$(awk '/Non-2xx/ {print $5}' <<<"$out"); errors=${errors:-0}
  printf '%-34s %10s %10s %10s %8s\n' "$2" "$rps" "$p50" "$p99" "$errors"
  echo "$rps" >"$state/$3.rps"
  cpu_line "$2" "$((rps * duration))" "$(children_cpu_seconds "$(tail -1 <<<"$out")")" \
    "$((s1 - s0))" "$((p1 - p0))"
}

printf '\n%-34s %10s %10s %10s %8s\n' "what (${duration}s each)" "req/s" "p50 ms" "p99 ms" "non-2xx"

# 1. pgbench -S -c 5: the physical ceiling of five connections on this PostgreSQL.
pgbench -q -i -s 1 "$admin" >/dev/null 2>&1
p0=$(proc_tree_cpu_ticks "$postmaster")
pg_out=$( (pgbench -n -S -c 5 -j 2 -T "$duration" -r "$admin" 2>&1 && times) )
sleep 0.5  # the postmaster reaps pgbench's backends, adding their CPU to its children's
p1=$(proc_tree_cpu_ticks "$postmaster")
pg_tps=$(awk '/^tps/ {printf "%.0f", $3}' <<<"$pg_out")
cpu_line "pgbench -S -c 5 (SQL only)" "$((pg_tps * duration))" \
  "$(children_cpu_seconds "$(tail -1 <<<"$pg_out")")" - "$((p1 - p0))"
pg_lat=$(awk '/latency average/ {print $4}' <<<"$pg_out")
printf '%-34s %10s %10s %10s %8s\n' "pgbench -S -c 5 (SQL only)" "$pg_tps" "avg $pg_lat" "-" "-"

# 2. poolguard-target, pool size 5
# Below the ephemeral range: the idle-socket holder takes thousands of local ports.
port=$(( (RANDOM % 4000) + 16000 ))
DATABASE_URL=$url BIND_ADDRESS=127.0.0.1 PORT=$port LOG_LEVEL=warning ENV_FILE=/dev/null \
  build/target/poolguard-target >"$state/target.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/livez"
run_wrk "http://127.0.0.1:$port" "poolguard-target (C++, pool 5)" target "${pids[-1]}"

# 2b. the same, while $idle idle sockets are held open against it; /livez and /metrics
# are probed on fresh connections (as a kubelet and a Prometheus would) meanwhile.
python3 bench/idle_sockets.py 127.0.0.1 "$port" "$idle" "$((duration + 4))" >"$state/idle.out" &
holder=$!
sleep 3  # let the sockets open
python3 bench/probe_latency.py "$duration" 0.05 "http://127.0.0.1:$port/livez" \
  "http://127.0.0.1:$port/metrics" >"$state/probe.out" &
prober=$!
run_wrk "http://127.0.0.1:$port" "  the same, $idle idle sockets held" attacked "${pids[-1]}"
wait "$prober" || true
wait "$holder" || true
kill "${pids[-1]}"; wait "${pids[-1]}" 2>/dev/null || true

# 3. FastAPI + SQLAlchemy, same pool settings
port=$(( port + 1 ))
(cd bench/fastapi_target && DATABASE_URL=$url exec "$venv/bin/uvicorn" app:app \
  --host 127.0.0.1 --port "$port" --log-level warning --no-access-log) >"$state/fastapi.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/health"
run_wrk "http://127.0.0.1:$port" "FastAPI + SQLAlchemy (pool 5)" fastapi "${pids[-1]}"

printf '\n%-34s %10s %10s %10s\n' "CPU per request (µs)" "client" "server" "postgres"
printf '%s\n' "${cpu_lines[@]}"

t=$(cat "$state/target.rps"); f=$(cat "$state/fastapi.rps"); a=$(cat "$state/attacked.rps")
echo
awk -v t="$t" -v p="$pg_tps" -v f="$f" -v a="$a" 'BEGIN {
  printf "poolguard-target / pgbench -S -c 5 : %.0f%%   (floor 80%% at 5 connections, 70%% at 16)\n", 100*t/p;
  printf "poolguard-target / FastAPI         : %.1fx   (floor 5x)\n", t/f;
  printf "with idle sockets / without        : %.0f%%   (floor 80%%)\n", 100*a/t }'
echo "while $idle idle sockets were held ($(cat "$state/idle.out")):"
sed 's/^/  /' "$state/probe.out"
echo "  (floor: /livez and /metrics p99 under 50 ms)"
echo "machine: $(nproc) cores; wrk -t2 -c$conns; PostgreSQL $(psql -Atc 'show server_version' "$admin")"
