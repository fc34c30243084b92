# How the scripts read and print the status of a Remediation or a ChaosExperiment: one
# place for the fields they read and the lines they print (issue 17). Used by
# scripts/demo (the incident as it unfolds), tests/cluster/remediation_lib.sh (rq and
# rem_is, so every remediation_*.sh test) and bench/remediation.sh.
#
#   jq -L "$REPO/scripts/lib" -r 'include "status"; incident | action_results'
#
# The fields are the CRDs' (crds/*.yaml; docs/remediation.md, "Status"), written by
# controller/src/remediation_types.cc and chaos_types.cc: times are RFC 3339 in UTC
# with milliseconds, `status.history` is newest first.
#
# "An object" below is a whole resource (kubectl get -o json); "an incident" is one
# element of status.incident / status.history.

# --- An object, of either kind -------------------------------------------------------
def phase: .status.phase // "";        # "" until the controller first writes status
def message: .status.message // "";

# --- A Remediation's incidents (an object) -------------------------------------------
def incident: .status.incident // {};  # the open (or last) incident; {} when none
# Every incident: the open one, then the history (newest first).
def incidents: [.status.incident // empty] + (.status.history // []);
# The newest incident with an outcome (Resolved, Exhausted, ...), or nothing.
def closed_incident: incidents | map(select(.outcome != null and .outcome != "")) | .[0] // empty;

# --- An incident -----------------------------------------------------------------------
# A status time as seconds since the epoch, with its fraction (fromdate alone drops it).
def epoch_seconds:
  (sub("\\.[0-9]+Z$"; "Z") | fromdate) + ((capture("\\.(?<ms>[0-9]+)Z$").ms // "0") | ("0." + .) | tonumber);
# The action records that fixed it (verified), in rung order.
def verified_actions: [.actions[]? | select(.result == "Verified")];
# Seconds from the healing rung's start to its verified finish (3 decimals), or "-".
def healing_rung_seconds:
  verified_actions[0] | if . then ((.finishedAt | epoch_seconds) - (.startedAt | epoch_seconds)) * 1000 | round / 1000 else "-" end;
# "TerminateBlockingSessions/Verified,..." : each action and its result, in rung order.
def action_results: [.actions[]? | "\(.name)/\(.result)"] | join(",");
# One line of figures for a test's log.
def figures:
  "id=\(.id) detection=\(.detectionSeconds // "-")s recovery=\(.recoverySeconds // "-")s actions=\(action_results) verdict=\(.verdict)";

# --- An incident, as scripts/demo prints it ------------------------------------------
# "first bad signal 06:39:07.9, detected 06:39:12.1 (3.7 s)"
def detection_text:
  "first bad signal \(.firstBadAt // "?" | .[11:22]), detected \(.detectedAt | .[11:22]) (\(.detectionSeconds // "?") s)";
# The failing signals, then the log line that showed it (when there is one).
def signal_lines:
  "     failing: \(.signals.failing // [] | join(", "))",
  (.signals.logSample // empty | "     log: \(.)");
# "LockContention (confidence High)"
def diagnosis_text: .diagnosis | "\(.conclusion) (confidence \(.confidence))";
# The diagnosis checks as a table: a header, then a line per check. Fields are escaped
# as in TSV (a tab or newline in the evidence shows as \t, \n) and padded to a width in
# bytes, as printf's %-21s.
def checks_table:
  def cell: [.] | @tsv;
  def pad($width): cell | . + (($width - utf8bytelength) as $n | if $n > 0 then " " * $n else "" end);
  "     \("CHECK" | pad(21)) \("RESULT" | pad(13)) EVIDENCE",
  (.diagnosis.checks[] | "     \(.name | pad(21)) \(.result | pad(13)) \(.evidence | cell)");
def diagnosis_summary_line: .diagnosis.summary // empty | "     \(.)";
# One line per action: index, name, rung ("-" when none), result, detail, verification,
# joined by \x1f (with a tab, `read` would merge empty fields).
def action_rows:
  .actions // [] | to_entries[] | [.key, .value.name, (.value.rung // "-"), .value.result,
    (.value.detail // ""), (.value.verification // "")] | map(tostring) | join("\u001f");
# "   incident ID: CONCLUSION fixed by ACTION; the chaos experiment: NS/NAME"
def fix_line:
  "   incident \(.id): \(.diagnosis.conclusion) fixed by \(verified_actions | map(.name) | join(", ")); the chaos experiment: \(.chaosExperiment // "none")";
