#!/usr/bin/env bash
# Issue 14, in a real browser: Debian's Chromium, headless, driven by puppeteer-core (from
# npm; tests/browser/install) against poolguard-console on the demo stack. The page part is
# tests/browser/console.mjs: sign in; a LockTable experiment started from the page; the
# incident appears live (no reload) with its checks table; the RestartDatabase that needs
# approval is approved on the page; a user with rights only in another namespace sees no
# target and gets 403 on approve. Here, afterwards, the cluster side: the controller acted
# once (one rung, the StatefulSet restarted once) and status names the approver.
# Screenshots go to $POOLGUARD_SCREENSHOT_DIR (default <build>/screenshots); docs/console.md
# shows them.
source "$(dirname "$0")/lib.sh"
# shellcheck source=remediation_lib.sh
source "$TESTS_CLUSTER_DIR/remediation_lib.sh"
# shellcheck source=console_lib.sh
source "$TESTS_CLUSTER_DIR/console_lib.sh"
CHROMIUM="${CHROMIUM:-/usr/bin/chromium}"
[[ -x "$CHROMIUM" ]] || fail "no Chromium at $CHROMIUM (scripts/install-deps installs Debian's chromium)"
command -v node >/dev/null || fail "node is missing (scripts/install-deps installs nodejs)"
MODULES="$("$REPO_DIR/tests/browser/install")" || fail "tests/browser/install failed"
SHOTS="${POOLGUARD_SCREENSHOT_DIR:-$BUILD_DIR/screenshots}"
console_up console-ui

check "the page: sign in, start a LockTable experiment, watch the incident live, approve RestartDatabase; an outsider sees nothing"
apply_remediation DiagnosisDriven '[RestartDatabase]' \
  '{cooldown: 2s, maxActionsPerHour: 10, requireApproval: [RestartDatabase]}'
wait_watching
sts_generation() { kubectl get statefulset db -n "$NS" -o jsonpath='{.metadata.generation}'; }
before="$(sts_generation)"
CONSOLE_URL="$URL" NS="$NS" REM="$REM" OPERATOR_TOKEN="$OPERATOR_TOKEN" OUTSIDER_TOKEN="$OUTSIDER_TOKEN" \
  SCREENSHOT_DIR="$SHOTS" BROWSER_MODULES="$MODULES/node_modules" CHROMIUM="$CHROMIUM" \
  KUBECTL="$(command -v kubectl)" node "$REPO_DIR/tests/browser/console.mjs" 2>&1 | tee "$WORK/browser.log"
((PIPESTATUS[0] == 0)) || fail "the browser run failed (screenshots in $SHOTS)"
lag="$(sed -n 's/^LIVE_LAG_MS=//p' "$WORK/browser.log")"
ok "the page did it all; AwaitingApproval shown ${lag} ms after the API server had it; screenshots in $SHOTS"

check "the controller acted once on the page's approval, naming who approved"
rem_is "[.status.incident.actions[] | {name, result, approvedBy}] == [{name: \"RestartDatabase\", result: \"Verified\", approvedBy: \"$OPERATOR\"}]" ||
  fail "actions: $(rq '[.status.incident.actions[] | {name, result, approvedBy}]')"
after="$(sts_generation)"
((after == before + 1)) || fail "StatefulSet db generation $before -> $after (want exactly one restart)"
ok "$(incident_summary); StatefulSet db generation $before -> $after"
