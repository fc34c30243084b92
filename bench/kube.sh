#!/usr/bin/env bash
# kube/ (C++) informer vs client-go's on the same local cluster and the same data:
#   (a) initial sync of N ConfigMaps (seconds until HasSynced, peak RSS = VmHWM at sync),
#   (b) watch events/s seen by the informer's update handler while one loader process
#       (bench/kube/clientgo -mode update, 16 parallel merge patches) updates the
#       ConfigMaps as fast as it can for SECONDS; both clients get the same loader.
# Clients (cpp and client-go, each with its defaults and with JSON on the wire, and
# client-go with a LIST instead of a watch-list) run one after the other, RUNS times each,
# alternating. Prints figures and the
# ratios against issue 4's floors; asserts nothing.
#   bench/kube.sh [N] [SECONDS] [RUNS]        (defaults 10000 15 2)
# Own cluster: LOCALCLUSTER_STATE_DIR (default /tmp/bench-lc) and ports 16443/16379/16380/
# 16257 unless set; it is purged on exit.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
n=${1:-10000}
seconds=${2:-15}
runs=${3:-2}
ns=bench

export LOCALCLUSTER_STATE_DIR=${LOCALCLUSTER_STATE_DIR:-/tmp/bench-lc}
export LOCALCLUSTER_APISERVER_PORT=${LOCALCLUSTER_APISERVER_PORT:-16443}
export LOCALCLUSTER_ETCD_CLIENT_PORT=${LOCALCLUSTER_ETCD_CLIENT_PORT:-16379}
export LOCALCLUSTER_ETCD_PEER_PORT=${LOCALCLUSTER_ETCD_PEER_PORT:-16380}
export LOCALCLUSTER_KCM_PORT=${LOCALCLUSTER_KCM_PORT:-16257}
build=${POOLGUARD_BENCH_BUILD_DIR:-$root/build-bench}

# ---- build both clients ---------------------------------------------------------------
if [ ! -f "$build/build.ninja" ]; then
  cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" --target kube_informer_bench -j2 >/dev/null
cpp_bin=$build/bench/kube_informer_bench
(
  # Same Go environment as localcluster's builds (localcluster/lib/goenv.sh).
  # shellcheck source=../localcluster/lib/common.sh
  source localcluster/lib/common.sh
  # shellcheck source=../localcluster/lib/goenv.sh
  source localcluster/lib/goenv.sh
  setup_go_env
  export CGO_ENABLED=0
  cd bench/kube/clientgo
  go build -trimpath -o "$build/clientgo-bench" .
)
go_bin=$build/clientgo-bench

# ---- cluster ----------------------------------------------------------------------------
work=$(mktemp -d /tmp/kube-bench.XXXXXX)
client_pid=""
cleanup() {
  if [ -n "$client_pid" ]; then kill "$client_pid" 2>/dev/null || true; fi
  localcluster/down --purge >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

localcluster/down --purge >/dev/null 2>&1 || true
localcluster/up >/dev/null
kubeconfig=$LOCALCLUSTER_STATE_DIR/kubeconfig

echo "creating $n ConfigMaps (1 KiB of data each) in namespace $ns ..." >&2
"$go_bin" -mode create -kubeconfig "$kubeconfig" -namespace "$ns" -n "$n" -concurrency 16 \
  >"$work/create.out"
objects=$((n + 1))  # + the namespace's kube-root-ca.crt
get() { awk -F= -v k="$2" '$1==k {print $2}' "$1"; }
echo "created $(get "$work/create.out" created) in $(get "$work/create.out" create_seconds) s" >&2

# ---- one measurement ----------------------------------------------------------------------
# run_client LABEL TAG: sync, then the update phase; leaves $work/TAG.out (client) and
# $work/TAG.load (loader).
run_client() {
  local label=$1 tag=$2 ready=$work/$2.ready done=$work/$2.done
  rm -f "$ready" "$done"
  local cpp=("$cpp_bin" --kubeconfig "$kubeconfig" --namespace "$ns" --n "$objects"
    --ready-file "$ready" --done-file "$done" --max-wait-s $((seconds + 60)))
  local go=("$go_bin" -mode informer -kubeconfig "$kubeconfig" -namespace "$ns" -n "$objects"
    -ready-file "$ready" -done-file "$done" -max-wait $((seconds + 60))s)
  local cmd
  case $label in
    cpp) cmd=("${cpp[@]}") ;;
    cpp-json) cmd=("${cpp[@]}" --encoding json) ;;  # ClientOptions::protobuf = false
    client-go) cmd=("${go[@]}") ;;
    client-go-json) cmd=("${go[@]}" -json) ;;  # as client-go must for CustomResources
    # without streaming lists: paged LIST from the watch cache
    client-go-list) cmd=(env KUBE_FEATURE_WatchListClient=false "${go[@]}") ;;
    *) echo "run_client: unknown client $label" >&2; return 1 ;;
  esac
  "${cmd[@]}" >"$work/$tag.out" 2>"$work/$tag.err" &
  client_pid=$!
  while [ ! -f "$ready" ]; do
    if ! kill -0 "$client_pid" 2>/dev/null; then
      echo "$label exited before syncing:" >&2
      cat "$work/$tag.err" >&2
      return 1
    fi
    sleep 0.05
  done
  "$go_bin" -mode update -kubeconfig "$kubeconfig" -namespace "$ns" -n "$n" -concurrency 16 \
    -seconds "$seconds" >"$work/$tag.load"
  get "$work/$tag.load" updates >"$done.tmp" && mv "$done.tmp" "$done"
  wait "$client_pid" || true
  client_pid=""
  echo "$label run $tag: sync $(get "$work/$tag.out" sync_seconds) s," \
    "events $(get "$work/$tag.out" events)/$(get "$work/$tag.load" updates)" >&2
}

