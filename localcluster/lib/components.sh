# shellcheck shell=bash
# The control-plane components. Each component NAME (with '-' read as '_' in
# function names) defines:
#   comp_args_NAME    sets the global array ARGS to its command line
#   comp_ports_NAME   prints the TCP ports it listens on (checked before start)
#   comp_health_NAME  succeeds when it is healthy (quick, no waiting)
#   comp_waits_NAME   prints what `up` waits for, for the progress messages
# and optionally comp_progress_NAME (details while waiting), comp_grace_NAME
# (seconds between SIGTERM and SIGKILL on stop, default 15) and comp_cleanup_NAME
# (run by stop once the process is gone, or was not running: remove what it left),
# and is listed in COMPONENTS, in start order. Extra components (the node
# agent of issue 5, ...) are added by files localcluster/components.d/*.sh that
# define these functions and append to COMPONENTS.

SERVICE_CIDR=10.0.0.0/24
# shellcheck disable=SC2034  # read by pki.sh (the apiserver certificate)
SERVICE_IP=10.0.0.1

# (Not first in the file: a shellcheck directive on the first command covers the whole file.)
# shellcheck disable=SC2034  # read by lc, extended by components.d/*.sh
COMPONENTS=(etcd kube-apiserver kube-controller-manager)

# curl against a local TLS endpoint with the admin client certificate.
admin_curl() { # path
  curl -s --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/admin.crt" --key "$PKI/admin.key" \
    "https://127.0.0.1:$APISERVER_PORT$1"
}

# --- etcd -------------------------------------------------------------------
comp_args_etcd() {
  # shellcheck disable=SC2034  # ARGS is read by lc's start_component
  ARGS=("$BIN_DIR/etcd"
    --name=localcluster
    --data-dir="$STATE_DIR/etcd"
    --listen-client-urls="https://127.0.0.1:$ETCD_CLIENT_PORT"
    --advertise-client-urls="https://127.0.0.1:$ETCD_CLIENT_PORT"
    --listen-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-advertise-peer-urls="http://127.0.0.1:$ETCD_PEER_PORT"
    --initial-cluster="localcluster=http://127.0.0.1:$ETCD_PEER_PORT"
    --cert-file="$PKI/etcd-server.crt" --key-file="$PKI/etcd-server.key"
    --trusted-ca-file="$PKI/ca.crt" --client-cert-auth=true
    --log-level=warn)
}
comp_ports_etcd() { echo "$ETCD_CLIENT_PORT $ETCD_PEER_PORT"; }
comp_health_etcd() {
  curl -s --max-time 3 --cacert "$PKI/ca.crt" --cert "$PKI/apiserver-etcd-client.crt" \
    --key "$PKI/apiserver-etcd-client.key" "https://127.0.0.1:$ETCD_CLIENT_PORT/health" |
    grep '"health":"true"' >/dev/null  # not grep -q: lc runs under pipefail (SIGPIPE to curl)
}
comp_waits_etcd() { echo "etcd /health at https://127.0.0.1:$ETCD_CLIENT_PORT"; }

# --- kube-apiserver -----------------------------------------------------------
comp_args_kube_apiserver() {
  # shellcheck disable=SC2034  # ARGS is read by lc's start_component
  ARGS=("$BIN_DIR/kube-apiserver"
    # 127.0.0.1 unless a hook needs more (the node agent: its pods reach it at the
    # pod network's gateway; the port is still the chosen one).
    --bind-address="${APISERVER_BIND_ADDRESS:-127.0.0.1}" --advertise-address=127.0.0.1
    # The 'kubernetes' Service cannot have endpoints on a loopback address
    # (validation refuses 127.0.0.0/8), so no endpoint reconciler, as envtest.
    --endpoint-reconciler-type=none
    --secure-port="$APISERVER_PORT"
    --tls-cert-file="$PKI/apiserver.crt" --tls-private-key-file="$PKI/apiserver.key"
    --client-ca-file="$PKI/ca.crt"
    --etcd-servers="https://127.0.0.1:$ETCD_CLIENT_PORT"
    --etcd-cafile="$PKI/ca.crt"
    --etcd-certfile="$PKI/apiserver-etcd-client.crt" --etcd-keyfile="$PKI/apiserver-etcd-client.key"
    --authorization-mode="Node,RBAC"
    --anonymous-auth=true   # as on real clusters: /healthz, /readyz, /version for everyone, the rest RBAC
    --service-account-issuer=https://kubernetes.default.svc.cluster.local
    --service-account-key-file="$PKI/sa.pub"
    --service-account-signing-key-file="$PKI/sa.key"
    --service-cluster-ip-range="$SERVICE_CIDR"
    --kubelet-client-certificate="$PKI/apiserver-kubelet-client.crt"
    --kubelet-client-key="$PKI/apiserver-kubelet-client.key"
    --requestheader-client-ca-file="$PKI/front-proxy-ca.crt"
    --requestheader-allowed-names=front-proxy-client
    --requestheader-username-headers=X-Remote-User
    --requestheader-group-headers=X-Remote-Group
    --requestheader-extra-headers-prefix=X-Remote-Extra-
    --proxy-client-cert-file="$PKI/front-proxy-client.crt"
    --proxy-client-key-file="$PKI/front-proxy-client.key"
    --allow-privileged=true
    --profiling=false)
}
comp_ports_kube_apiserver() { echo "$APISERVER_PORT"; }
comp_health_kube_apiserver() { [[ "$(admin_curl /readyz)" == ok ]]; }
comp_waits_kube_apiserver() { echo "kube-apiserver /readyz at https://127.0.0.1:$APISERVER_PORT"; }
# After SIGTERM it stops serving at once but then waits up to --request-timeout
# (60 s) for open watches (the controller-manager's) to drain; it keeps no
# local state, so `down`/`restart` kill it after a short grace instead.
comp_grace_kube_apiserver() { echo 3; }
# While waiting: which readiness checks still fail.
comp_progress_kube_apiserver() { admin_curl '/readyz?verbose' 2>/dev/null | grep '^\[-\]' | tr '\n' ' '; }

# --- kube-controller-manager ----------------------------------------------------
comp_args_kube_controller_manager() {
  # shellcheck disable=SC2034  # ARGS is read by lc's start_component
  ARGS=("$BIN_DIR/kube-controller-manager"
    --kubeconfig="$STATE_DIR/controller-manager.kubeconfig"
    --authentication-kubeconfig="$STATE_DIR/controller-manager.kubeconfig"
    --authorization-kubeconfig="$STATE_DIR/controller-manager.kubeconfig"
    --bind-address=127.0.0.1 --secure-port="$KCM_PORT"
    --cert-dir="$STATE_DIR/controller-manager-certs"
    --service-account-private-key-file="$PKI/sa.key"
    --root-ca-file="$PKI/ca.crt"
    --use-service-account-credentials=true
    --cluster-signing-cert-file="$PKI/ca.crt" --cluster-signing-key-file="$PKI/ca.key"
    --service-cluster-ip-range="$SERVICE_CIDR"
    --controllers='*'
    --leader-elect=false    # single instance; no 15 s wait for a stale lease after a restart
    --profiling=false)
}
comp_ports_kube_controller_manager() { echo "$KCM_PORT"; }
comp_health_kube_controller_manager() {
  [[ "$(curl -sk --max-time 3 "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]
}
comp_waits_kube_controller_manager() { echo "kube-controller-manager /healthz at https://127.0.0.1:$KCM_PORT"; }
