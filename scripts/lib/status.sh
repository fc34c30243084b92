# shellcheck shell=bash
# status_jq [JQ OPTIONS...] FILTER: jq with the definitions of status.jq (beside this
# file) in scope, e.g. `status_jq -r 'incident | action_results' <<<"$remediation_json"`.
# Sourced by scripts/demo, tests/cluster/remediation_lib.sh and bench/remediation.sh.

STATUS_JQ_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
status_jq() { jq -L "$STATUS_JQ_DIR" "${@:1:$#-1}" "include \"status\"; ${!#}"; }
