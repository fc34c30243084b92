# shellcheck shell=bash
# Shared by console.sh and console_browser.sh (issue 14): the demo stack (remediation_lib.sh)
# with the controller, poolguard-console as a host process that knows only the API server's
# address and CA, and two identities made with `kubectl create token`:
#   operator  bound to the chart's ClusterRole poolguard-console-operator in $NS
#   outsider  bound to the same ClusterRole in $OTHER_NS only
# Source lib.sh and remediation_lib.sh first, then call console_up PREFIX.
# shellcheck disable=SC2034  # OPERATOR_TOKEN, OUTSIDER_TOKEN, OPERATOR, BODY: for the tests that source this

CONSOLE_BIN="$BUILD_DIR/console/poolguard-console"
CONSOLE_LOG="$WORK/console.log"
CONSOLE_PID=""
RECEIVER_PID=""
HOOKS="$WORK/webhooks.jsonl" # what the webhook receiver got, one JSON line per POST
OTHER_NS=""

console_cleanup() {
  local rc=$?
  [[ -z "$CONSOLE_PID" ]] || kill "$CONSOLE_PID" 2>/dev/null
  [[ -z "$RECEIVER_PID" ]] || kill "$RECEIVER_PID" 2>/dev/null
  ((rc == 0)) || { echo "--- console log:"; tail -n 40 "$CONSOLE_LOG"; } >&2
  if [[ -n "$OTHER_NS" ]]; then
    kubectl delete namespace "$OTHER_NS" --wait=false >/dev/null 2>&1
    kubectl delete clusterrole "$NS-console-operator" "$NS-console-viewer" --ignore-not-found >/dev/null 2>&1
  fi
  remediation_cleanup "$rc"
}

# console_up PREFIX: the stack in namespace PREFIX-..., the identities (OPERATOR_TOKEN,
# OUTSIDER_TOKEN, OPERATOR), the console at $URL, a webhook receiver at $HOOK_URL (it
# answers 503 to the first POST on each path, so the controller's retry is used) and the
# controller, told to notify $HOOK_URL/slack (Slack format) and to link to the console.
console_up() {
  use_test_cluster helm
  [[ -x "$CONSOLE_BIN" ]] || fail "$CONSOLE_BIN is missing: build it (scripts/build)"
  stack_up "$1"
  OTHER_NS="$NS-other"
  trap console_cleanup EXIT INT TERM

  # ---- identities: the chart's ClusterRoles (renamed for this test: a release of the chart
  # may own the real names), bound per namespace
  ROLE="$NS-console-operator"
  helm template poolguard "$REPO_DIR/helm/poolguard" --show-only templates/console-roles.yaml |
    sed "s/name: poolguard-console-/name: $NS-console-/" | kubectl apply -f - >/dev/null ||
    fail "cannot apply the chart's console ClusterRoles"
  kubectl create namespace "$OTHER_NS" >/dev/null || fail "cannot create namespace $OTHER_NS"
  local pair ns sa
  for pair in "$NS:operator" "$OTHER_NS:outsider"; do
    ns="${pair%%:*}" sa="${pair#*:}"
    kubectl create serviceaccount "$sa" -n "$ns" >/dev/null || fail "cannot create ServiceAccount $ns/$sa"
    kubectl create rolebinding "$sa-console" -n "$ns" --clusterrole="$ROLE" \
      --serviceaccount="$ns:$sa" >/dev/null || fail "cannot bind ServiceAccount $ns/$sa"
  done
  OPERATOR_TOKEN="$(kubectl create token operator -n "$NS" --duration=1h)" || fail "no token for operator"
  OUTSIDER_TOKEN="$(kubectl create token outsider -n "$OTHER_NS" --duration=1h)" || fail "no token for outsider"
  OPERATOR="system:serviceaccount:$NS:operator"

  # ---- the console, knowing the API server's address and CA only
  "$CONSOLE_BIN" --kubeconfig "$KUBECONFIG" --address 127.0.0.1 --port 0 >"$CONSOLE_LOG" 2>&1 &
  CONSOLE_PID=$!
  wait_for "the console to listen" 20 grep -q 'console on http://' "$CONSOLE_LOG"
  URL="$(grep -o 'http://127.0.0.1:[0-9]*' "$CONSOLE_LOG" | head -n 1)"

  # ---- a webhook receiver, and the controller that notifies it
  python3 "$REPO_DIR/tests/support/webhook_receiver.py" "$WORK/hook.port" "$HOOKS" --fail-first &
  RECEIVER_PID=$!
  wait_for "the webhook receiver to listen" 20 test -s "$WORK/hook.port"
  HOOK_URL="http://127.0.0.1:$(cat "$WORK/hook.port")"
  CONTROLLER_ARGS=(--notify-webhook-url="$HOOK_URL/slack" --notify-webhook-format=slack
    --console-url="$URL")
  start_controller
}

# hooks PATH JQ: the bodies the receiver took (answered 200) on PATH, through jq -s JQ.
hooks() { jq -s --arg p "$1" "[.[] | select(.path == \$p and .status == 200) | .body] | $2" "$HOOKS"; }

# call TOKEN METHOD PATH [BODY]: prints "<status> <body>"
call() {
  local args=(-sS --max-time 40 -o "$WORK/body" -w '%{http_code}' -X "$2")
  [[ -z "$1" ]] || args+=(-H "Authorization: Bearer $1")
  [[ -z "${4:-}" ]] || args+=(-H 'Content-Type: application/json' --data "$4")
  local code
  code="$(curl "${args[@]}" "$URL$3")" || fail "curl $2 $3 failed"
  printf '%s %s' "$code" "$(cat "$WORK/body")"
}
# expect STATUS JQ TOKEN METHOD PATH [BODY]: the answer has STATUS and its body satisfies JQ
expect() {
  local want="$1" jqx="$2" got
  shift 2
  got="$(call "$@")"
  [[ "${got%% *}" == "$want" ]] || fail "$2 $3 ${4:-}: want $want, got $got"
  jq -e "$jqx" <<<"${got#* }" >/dev/null || fail "$2 $3 ${4:-}: body fails '$jqx': ${got#* }"
  BODY="${got#* }"
}

