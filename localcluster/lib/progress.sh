# shellcheck shell=bash
# Progress of a long build step: while it runs, a line every POOLGUARD_PROGRESS_EVERY
# seconds (default 30) says what is being built, for how long, and how long it is
# expected to take, so that a cold build (minutes of silence otherwise) visibly lives.
# Nothing is printed for a step that ends sooner. Sourced, never executed; by
# localcluster/build/build-binaries and localnode/build-prometheus.

# 75 -> "1m15s", 9 -> "9s"
fmt_duration() {
  if (($1 >= 60)); then printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); else printf '%ds' "$1"; fi
}

# a b c -> "a, b, c"
join_commas() {
  local out
  printf -v out '%s, ' "$@"
  printf '%s' "${out%, }"
}

# with_progress TAG WHAT EXPECTED DETAIL_FN COMMAND...
#   TAG       prefix of the lines ("localcluster" gives "[localcluster] ...")
#   WHAT      what COMMAND builds ("kube-apiserver kubectl")
#   EXPECTED  "<seconds> <why>" ("660 a cold build on 2 cores"), or "" when unknown
#   DETAIL_FN a function printing a short state ("2 of 5 linked"), or "" for none
# Runs COMMAND in the foreground, as without this: Ctrl-C reaches it, and under set -e
# its failure ends the shell. Returns its exit status. The lines come from a subshell
# that is stopped when COMMAND ends, and stops by itself within a second when this
# shell is gone (so it never holds the caller's stderr open for long).
with_progress() {
  local tag="$1" what="$2" expected="$3" detail_fn="$4" start=$SECONDS ticker rc
  shift 4
  (
    every=${POOLGUARD_PROGRESS_EVERY:-30} parent=$$ # ($$: the shell that sourced this)
    next=$((start + every))
    exec {never}<> <(:) # a pipe nothing writes to: `read -t` on it is a builtin sleep
    while kill -0 "$parent" 2>/dev/null; do
      read -rt 1 -u "$never" || true
      ((SECONDS >= next)) || continue
      next=$((next + every))
      line="still building $what: $(fmt_duration $((SECONDS - start)))"
      if [[ -n "$expected" ]]; then
        line+=", expected ~$(fmt_duration "${expected%% *}") (${expected#* })"
      fi
      if [[ -n "$detail_fn" ]]; then line+="; $("$detail_fn")"; fi
      printf '[%s] %s\n' "$tag" "$line" >&2
    done
  ) &
  ticker=$!
  "$@"
  rc=$?
  kill "$ticker" 2>/dev/null || true
  wait "$ticker" 2>/dev/null || true
  return "$rc"
}

# cold|warm: a GOCACHE with fewer than 1000 files holds next to nothing yet (every go
# command creates its 256 folders, and a concurrent build may have added a few files).
gocache_state() { # GOCACHE dir
  local n
  n="$(find "$1" -type f 2>/dev/null | head -n 1000 | wc -l)"
  if ((n < 1000)); then echo cold; else echo warm; fi
}

# The EXPECTED argument of with_progress for a build whose GOCACHE is STATE: the time
# the newest of the given BUILD-INFO files that records a STATE build took (lines: the
# cache key, "built <time> in <seconds>s", "gocache cold|warm"); else, for a cold build,
# COLD_SECONDS, a figure measured on the 2-core development VM; else nothing.
expected_build() { # STATE COLD_SECONDS BUILD-INFO...
  local state="$1" cold="$2" info secs
  shift 2
  info="$(grep -lx "gocache $state" "$@" 2>/dev/null | xargs -r ls -t | head -n1)"
  secs="$(sed -n 's/^built .* in \([0-9]*\)s$/\1/p' "$info" 2>/dev/null)"
  if [[ -n "$secs" ]]; then
    echo "$secs as the last $state build here, $(sed -n 1p "$info")"
  elif [[ "$state" == cold ]]; then
    echo "$cold a cold build on 2 cores"
  fi
}
