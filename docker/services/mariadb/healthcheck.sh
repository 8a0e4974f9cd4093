#!/bin/sh
# Healthy once the real server (not the socket-only set-up one) answers over TCP and InnoDB is up.
# "Access denied" still proves the server answers, so no password is needed here.
out=$(mariadb-admin --protocol=tcp -h 127.0.0.1 -P "${MARIADB_PORT:-3306}" -u healthcheck ping 2>&1)
case $out in
  *"is alive"*|*"Access denied"*) exit 0 ;;
  *) exit 1 ;;
esac
