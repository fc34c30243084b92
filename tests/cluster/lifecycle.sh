#!/usr/bin/env bash
# The localcluster commands behave: `up` on a running cluster is a no-op,
# `status` reports every component and the kubeconfig, a busy port gives a
# clear error naming the port and starts nothing, and kubectl/the API server
# report the pinned Kubernetes version.
source "$(dirname "$0")/lib.sh"
# shellcheck source=../../localcluster/versions.env
source "$REPO_DIR/localcluster/versions.env"
cluster_up

pids() { cat "$LOCALCLUSTER_STATE_DIR"/run/*.pid | sort | tr '\n' ' '; }

check "up on a running cluster is a no-op (same PIDs)"
before="$(pids)"
cluster_up
after="$(pids)"
[[ "$before" == "$after" ]] || fail "PIDs changed on a second up: '$before' -> '$after'"
ok "PIDs unchanged: $after"

check "status lists each component as healthy and shows the kubeconfig path"
# (a few tries: each component's health check is one curl with a 3 s limit)
for try in 1 2 3 4 5; do
  out="$("$REPO_DIR/localcluster/status")" && break
  ((try < 5)) || fail "status exited non-zero on a running cluster, five times: $out"
  sleep 2
done
for c in etcd kube-apiserver kube-controller-manager; do
  grep -Eq "^$c +[0-9]+ +healthy" <<<"$out" || fail "status does not show $c healthy: $out"
done
grep -q "kubeconfig: $KUBECONFIG" <<<"$out" || fail "status does not show kubeconfig $KUBECONFIG: $out"
ok "status OK"

check "kubectl and kube-apiserver report $KUBERNETES_VERSION"
client="$(kubectl version -o json | sed -n 's/.*"gitVersion": *"\([^"]*\)".*/\1/p' | tr '\n' ' ')"
[[ "$client" == "$KUBERNETES_VERSION $KUBERNETES_VERSION " ]] ||
  fail "kubectl version reports '$client' (client server), expected $KUBERNETES_VERSION for both"
kubectl version -o json | grep '"gitTreeState": "clean"' >/dev/null || fail "gitTreeState is not clean"
ok "client and server: $KUBERNETES_VERSION"

check "a busy port is refused with a message naming it, and nothing is started"
other="$(mktemp -d)"
trap 'LOCALCLUSTER_STATE_DIR="$other" "$REPO_DIR/localcluster/down" --purge >/dev/null 2>&1 || true; rm -rf "$other"' EXIT
busy="$(kubectl config view -o jsonpath='{.clusters[0].cluster.server}')"
busy="${busy##*:}"
if out="$(LOCALCLUSTER_STATE_DIR="$other" LOCALCLUSTER_AUTO_PORTS=1 LOCALCLUSTER_APISERVER_PORT="$busy" \
    "$REPO_DIR/localcluster/up" 2>&1)"; then
  fail "a second cluster started on the busy port $busy: $out"
fi
grep -q "port $busy needed by kube-apiserver is already in use" <<<"$out" || fail "unclear error for busy port $busy: $out"
if ls "$other"/run/*.pid >/dev/null 2>&1; then fail "a component was started despite the busy port: $(ls "$other"/run)"; fi
ok "refused: $(grep 'ERROR' <<<"$out")"
echo "[$TEST_NAME] PASS"
