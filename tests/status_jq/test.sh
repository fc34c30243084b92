#!/usr/bin/env bash
# scripts/lib/status.jq on one Remediation (remediation.json here: a LockContention
# incident healed at rung 2, one older incident in history): every definition's output
# against expected.txt, so a change to what scripts/demo prints, or to what the tests and
# bench/remediation.sh read, shows here without a cluster (and on another jq version).
# POOLGUARD_UPDATE_EXPECTED=1 rewrites expected.txt.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=../../scripts/lib/status.sh
source "$here/../../scripts/lib/status.sh"
command -v jq >/dev/null || { echo "status_jq test: jq is not installed (scripts/install-deps)" >&2; exit 1; }

actual=$(status_jq -r '
  "phase: \(phase)", "message: \(message)",
  "incidents: \([incidents[].id] | join(" "))", "closed_incident: \(closed_incident | .id)",
  (incident |
    "detection_text: \(detection_text)", signal_lines,
    "diagnosis_text: \(diagnosis_text)", checks_table, diagnosis_summary_line,
    (action_rows | gsub("\u001f"; "|")),
    fix_line,
    "action_results: \(action_results)",
    "verified_actions: \(verified_actions | map(.name) | join(","))",
    "healing_rung_seconds: \(healing_rung_seconds)",
    "figures: \(figures)",
    "epoch_seconds: \(.detectedAt | epoch_seconds)")' <"$here/remediation.json")

if [[ "${POOLGUARD_UPDATE_EXPECTED:-}" == 1 ]]; then
  printf '%s\n' "$actual" >"$here/expected.txt"
  echo "status_jq test: rewrote $here/expected.txt"
  exit 0
fi
if ! diff -u "$here/expected.txt" <(printf '%s\n' "$actual"); then
  echo "status_jq test: scripts/lib/status.jq prints something else than tests/status_jq/expected.txt (diff above)" >&2
  exit 1
fi
echo "status_jq test: $(grep -c . "$here/expected.txt") lines as expected"
