#!/usr/bin/env bash
# poolguard-console's costs, on the current cluster (KUBECONFIG; e.g. the dev cluster of
# docs/localcluster.md): prints figures, asserts nothing.
#   (a) RSS idle, and after N distinct users (a bearer token each: a Kubernetes client
#       and a TLS connection per user) with the first call's latency per user;
#   (b) /livez (the console alone) and GET /api/remediations (one LIST as the user per
#       request) under wrk, and a refused body (400 before the API server is asked);
#   bench/console.sh [USERS] [SECONDS]      (defaults 100 10)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
users=${1:-100}
seconds=${2:-10}
bin=${POOLGUARD_BUILD_DIR:-$root/build}/console/poolguard-console
[[ -x "$bin" ]] || { echo "bench/console.sh: build first ($bin)" >&2; exit 1; }
[[ -n "${KUBECONFIG:-}" ]] || { echo "bench/console.sh: set KUBECONFIG (a cluster with the CRDs)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "bench/console.sh: wrk is missing (scripts/install-deps)" >&2; exit 1; }
ns="console-bench-$RANDOM"
work=$(mktemp -d /tmp/console-bench.XXXXXX)
pid=""
cleanup() {
  [[ -z "$pid" ]] || kill "$pid" 2>/dev/null || true
  kubectl delete namespace "$ns" --wait=false >/dev/null 2>&1 || true
  kubectl delete clusterrole "$ns-op" "$ns-view" --ignore-not-found >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

kubectl apply -f "$root/crds/" >/dev/null
kubectl create namespace "$ns" >/dev/null
helm template poolguard "$root/helm/poolguard" --show-only templates/console-roles.yaml |
  sed "s/name: poolguard-console-operator/name: $ns-op/; s/name: poolguard-console-viewer/name: $ns-view/" |
  kubectl apply -f - >/dev/null
kubectl create serviceaccount op -n "$ns" >/dev/null
kubectl create rolebinding op -n "$ns" --clusterrole="$ns-op" --serviceaccount="$ns:op" >/dev/null
for i in $(seq 1 20); do
  printf 'apiVersion: poolguard.dev/v1alpha1\nkind: Remediation\nmetadata: {name: r%s}\nspec:\n  target: {deployment: api%s}\n  database: {service: db, credentialsSecret: c}\n---\n' "$i" "$i"
done | kubectl apply -n "$ns" -f - >/dev/null
token=$(kubectl create token op -n "$ns" --duration=1h)

"$bin" --kubeconfig "$KUBECONFIG" --address 127.0.0.1 --port 0 >"$work/console.log" 2>&1 &
pid=$!
for _ in $(seq 1 50); do grep -q 'console on' "$work/console.log" && break; sleep 0.1; done
url=$(grep -o 'http://127.0.0.1:[0-9]*' "$work/console.log" | head -n 1)
rss() { awk '/^VmRSS/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status"; }
echo "== poolguard-console ($(git -C "$root" rev-parse --short HEAD)), $(nproc) cores, cluster $(kubectl config view --minify -o jsonpath='{.clusters[0].cluster.server}')"
sleep 1
echo "idle RSS: $(rss)"

# (a) N users, one token each (kubectl create token mints a new one every call).
start_ns=$(date +%s%N)
for i in $(seq 1 "$users"); do
  t=$(kubectl create token op -n "$ns" --duration=1h)
  curl -fsS -o /dev/null -w '%{time_total}\n' -H "Authorization: Bearer $t" "$url/api/whoami" >>"$work/first.txt"
done
sort -n "$work/first.txt" >"$work/first.sorted"
p() { awk -v q="$1" '{v[NR]=$1} END {i=int(NR*q); if (i<1) i=1; printf "%.1f ms", v[i]*1000}' "$work/first.sorted"; }
echo "after $users users: RSS $(rss); a user's first call (client, TLS, SelfSubjectReview): p50 $(p 0.5), p99 $(p 0.99) [$(( ($(date +%s%N) - start_ns) / 1000000 )) ms in all, token minting included]"

# (b) under load
run_wrk() { # LABEL CONNECTIONS ARGS...
  local label=$1 c=$2
  shift 2
  wrk -t2 -c"$c" -d"${seconds}s" --latency "$@" >"$work/wrk.txt" 2>&1
  printf '%-44s %8s req/s  p50 %8s  p99 %8s  non-2xx %s\n' "$label" \
    "$(awk '/Requests\/sec/ {print $2}' "$work/wrk.txt")" \
    "$(awk '$1 == "50%" {print $2}' "$work/wrk.txt")" "$(awk '$1 == "99%" {print $2}' "$work/wrk.txt")" \
    "$(awk '/Non-2xx/ {print $NF}' "$work/wrk.txt" | grep . || echo 0)"
}
run_wrk "GET /livez (c16)" 16 "$url/livez"
run_wrk "GET /api/remediations, 20 items (c8)" 8 -H "Authorization: Bearer $token" "$url/api/remediations?namespace=$ns"
cat >"$work/bad.lua" <<'LUA'
wrk.method = "POST"
wrk.body = '{"namespace":"x","connections":0}'
wrk.headers["Content-Type"] = "application/json"
LUA
run_wrk "POST /break/db_pool, refused body (c16)" 16 -s "$work/bad.lua" -H "Authorization: Bearer $token" "$url/break/db_pool"
echo "after load: RSS $(rss); peak $(awk '/^VmHWM/ {printf "%.1f MB", $2 / 1024}' "/proc/$pid/status")"
