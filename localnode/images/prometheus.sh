#!/usr/bin/env bash
# localnode's stand-in for the prom/prometheus image: upstream Prometheus built by
# localnode/build-prometheus (Debian's /usr/bin/prometheus has no kubernetes_sd_configs,
# which the repo's monitoring config needs). Arguments are Prometheus's own.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
if ! bin="$("$here/../build-prometheus" --path)"; then
  echo "prometheus.sh: no Prometheus with kubernetes_sd_configs built: run localnode/build-prometheus" \
    "(Debian's /usr/bin/prometheus is built without the Kubernetes service discovery)" >&2
  exit 1
fi
exec "$bin" "$@"
