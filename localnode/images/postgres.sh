#!/usr/bin/env bash
# localnode's stand-in for the postgres image: PostgreSQL from Debian's packages.
# As the official image: POSTGRES_USER [postgres], POSTGRES_PASSWORD (required unless
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_DB [$POSTGRES_USER], PGPORT [5432].
# The data directory is $LOCALNODE_POD_DATA_DIR/pgdata: one per pod name, kept when the
# pod is deleted and recreated (what a StatefulSet's volume gives). Listens on
# $BIND_ADDRESS (the pod IP). Runs as the postgres user (PostgreSQL refuses root).
# SIGTERM is turned into a fast shutdown (the official image's STOPSIGNAL is SIGINT).
set -euo pipefail

bindir=${POOLGUARD_PG_BINDIR:-$(printf '%s\n' /usr/lib/postgresql/*/bin | sort -V | tail -n 1)}
[[ -x "$bindir/postgres" ]] || { echo "postgres.sh: no PostgreSQL under /usr/lib/postgresql" >&2; exit 1; }
: "${LOCALNODE_POD_DATA_DIR:?postgres.sh runs under poolguard-localnode, which sets LOCALNODE_POD_DATA_DIR}"
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
port=${PGPORT:-5432}
auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
if [[ "$auth" != trust && -z "${POSTGRES_PASSWORD:-}" ]]; then
  echo "Error: Database is uninitialized and superuser password is not specified." >&2
  echo "       You must specify POSTGRES_PASSWORD to a non-empty value for the superuser." >&2
  exit 1
fi
data="$LOCALNODE_POD_DATA_DIR/pgdata"
sock="$LOCALNODE_POD_DATA_DIR/run"
mkdir -p "$LOCALNODE_POD_DATA_DIR" "$sock"
# The postgres user must reach the data dir through its parents.
d="$LOCALNODE_POD_DATA_DIR"
while [[ "$d" != / ]]; do chmod o+x "$d" 2>/dev/null || true; d=$(dirname "$d"); done
chown postgres:postgres "$LOCALNODE_POD_DATA_DIR" "$sock"
as_pg() { setpriv --reuid=postgres --regid=postgres --init-groups -- "$@"; }

if [[ ! -s "$data/PG_VERSION" ]]; then
  echo "postgres.sh: initialising $data (user $user, database $db)"
  mkdir -p "$data"
  chown postgres:postgres "$data"
  chmod 700 "$data"
  pw=$(mktemp)
  printf '%s\n' "${POSTGRES_PASSWORD:-}" >"$pw"
  chown postgres "$pw"
  as_pg "$bindir/initdb" -D "$data" -U "$user" --pwfile="$pw" --auth-local=trust \
    --auth-host="$auth" -E UTF8 --locale=C.UTF-8
  rm -f "$pw"
  if [[ "$db" != postgres ]]; then
    as_pg "$bindir/pg_ctl" -D "$data" -w -o "-c listen_addresses='' -k $sock" start >/dev/null
    as_pg "$bindir/psql" -h "$sock" -U "$user" -d postgres -v ON_ERROR_STOP=1 -q \
      -c "CREATE DATABASE \"$db\""
    as_pg "$bindir/pg_ctl" -D "$data" -w -m fast stop >/dev/null
  fi
  # As the official image: password auth from any address.
  echo "host all all all $auth" >>"$data/pg_hba.conf"
  echo "postgres.sh: initialised"
fi

# The image's CMD is "postgres"; extra args (-c name=value) are passed on.
if [[ "${1:-}" == postgres ]]; then shift; fi
# setpriv execs postgres, so $! is the postmaster itself: the trap's SIGINT must reach it
# (through as_pg, a backgrounded function, $! would be a bash subshell that holds the
# signal while its foreground child runs, and the pod would sit out its whole grace period).
setpriv --reuid=postgres --regid=postgres --init-groups -- \
  "$bindir/postgres" -D "$data" -c "listen_addresses=${BIND_ADDRESS:-127.0.0.1}" -p "$port" \
  -k "$sock" "$@" &
pid=$!
# As the official image's STOPSIGNAL: SIGINT, PostgreSQL's fast shutdown (sessions are
# ended, not waited for).
trap 'kill -INT $pid 2>/dev/null || true' TERM INT
set +e
while :; do
  wait "$pid"
  rc=$?
  kill -0 "$pid" 2>/dev/null || break
done
exit "$rc"
