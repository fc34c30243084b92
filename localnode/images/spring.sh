#!/usr/bin/env bash
# localnode's stand-in for the poolguard-examples/spring image (examples/apps/spring): the
# jar its install script builds with Maven. Arguments are the image's CMD
# (`java -jar /app/orders.jar`), the image's path mapped to the built jar. SERVER_ADDRESS
# is the pod's own address (BIND_ADDRESS): Spring Boot listens on 0.0.0.0 by default,
# which in a container's network namespace is the pod's address; here all pods share one,
# and two replicas would clash.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
built="$("$here/../../examples/apps/spring/install")"
args=()
for arg in "$@"; do
  if [[ "$arg" == /app/orders.jar ]]; then arg="$built/target/orders.jar"; fi
  args+=("$arg")
done
if [[ -n "${BIND_ADDRESS:-}" ]]; then export SERVER_ADDRESS="$BIND_ADDRESS"; fi
exec "${args[@]}"
