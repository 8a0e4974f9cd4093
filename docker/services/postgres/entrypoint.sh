#!/bin/sh
# Initialise the cluster on first start (UTF-8, C.UTF-8 locale, scram passwords), create the
# database, then exec postgres so it gets the stop signal (SIGINT: a fast shutdown).
set -eu
. /usr/local/lib/service-common.sh
file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  if [ -z "$POSTGRES_PASSWORD" ]; then
    echo "$0: POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) is required to initialise the database." >&2
    exit 1
  fi
  pwfile=$(mktemp)
  printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
  initdb -D "$PGDATA" -E UTF8 --locale=C.UTF-8 --username="$POSTGRES_USER" --pwfile="$pwfile" \
    --auth-local=trust --auth-host=scram-sha-256
  rm -f "$pwfile"
  # Any address may try, and every one must give the password (the socket stays trusted for the
  # container's own tools).
  printf 'host all all 0.0.0.0/0 scram-sha-256\nhost all all ::/0 scram-sha-256\n' >>"$PGDATA/pg_hba.conf"
  # A socket-only server for the set-up, so nothing outside sees it (or turns healthy) half-made.
  pg_ctl -D "$PGDATA" -o "-c listen_addresses='' -c unix_socket_directories=/run/postgresql" -w start
  if [ "$POSTGRES_DB" != postgres ]; then
    # psql quotes the name itself (:"db"); it interpolates only in input it reads, not in -c.
    echo 'CREATE DATABASE :"db";' | psql -q -v ON_ERROR_STOP=1 -h /run/postgresql \
      -U "$POSTGRES_USER" -d postgres -v db="$POSTGRES_DB"
  fi
  pg_ctl -D "$PGDATA" -m fast -w stop
  echo "$0: initialised database $POSTGRES_DB for $POSTGRES_USER"
fi
unset POSTGRES_PASSWORD
exec postgres -D "$PGDATA" -p "$PGPORT" -c listen_addresses="$POSTGRES_LISTEN_ADDRESSES" \
  -c unix_socket_directories=/run/postgresql "$@"
