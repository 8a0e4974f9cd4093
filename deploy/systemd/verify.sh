#!/usr/bin/env bash
# Check the unit files with `systemd-analyze verify` in a scratch root that has what the units
# name: the flaskyard user, /opt/flaskyard/.venv/bin/python (a stub), the EnvironmentFile.
# verify then checks every directive's syntax and value, and that ExecStart binaries exist.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
command -v systemd-analyze >/dev/null || { echo "systemd-analyze is not installed" >&2; exit 1; }
root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root/etc/systemd/system" "$root/opt/flaskyard/.venv/bin" "$root/opt/flaskyard/.env.d" \
  "$root/usr/bin" "$root/bin"
printf '#!/bin/sh\nexit 0\n' >"$root/opt/flaskyard/.venv/bin/python"
chmod 755 "$root/opt/flaskyard/.venv/bin/python"
cp "$(readlink -f /bin/kill)" "$root/bin/kill"
# The targets the units order against (sysinit.target, network-online.target, ...).
mkdir -p "$root/usr/lib/systemd"
cp -r "$(readlink -f /lib/systemd/system)" "$root/usr/lib/systemd/system"
: >"$root/opt/flaskyard/.env.d/.env.production"
cp /etc/passwd /etc/group "$root/etc/"
grep -q '^flaskyard:' "$root/etc/passwd" || echo 'flaskyard:x:10001:10001::/nonexistent:/usr/sbin/nologin' >>"$root/etc/passwd"
grep -q '^flaskyard:' "$root/etc/group" || echo 'flaskyard:x:10001:' >>"$root/etc/group"
cp "$here"/*.service "$root/etc/systemd/system/"
cp "$root/etc/systemd/system/flaskyard-worker@.service" "$root/etc/systemd/system/flaskyard-worker@1.service"
out=$(SYSTEMD_LOG_LEVEL=notice systemd-analyze verify --man=no --root="$root" \
  flaskyard-web.service flaskyard-worker@1.service 2>&1) || { echo "$out" >&2; exit 1; }
# verify exits 0 on some warnings (unknown directives, bad values): fail on any line about our units.
if grep -E 'flaskyard-(web|worker@)' <<<"$out" | grep -v 'Unit is bound to inactive unit' >&2; then
  exit 1
fi
echo "systemd units verified: flaskyard-web.service flaskyard-worker@.service"
