# shellcheck shell=bash
# Shared helpers for the localcluster scripts: paths, versions, cache key, logging.
# Sourced, never executed.

LC_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
REPO_DIR="$(cd "$LC_DIR/.." && pwd)"

# shellcheck source=../versions.env
source "$LC_DIR/versions.env"

CACHE_DIR="${POOLGUARD_CACHE_DIR:-$REPO_DIR/.cache}"
# Machine-wide seed cache: a fresh clone elsewhere on the same machine copies
# binaries from here instead of rebuilding them.
SEED_DIR="${POOLGUARD_SEED_CACHE_DIR:-$HOME/.cache/poolguard}"
# shellcheck disable=SC2034  # used by the scripts that source this file
STATE_DIR="${LOCALCLUSTER_STATE_DIR:-$REPO_DIR/.state/localcluster}"

# Everything that changes the binaries is in the key.
BIN_KEY="k8s-${KUBERNETES_VERSION}-etcd-${ETCD_VERSION}-helm-${HELM_VERSION}-${GO_VERSION}-r${BUILD_RECIPE}"
# shellcheck disable=SC2034  # used by the scripts that source this file
BIN_DIR="$CACHE_DIR/bin/$BIN_KEY"
# shellcheck disable=SC2034  # used by build/build-binaries
SEED_BIN_DIR="$SEED_DIR/bin/$BIN_KEY"
BINARIES=(etcd kube-apiserver kube-controller-manager kubectl helm)

log()  { printf '[localcluster] %s\n' "$*" >&2; }
die()  { printf '[localcluster] ERROR: %s\n' "$*" >&2; exit 1; }

have_all_binaries() { # dir
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$1/$b" ]] || return 1; done
}
