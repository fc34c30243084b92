# shellcheck shell=bash
# Helpers shared by the benchmarks: a process's figures from /proc, the API server's request
# counters, and the synthetic Remediation bench/scale.sh and bench/compare.sh create by the
# thousand. Sourced; defines functions only.

# proc_rss PID / proc_hwm PID: VmRSS / VmHWM in MB (MiB), one decimal.
proc_rss() { awk '/^VmRSS/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
proc_hwm() { awk '/^VmHWM/ {printf "%.1f", $2 / 1024}' "/proc/$1/status"; }
proc_threads() { awk '/^Threads/ {print $2}' "/proc/$1/status"; }
# proc_cpu_ticks PID: user + system time so far, in clock ticks (getconf CLK_TCK a second).
proc_cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# proc_tree_cpu_ticks PID: the same for PID, its children alive now and those it has reaped
# (a postmaster and its backends, short-lived ones included).
proc_tree_cpu_ticks() {
  local total child
  total=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$1/stat")
  for child in $(pgrep -P "$1"); do
    total=$((total + $(awk '{print $14 + $15}' "/proc/$child/stat" 2>/dev/null || echo 0)))
  done
  echo "$total"
}

# children_cpu_seconds: user + system seconds of the calling shell's finished children, from
# the `times` builtin (its second line); run `( command; times )` and pass its last line.
children_cpu_seconds() {
  awk '{ t = 0; for (i = 1; i <= 2; i++) { v = $i; split(v, a, "m"); sub(/s$/, "", a[2]); t += a[1] * 60 + a[2] }; printf "%.3f", t }' <<<"$1"
}

# apiserver_requests: the API server's apiserver_request_total so far, all clients, summed
# by verb and resource[/subresource]: "verb:resource count" lines, sorted (for join).
apiserver_requests() {
  kubectl get --raw /metrics | awk '/^apiserver_request_total\{/ {
      verb = ""; res = ""; sub_ = ""
      if (match($0, /verb="[^"]*"/)) verb = substr($0, RSTART + 6, RLENGTH - 7)
      if (match($0, /resource="[^"]*"/)) res = substr($0, RSTART + 10, RLENGTH - 11)
      if (match($0, /subresource="[^"]*"/)) sub_ = substr($0, RSTART + 13, RLENGTH - 14)
      if (res == "") next
      n[verb ":" res (sub_ == "" ? "" : "/" sub_)] += $NF
    }
    END { for (k in n) print k, n[k] }' | sort
}
# requests_per_second BEFORE AFTER SECONDS: between two apiserver_requests files, the rate of
# each "verb:resource" that moved ("key rate" lines).
requests_per_second() {
  join -a 2 -e 0 -o 0,1.2,2.2 "$1" "$2" |
    awk -v w="$3" '{d = ($3 - $2) / w; if (d > 0) printf "%s %.2f\n", $1, d}'
}

# synthetic_remediation NAME NAMESPACE DEPLOYMENT INTERVAL: a dry-run Remediation whose
# target and database are the Service `synth` (no endpoints) and the Secret `creds`.
synthetic_remediation() {
  cat <<YAML
---
apiVersion: poolguard.dev/v1alpha1
kind: Remediation
metadata: {name: $1, namespace: $2}
spec:
  target: {deployment: $3, service: synth, port: 80}
  database: {service: synth, port: 80, credentialsSecret: creds}
  detection: {interval: $4}
  safety: {dryRun: true}
YAML
}
