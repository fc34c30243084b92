# shellcheck shell=bash
# The node agent (issue 5, docs/localnode.md): runs the cluster's pods as local
# processes. Started after the control plane when its binary exists:
# $LOCALNODE_BINARY, else <repo>/build/localnode/poolguard-localnode.
#
#   LOCALCLUSTER_KUBELET_PORT [10250]   the agent's kubelet port (kubectl logs)
#   LOCALCLUSTER_POD_NETWORK  [10.244.0] pods get <net>.2-253, the gateway <net>.1
#   LOCALCLUSTER_PROXY_NETWORK [10.245.<same third octet>] Service proxies
# Remembered in $STATE_DIR/localnode.env. With LOCALCLUSTER_AUTO_PORTS=1 the
# first up picks a free port and an unused 10.244.N network, so test clusters
# never clash with a developer's.
#
# The pod network is a network namespace, poolguard-<third octet of the pod
# network>, which the agent creates at start (and removes at stop) with a veth
# pair to the host; the host side has the gateway address <net>.1. Pods reach
# the API server there, so with the agent kube-apiserver listens on all
# addresses (still only on its chosen port) and its serving certificate names
# the gateway. `down` removes the namespace even if the agent was killed.

# The binary: $LOCALNODE_BINARY, else the one this state dir used last time, else
# the default build tree. Registered when it exists or when an agent of this state
# dir may still run (so `down` always stops it, whatever the environment).
localnode_saved_binary() { sed -n 's/^BINARY=//p' "$STATE_DIR/localnode.env" 2>/dev/null || true; }
LOCALNODE_BINARY="${LOCALNODE_BINARY:-$(localnode_saved_binary)}"
LOCALNODE_BINARY="${LOCALNODE_BINARY:-$LC_DIR/../build/localnode/poolguard-localnode}"
if [[ -x "$LOCALNODE_BINARY" || -f "$STATE_DIR/run/poolguard-localnode.pid" ]]; then
  COMPONENTS+=(poolguard-localnode)
  # Pods (in the pod network's namespace) reach the API server at the gateway, an
  # address of the host's veth: kube-apiserver takes one --bind-address, so all of them.
  # shellcheck disable=SC2034  # read by comp_args_kube_apiserver (lib/components.sh)
  APISERVER_BIND_ADDRESS=0.0.0.0
  APISERVER_SAN_HOOKS+=(localnode_apiserver_sans)
fi
localnode_apiserver_sans() { localnode_settings; echo "IP:$POD_NETWORK.1"; }
localnode_netns() { echo "poolguard-${1##*.}"; } # pod network -> namespace (and host veth) name

# True when network A.B.C.N (pod) or 10.245.N (proxy) is used on this machine: a
# namespace poolguard-N, an address or a route of either network.
localnode_network_used() { # N
  ip netns list 2>/dev/null | grep "^poolguard-$1\b" >/dev/null ||
    ip -4 -o addr show 2>/dev/null | grep " 10\.24[45]\.$1\." >/dev/null ||
    ip -4 route show 2>/dev/null | grep "^10\.24[45]\.$1\." >/dev/null
}

localnode_settings() {
  [[ -n "${LOCALNODE_SETTINGS_DONE:-}" ]] && return
  local saved="$STATE_DIR/localnode.env" k v n i
  declare -A rec=()
  if [[ -f "$saved" ]]; then
    while IFS='=' read -r k v; do [[ -n "$k" ]] && rec[$k]="$v"; done <"$saved"
  fi
  KUBELET_PORT="${LOCALCLUSTER_KUBELET_PORT:-${rec[KUBELET_PORT]:-$(default_port 10250)}}"
  POD_NETWORK="${LOCALCLUSTER_POD_NETWORK:-${rec[POD_NETWORK]:-}}"
  if [[ -z "$POD_NETWORK" ]]; then
    POD_NETWORK=10.244.0
    if [[ "${LOCALCLUSTER_AUTO_PORTS:-0}" == 1 ]]; then
      for ((i = 0; i < 50; i++)); do
        n=$((1 + RANDOM % 250))
        if ! localnode_network_used "$n"; then
          POD_NETWORK="10.244.$n"
          break
        fi
      done
    fi
  fi
  PROXY_NETWORK="${LOCALCLUSTER_PROXY_NETWORK:-${rec[PROXY_NETWORK]:-10.245.${POD_NETWORK##*.}}}"
  mkdir -p "$STATE_DIR"
  printf '%s\n' "KUBELET_PORT=$KUBELET_PORT" "POD_NETWORK=$POD_NETWORK" "PROXY_NETWORK=$PROXY_NETWORK" \
    "BINARY=$LOCALNODE_BINARY" >"$saved"
  LOCALNODE_SETTINGS_DONE=1
}

