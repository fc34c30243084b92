# shellcheck shell=bash
# The node agent (issue 5, docs/localnode.md): runs the cluster's pods as local
# processes. Started after the control plane when its binary exists:
# $LOCALNODE_BINARY, else <repo>/build/localnode/poolguard-localnode.
#
#   LOCALCLUSTER_KUBELET_PORT [10250]   the agent's kubelet port (kubectl logs)
#   LOCALCLUSTER_POD_NETWORK  [10.244.0] pods get <net>.2-254 on lo
#   LOCALCLUSTER_PROXY_NETWORK [10.245.<same third octet>] Service proxies
# Remembered in $STATE_DIR/localnode.env. With LOCALCLUSTER_AUTO_PORTS=1 the
# first up picks a free port and an unused 10.244.N network, so test clusters
# never clash with a developer's.

# The binary: $LOCALNODE_BINARY, else the one this state dir used last time, else
# the default build tree. Registered when it exists or when an agent of this state
# dir may still run (so `down` always stops it, whatever the environment).
localnode_saved_binary() { sed -n 's/^BINARY=//p' "$STATE_DIR/localnode.env" 2>/dev/null || true; }
LOCALNODE_BINARY="${LOCALNODE_BINARY:-$(localnode_saved_binary)}"
LOCALNODE_BINARY="${LOCALNODE_BINARY:-$LC_DIR/../build/localnode/poolguard-localnode}"
if [[ -x "$LOCALNODE_BINARY" || -f "$STATE_DIR/run/poolguard-localnode.pid" ]]; then
  COMPONENTS+=(poolguard-localnode)
fi

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
        if ! ip -4 -o addr show dev lo 2>/dev/null | grep -q " 10\.24[45]\.$n\."; then
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
  ARGS=("$LOCALNODE_BINARY"
    --kubeconfig="$KUBECONFIG_FILE"
    --node-name=localnode
    --state-dir="$STATE_DIR/localnode"
    --kubelet-port="$KUBELET_PORT"
    --tls-cert-file="$PKI/localnode-kubelet.crt" --tls-private-key-file="$PKI/localnode-kubelet.key"
    --client-ca-file="$PKI/ca.crt"
    --pod-network="$POD_NETWORK" --service-network="$PROXY_NETWORK")
}
comp_ports_poolguard_localnode() { localnode_settings; echo "$KUBELET_PORT"; }
comp_health_poolguard_localnode() {
  localnode_settings
  [[ "$(curl -s --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-kubelet-client.crt" \
    --key "$PKI/apiserver-kubelet-client.key" "https://127.0.0.1:$KUBELET_PORT/healthz")" == ok ]] &&
    admin_curl /api/v1/nodes/localnode | grep -q '"type": *"Ready"'
}
comp_waits_poolguard_localnode() {
  localnode_settings
  echo "poolguard-localnode /healthz at https://127.0.0.1:$KUBELET_PORT and Node localnode"
}
# It stops its pods' processes first (SIGTERM, up to 10 s, SIGKILL).
comp_grace_poolguard_localnode() { echo 20; }
