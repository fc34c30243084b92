# shellcheck shell=bash
# Certificates and keys for the local cluster, made with openssl. Sourced.
# Everything lives in $PKI (= $STATE_DIR/pki); existing files are kept, so
# restarts reuse the same CA and keys (kubeconfigs and tokens stay valid).

CERT_DAYS=3650

# Functions printing extra subjectAltNames (comma-separated, "IP:x" or "DNS:x") for
# the API server's serving certificate; component hooks append to it (the node agent:
# the pod network's gateway, where pods reach the API server).
APISERVER_SAN_HOOKS=()

# TLS keys are ECDSA P-256 (fast to make: a fresh state dir is up sooner);
# the service-account signing key is RSA 2048 (RS256, what every client expects).
new_key() { # file [rsa]
  local alg=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
  [[ "${2:-}" == rsa ]] && alg=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048)
  openssl genpkey "${alg[@]}" -out "$1" 2>/dev/null || die "openssl could not create key $1"
  chmod 600 "$1"
}

make_ca() { # name, common name
  [[ -f "$PKI/$1.crt" && -f "$PKI/$1.key" ]] && return
  new_key "$PKI/$1.key"
  openssl req -x509 -new -key "$PKI/$1.key" -sha256 -days "$CERT_DAYS" -out "$PKI/$1.crt" \
    -subj "/CN=$2" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" 2>/dev/null ||
    die "openssl could not create the CA $PKI/$1.crt"
}

# issue_cert NAME SUBJECT EXTENDED_KEY_USAGE [SUBJECT_ALT_NAMES] [CA]
# Writes $PKI/NAME.crt and $PKI/NAME.key signed by CA (default: the cluster CA
# "ca"), unless present.
# Usable by component hooks (e.g. a node agent: "/O=system:nodes/CN=system:node:NAME").
# A certificate that lacks one of SUBJECT_ALT_NAMES (certificates are made once per
# state dir; a hook may add a name later) is issued again.
issue_cert() {
  local name="$1" subj="$2" eku="$3" sans="${4:-}" ca="${5:-ca}" ext
  if [[ -f "$PKI/$name.crt" && -f "$PKI/$name.key" ]]; then
    cert_has_sans "$PKI/$name.crt" "$sans" && return
    log "certificate $PKI/$name.crt lacks some of $sans: issuing it again"
  fi
  new_key "$PKI/$name.key"
  ext="basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$eku"
  [[ -n "$sans" ]] && ext+=$'\n'"subjectAltName=$sans"
  openssl req -new -key "$PKI/$name.key" -subj "$subj" 2>/dev/null |
    openssl x509 -req -CA "$PKI/$ca.crt" -CAkey "$PKI/$ca.key" -CAcreateserial -sha256 \
      -days "$CERT_DAYS" -extfile <(printf '%s\n' "$ext") -out "$PKI/$name.crt" 2>/dev/null ||
    die "openssl could not issue certificate $PKI/$name.crt ($subj)"
}

# cert_has_sans FILE SANS: every "IP:x"/"DNS:x" of the comma-separated SANS is in FILE.
cert_has_sans() {
  local have want
  [[ -n "$2" ]] || return 0
  have="$(openssl x509 -in "$1" -noout -ext subjectAltName 2>/dev/null | tail -n +2 |
    sed 's/IP Address:/IP:/g; s/ //g' | tr ',' '\n')"
  for want in ${2//,/ }; do
    grep -qxF "$want" <<<"$have" || return 1
  done
}

make_pki() {
  mkdir -p "$PKI"
  chmod 700 "$PKI"
  make_ca ca localcluster-ca
  # Request-header (front-proxy) CA, as on kubeadm clusters: aggregated API
  # servers and the controller-manager's delegated authentication expect it.
  make_ca front-proxy-ca localcluster-front-proxy-ca
  issue_cert front-proxy-client "/CN=front-proxy-client" clientAuth "" front-proxy-ca
  local svc_dns="DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local"
  local extra_sans="" hook
  for hook in "${APISERVER_SAN_HOOKS[@]}"; do extra_sans+=",$("$hook")"; done
  issue_cert apiserver "/CN=kube-apiserver" serverAuth \
    "DNS:localhost,$svc_dns,IP:127.0.0.1,IP:$SERVICE_IP$extra_sans"
  issue_cert etcd-server "/CN=etcd-server" serverAuth,clientAuth "DNS:localhost,IP:127.0.0.1"
  issue_cert apiserver-etcd-client "/CN=kube-apiserver-etcd-client" clientAuth
  issue_cert apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" clientAuth
  issue_cert admin "/O=system:masters/CN=localcluster-admin" clientAuth
  issue_cert controller-manager "/CN=system:kube-controller-manager" clientAuth
  if [[ ! -f "$PKI/sa.key" ]]; then
    new_key "$PKI/sa.key" rsa
    openssl pkey -in "$PKI/sa.key" -pubout -out "$PKI/sa.pub" 2>/dev/null ||
      die "openssl could not derive $PKI/sa.pub"
  fi
}

# write_kubeconfig FILE USER CERT_NAME: kubeconfig with embedded CA and client cert.
write_kubeconfig() {
  local file="$1" user="$2" cert="$3" tmp
  tmp="$file.tmp"
  cat >"$tmp" <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
- name: localcluster
  cluster:
    server: https://127.0.0.1:$APISERVER_PORT
    certificate-authority-data: $(base64 -w0 "$PKI/ca.crt")
users:
- name: $user
  user:
    client-certificate-data: $(base64 -w0 "$PKI/$cert.crt")
    client-key-data: $(base64 -w0 "$PKI/$cert.key")
contexts:
- name: $user@localcluster
  context:
    cluster: localcluster
    user: $user
current-context: $user@localcluster
KUBECONFIG
  chmod 600 "$tmp"
  mv "$tmp" "$file"
}
