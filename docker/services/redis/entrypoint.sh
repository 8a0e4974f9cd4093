#!/bin/sh
# Redis in the foreground on REDIS_BIND:REDIS_PORT with its snapshot in /data; arguments after
# the image name are added to redis-server's (compose.yaml passes the persistence settings).
set -eu
# On a private network no password is set, so protected mode (which then refuses every
# non-loopback client) stays off; REDIS_BIND decides who can reach it.
# shellcheck disable=SC2086
exec redis-server --bind $REDIS_BIND --port "$REDIS_PORT" --dir /data --protected-mode no \
  --daemonize no --logfile "" "$@"
