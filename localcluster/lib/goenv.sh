# shellcheck shell=bash
# Go environment for building the local cluster's binaries. Sourced after common.sh.
# Module and build caches live under the project cache, keyed by Go version.

setup_go_env() {
  command -v go >/dev/null || die "go not found in PATH (need $GO_VERSION; see scripts/install-deps)"
  local have
  have="$(go env GOVERSION)"
  [[ "$have" == "$GO_VERSION" ]] ||
    die "go is $have but localcluster/versions.env pins GO_VERSION=$GO_VERSION (edit versions.env to re-key the cache)"
  export GOTOOLCHAIN=local           # never download another toolchain
  export GOFLAGS="-mod=readonly -buildvcs=false"
  export GOMODCACHE="$CACHE_DIR/gomod"
  export GOCACHE="$CACHE_DIR/gocache/$GO_VERSION"
  export CGO_ENABLED=0
  # sum.golang.org is not reachable from this machine: checksums are taken from
  # the proxy when gen-gomod writes go.sum, and go.sum (committed) is verified
  # on every build.
  export GONOSUMDB='*' GOSUMDB=off
  mkdir -p "$GOMODCACHE" "$GOCACHE"
}