pct() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.0f", 100 * a / b; else print "-" }'; }
clients=(cpp cpp-json client-go client-go-json client-go-list)
for r in $(seq 1 "$runs"); do
  for c in "${clients[@]}"; do run_client "$c" "$c.$r"; done
done

# ---- report -----------------------------------------------------------------------------
echo
echo "kube informer benchmark: N=$n ConfigMaps, update load ${seconds}s x 16 parallel patches," \
  "$(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-15s %3s %8s %8s %9s %8s %8s %6s %9s %9s %9s\n' client run sync_s sync_cpu rss_MiB \
  updates events seen% events/s cpu_ms/1k peak_MiB
for c in "${clients[@]}"; do
  for r in $(seq 1 "$runs"); do
    o=$work/$c.$r.out l=$work/$c.$r.load
    printf '%-15s %3s %8s %8s %9s %8s %8s %6s %9s %9s %9s\n' "$c" "$r" "$(get "$o" sync_seconds)" \
      "$(get "$o" sync_cpu_seconds)" "$(get "$o" sync_rss_mib)" "$(get "$l" updates)" \
      "$(get "$o" events)" "$(pct "$(get "$o" events)" "$(get "$l" updates)")" \
      "$(get "$o" events_per_sec)" "$(get "$o" cpu_ms_per_1k_events)" \
      "$(get "$o" peak_rss_mib)"
  done
done
mean() {  # client key
  local c=$1 k=$2 r
  for r in $(seq 1 "$runs"); do get "$work/$c.$r.out" "$k"; done |
    awk '{ if ($1 != "") { s += $1; n++ } } END { if (n) printf "%.3f", s / n; else print "nan" }'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "nan" }'; }
cs=$(mean cpp sync_seconds) gs=$(mean client-go sync_seconds)
cr=$(mean cpp sync_rss_mib) gr=$(mean client-go sync_rss_mib)
ce=$(mean cpp events_per_sec) ge=$(mean client-go events_per_sec)
echo
cjs=$(mean cpp-json sync_seconds) gjs=$(mean client-go-json sync_seconds)
echo "means over $runs runs, C++ / client-go (both with their defaults: protobuf for built-in kinds, streaming list):"
echo "  sync time  $cs s / $gs s = $(ratio "$cs" "$gs")   floor: <= 1.00 (no slower)"
echo "  sync time, both JSON on the wire (as for every CustomResource)  $cjs s / $gjs s = $(ratio "$cjs" "$gjs")"
echo "  sync RSS   $cr MiB / $gr MiB = $(ratio "$cr" "$gr")   floor: <= 0.50"
echo "  events/s   $ce / $ge = $(ratio "$ce" "$ge")   (rate over first..last event seen;" \
  "seen% = events seen / updates made)"
for f in "$work"/*.err; do
  if grep -v 'objects cached' "$f" | grep . >/dev/null; then
    echo "--- stderr of $(basename "$f" .err):"
    grep -v 'objects cached' "$f" | tail -5
  fi
done
