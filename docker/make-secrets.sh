#!/bin/sh
# Create ./secrets/* for compose.yaml once: random keys and database passwords, and the DSNs
# that use them. Existing files are kept. The folder is 0700 and the files 0644: a file
# bind-mounted into a container is read there by uid 10001, and the folder keeps other host
# users out.
set -eu
dir=${1:-./secrets}
mkdir -p "$dir"
chmod 700 "$dir"
random() { python3 -c 'import secrets; print(secrets.token_urlsafe(48))'; }
put() { [ -s "$dir/$1" ] || { printf '%s\n' "$2" >"$dir/$1"; chmod 644 "$dir/$1"; echo "created $dir/$1"; }; }
put secret_key "$(random)"
put jwt_secret_key "$(random)"
put metrics_token "$(random)"
put db_password "$(random)"
put database_url "postgresql+psycopg://flaskyard:$(cat "$dir/db_password")@db:5432/flaskyard"
put mysql_password "$(random)"
put mysql_root_password "$(random)"
put mysql_database_url "mysql+pymysql://flaskyard:$(cat "$dir/mysql_password")@mysql:3306/flaskyard"
