#!/bin/sh
# Initialise the data folder on first start (root password, the app's database and user), then
# exec mariadbd so it gets the stop signal.
set -eu
. /usr/local/lib/service-common.sh
file_env MARIADB_ROOT_PASSWORD
file_env MARIADB_DATABASE
file_env MARIADB_USER
file_env MARIADB_PASSWORD
datadir=/var/lib/mysql
socket=/run/mysqld/mysqld.sock
# Debian's my.cnf sets bind-address and socket in [mysqld]; these options come after it and win.
server_args="--datadir=$datadir --socket=$socket --skip-name-resolve --character-set-server=utf8mb4 --collation-server=utf8mb4_unicode_ci"

# Quote a value as an SQL string literal (backslashes and single quotes doubled).
sql_string() { printf "'%s'" "$(printf '%s' "$1" | sed -e "s/\\\\/\\\\\\\\/g" -e "s/'/''/g")"; }

if [ ! -d "$datadir/mysql" ]; then
  if [ -z "$MARIADB_ROOT_PASSWORD" ]; then
    echo "$0: MARIADB_ROOT_PASSWORD (or MARIADB_ROOT_PASSWORD_FILE) is required to initialise the database." >&2
    exit 1
  fi
  mariadb-install-db --datadir="$datadir" --skip-test-db --auth-root-authentication-method=normal \
    --skip-name-resolve --user="$(id -un)" >/dev/null
  # A socket-only server for the set-up, so nothing outside sees it (or turns healthy) half-made.
  # shellcheck disable=SC2086
  mariadbd $server_args --skip-networking &
  pid=$!
  for _ in $(seq 1 60); do
    mariadb-admin --socket="$socket" -uroot ping >/dev/null 2>&1 && break
    sleep 1
  done
  {
    # mariadb-install-db also makes password-less root accounts for 127.0.0.1, ::1 and the host
    # name; being more specific than '%' they would win over it, so only two root accounts stay.
    echo "DELETE FROM mysql.global_priv WHERE User = '' OR (User = 'root' AND Host NOT IN ('localhost', '%'));"
    echo "FLUSH PRIVILEGES;"
    echo "ALTER USER 'root'@'localhost' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");"
    echo "CREATE USER 'root'@'%' IDENTIFIED BY $(sql_string "$MARIADB_ROOT_PASSWORD");"
    echo "GRANT ALL ON *.* TO 'root'@'%' WITH GRANT OPTION;"
    if [ -n "$MARIADB_DATABASE" ]; then
      echo "CREATE DATABASE IF NOT EXISTS \`$MARIADB_DATABASE\`;"
    fi
    if [ -n "$MARIADB_USER" ]; then
      echo "CREATE USER '$MARIADB_USER'@'%' IDENTIFIED BY $(sql_string "$MARIADB_PASSWORD");"
      [ -z "$MARIADB_DATABASE" ] || echo "GRANT ALL ON \`$MARIADB_DATABASE\`.* TO '$MARIADB_USER'@'%';"
    fi
    echo "FLUSH PRIVILEGES;"
  } | mariadb --socket="$socket" -uroot
  kill "$pid"
  wait "$pid" || true
  echo "$0: initialised database ${MARIADB_DATABASE:-(none)} for ${MARIADB_USER:-root}"
fi
unset MARIADB_ROOT_PASSWORD MARIADB_PASSWORD
# shellcheck disable=SC2086
exec mariadbd $server_args --bind-address="$MARIADB_BIND" --port="$MARIADB_PORT" "$@"
