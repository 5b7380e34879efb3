#!/usr/bin/env bash
# Start (or reuse) a throwaway PostgreSQL cluster on loopback for the `postgres` test marker.
#
#   eval "$(bash .ci/postgres.sh)"        # -> export CDS_TEST_POSTGRES_URL=postgresql+psycopg://...
#                                         #    export CDS_CI_POSTGRES_STARTED=1 (0: it was running)
#   bash .ci/postgres.sh stop             # stop the cluster (its data dir is kept for reuse)
#
# Installs Debian's `postgresql` package only if no server binaries are found. PostgreSQL refuses to
# run as root, so as root the cluster runs as the `postgres` system user (created if missing).
# Only the export lines go to stdout; everything else goes to stderr. Idempotent: a second call
# finds the running cluster and prints the same URL in well under a second.
set -euo pipefail

PGDIR="${CDS_PG_DIR:-${TMPDIR:-/tmp}/cds-ci-postgres-$(id -u)}"
DB_NAME="cds_test"
DB_USER="cds"

log() { printf 'postgres.sh: %s\n' "$*" >&2; }

find_bindir() {
  local dir
  dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$dir" && -x "$dir/initdb" && -x "$dir/pg_ctl" ]]; then
    printf '%s\n' "$dir"
  fi
}

BINDIR="$(find_bindir)"
if [[ -z "$BINDIR" ]]; then
  if [[ "$(id -u)" -ne 0 ]]; then
    log "PostgreSQL server binaries not found and not root: cannot apt-get install postgresql"
    exit 1
  fi
  log "installing postgresql from Debian packages"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q >&2
  apt-get install -y -q --no-install-recommends postgresql >&2
  BINDIR="$(find_bindir)"
  [[ -n "$BINDIR" ]] || { log "postgresql installed but no initdb/pg_ctl found"; exit 1; }
fi

# Who runs the server: never root.
if [[ "$(id -u)" -eq 0 ]]; then
  RUN_USER="postgres"
  if ! id -u "$RUN_USER" >/dev/null 2>&1; then
    log "creating system user $RUN_USER"
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash "$RUN_USER"
  fi
  as_pg() { runuser -u "$RUN_USER" -- "$@"; }
else
  RUN_USER="$(id -un)"
  as_pg() { "$@"; }
fi

if [[ "${1:-}" == "stop" ]]; then
  if [[ -f "$PGDIR/data/PG_VERSION" ]]; then
    as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2 || true
  fi
  exit 0
fi

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

mkdir -p "$PGDIR"
chmod 700 "$PGDIR"
chown "$RUN_USER" "$PGDIR"

if [[ ! -f "$PGDIR/data/PG_VERSION" ]]; then
  log "initdb in $PGDIR/data (user $RUN_USER)"
  rm -rf "$PGDIR/data"
  python3 -c 'import secrets; print(secrets.token_urlsafe(18))' > "$PGDIR/password"
  chown "$RUN_USER" "$PGDIR/password"
  chmod 600 "$PGDIR/password"
  as_pg "$BINDIR/initdb" -D "$PGDIR/data" -U "$RUN_USER" --auth-local=trust \
    --auth-host=scram-sha-256 --encoding=UTF8 --locale=C.UTF-8 >&2
  # The port is chosen once; a stale port file from an older cluster is discarded above with data/.
  free_port > "$PGDIR/port"
  chown "$RUN_USER" "$PGDIR/port"
fi

PORT="$(cat "$PGDIR/port")"
PASSWORD="$(cat "$PGDIR/password")"

STARTED=0
if ! as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" status >/dev/null 2>&1; then
  STARTED=1
  log "starting PostgreSQL on 127.0.0.1:$PORT"
  # Loopback only, socket in our own dir; durability off: this cluster holds nothing worth keeping.
  as_pg "$BINDIR/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 start \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$PGDIR -c fsync=off \
-c synchronous_commit=off -c full_page_writes=off -c max_connections=100" >&2 || {
    log "pg_ctl start failed; server log follows"
    tail -n 30 "$PGDIR/server.log" >&2 || true
    exit 1
  }
fi

psql_pg() {
  as_pg "$BINDIR/psql" -X -q -v ON_ERROR_STOP=1 -h "$PGDIR" -p "$PORT" -U "$RUN_USER" -d postgres "$@"
}

if [[ "$(psql_pg -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" != "1" ]]; then
  psql_pg -c "CREATE ROLE $DB_USER LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [[ "$(psql_pg -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != "1" ]]; then
  psql_pg -c "CREATE DATABASE $DB_NAME OWNER $DB_USER" >&2
fi

printf 'export CDS_TEST_POSTGRES_URL=postgresql+psycopg://%s:%s@127.0.0.1:%s/%s\n' \
  "$DB_USER" "$PASSWORD" "$PORT" "$DB_NAME"
printf 'export CDS_CI_POSTGRES_STARTED=%s\n' "$STARTED"