comp_args_poolguard_localnode() {
  localnode_settings
  [[ -x "$LOCALNODE_BINARY" ]] || die "poolguard-localnode: no binary at $LOCALNODE_BINARY (build it, or set LOCALNODE_BINARY)"
  # Serving certificate for the kubelet port; the API server's kubelet client
  # certificate (apiserver-kubelet-client, signed by the same CA) is verified.
  issue_cert localnode-kubelet "/O=system:nodes/CN=system:node:localnode" serverAuth \
    "DNS:localhost,IP:127.0.0.1"
  # Credentials: the admin kubeconfig. The agent also binds pods (the scheduler's
  # job), which the Node authorizer does not allow a system:node identity.
  # shellcheck disable=SC2034  # ARGS is read by lc's start_component
  ARGS=("$LOCALNODE_BINARY"
    --kubeconfig="$KUBECONFIG_FILE"
    --node-name=localnode
    --state-dir="$STATE_DIR/localnode"
    --kubelet-port="$KUBELET_PORT"
    --tls-cert-file="$PKI/localnode-kubelet.crt" --tls-private-key-file="$PKI/localnode-kubelet.key"
    --client-ca-file="$PKI/ca.crt"
    --pod-network="$POD_NETWORK" --service-network="$PROXY_NETWORK"
    --netns="$(localnode_netns "$POD_NETWORK")")
}
comp_ports_poolguard_localnode() { localnode_settings; echo "$KUBELET_PORT"; }
comp_health_poolguard_localnode() {
  localnode_settings
  [[ "$(curl -s --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-kubelet-client.crt" \
    --key "$PKI/apiserver-kubelet-client.key" "https://127.0.0.1:$KUBELET_PORT/healthz")" == ok ]] &&
    admin_curl /api/v1/nodes/localnode | grep '"type": *"Ready"' >/dev/null
}
comp_waits_poolguard_localnode() {
  localnode_settings
  echo "poolguard-localnode /healthz at https://127.0.0.1:$KUBELET_PORT and Node localnode"
}
# It stops its pods' processes first (SIGTERM, up to 10 s, SIGKILL).
comp_grace_poolguard_localnode() { echo 20; }
# After the agent is gone (also when it was killed, or never stopped its pods): kill
# whatever still runs in the pod network's namespace, delete the veth pair and the
# namespace. Reads the saved settings only (down must not invent a network).
comp_cleanup_poolguard_localnode() {
  local net ns pids i
  net="$(sed -n 's/^POD_NETWORK=//p' "$STATE_DIR/localnode.env" 2>/dev/null || true)"
  [[ -n "$net" ]] || return 0
  ns="$(localnode_netns "$net")"
  if [[ -e "/run/netns/$ns" ]]; then
    for ((i = 0; i < 50; i++)); do
      pids="$(ip netns pids "$ns" 2>/dev/null || true)"
      [[ -n "$pids" ]] || break
      ((i > 0)) || log "killing leftover processes in network namespace $ns: ${pids//$'\n'/ }"
      # shellcheck disable=SC2086  # one argument per PID
      kill -KILL $pids 2>/dev/null || true
      sleep 0.1
    done
  fi
  if ip link show "$ns" >/dev/null 2>&1; then ip link del "$ns" 2>/dev/null || true; fi
  if [[ -e "/run/netns/$ns" ]]; then
    log "removing network namespace $ns"
    ip netns del "$ns" || log "WARNING: could not delete network namespace $ns"
  fi
}
