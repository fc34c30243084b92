#!/usr/bin/env bash
# localnode's stand-in for the poolguard-examples/fastapi image (examples/apps/fastapi):
# the app's own source run with the venv its install script builds. Arguments are the
# image's CMD (`uvicorn main:app --host 0.0.0.0 --port 8000`); the host 0.0.0.0 becomes
# the pod's own address (BIND_ADDRESS), which is what 0.0.0.0 reaches in a container's
# network namespace: here all pods share one, and two replicas would clash on 0.0.0.0.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
venv="$("$here/../../examples/apps/fastapi/install")"
args=()
for arg in "$@"; do
  if [[ "$arg" == 0.0.0.0 && -n "${BIND_ADDRESS:-}" ]]; then arg="$BIND_ADDRESS"; fi
  args+=("$arg")
done
cmd="${args[0]}"
exec "$venv/bin/$cmd" "${args[@]:1}"
