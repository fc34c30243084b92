#!/usr/bin/env bash
# localnode's stand-in for the poolguard-examples/node image (examples/apps/node): the
# app's own source with the node_modules its install script fetches from npm. Arguments
# are the image's CMD (`node server.js`). HOST is the pod's own address (BIND_ADDRESS):
# the app listens on 0.0.0.0 by default, which in a container's network namespace is the
# pod's address; here all pods share one namespace, and two replicas would clash.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
modules="$("$here/../../examples/apps/node/install")/node_modules"
export NODE_PATH="$modules${NODE_PATH:+:$NODE_PATH}"
if [[ -n "${BIND_ADDRESS:-}" ]]; then export HOST="$BIND_ADDRESS"; fi
exec "$@"
