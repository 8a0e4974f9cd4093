#!/bin/sh
# compose.dev.yaml's containers: bring the venv in line with the bind-mounted lock when it has
# changed since it was installed (image build or an earlier start), then run the command.
set -eu
lock=/src/requirements/dev.txt
stamp=/opt/venv/.dev-lock.sha256
if [ -f "$lock" ] && ! sha256sum --check --status "$stamp" 2>/dev/null; then
  echo "dev: $lock changed; installing it"
  # shellcheck disable=SC2086
  /opt/installer/bin/uv pip install --python /opt/venv/bin/python --require-hashes --no-deps \
    $PIP_INSTALL_ARGS -r "$lock"
  sha256sum "$lock" >"$stamp"
fi
exec "$@"
