# Flaskyard image: the SPA built with Node, the locked Python deps in a venv, and a small
# runtime stage holding only the venv (with the package, its migrations and the built SPA).
# Classic builder only: no BuildKit syntax. Build with
#   docker build -t flaskyard .
# or, where no registry is reachable, with local bases:
#   docker build --network host --build-arg PYTHON_IMAGE=... --build-arg NODE_IMAGE=... .
ARG PYTHON_IMAGE=python:3.12-slim
ARG NODE_IMAGE=node:22-slim

# --- 1. front end: npm ci + rollup + postcss -> flaskyard/web/dist ---------------------------
FROM ${NODE_IMAGE} AS frontend
ARG NPM_INSTALL_ARGS="--no-audit --no-fund --loglevel=error"
WORKDIR /src/frontend
COPY frontend/package.json frontend/package-lock.json ./
# hadolint ignore=SC2086
RUN npm ci $NPM_INSTALL_ARGS
COPY frontend/ ./
RUN npm run build && test -f ../flaskyard/web/dist/index.html

# --- 2. Python: locked, hashed dependencies into /opt/venv, then the package -----------------
# The base's pip only bootstraps the installer (uv, hatchling) into /opt/installer, by hash and
# with --no-deps, from requirements/installer.txt. uv then syncs /opt/venv to exactly the lock:
# pip resolves a locked package's extras again (apiflask's pydantic[email]) and so breaks
# --require-hashes, or picks a newer release, whenever upstream publishes one. /opt/installer
# stays in this stage; the runtime copies only /opt/venv.
FROM ${PYTHON_IMAGE} AS python
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore \
    UV_NO_CACHE=1 \
    UV_LINK_MODE=copy \
    UV_PYTHON_DOWNLOADS=never \
    PATH=/opt/venv/bin:$PATH
# binutils only here, for `strip`: the wheels' shared objects carry symbols nobody reads (~14 MB).
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends binutils \
 && rm -rf /var/lib/apt/lists/* \
 && python -m venv /opt/installer \
 && python -m venv --without-pip /opt/venv
COPY requirements/installer.txt /src/requirements/
RUN /opt/installer/bin/pip install --no-deps --require-hashes -r /src/requirements/installer.txt
# requirements/main.txt is the locked runtime set; requirements/granian.txt (the same plus
# granian, for SERVER=granian) is picked with --build-arg REQUIREMENTS=requirements/granian.txt.
ARG REQUIREMENTS=requirements/main.txt
COPY requirements/ /src/requirements/
RUN /opt/installer/bin/uv pip sync --python /opt/venv/bin/python --require-hashes --strict \
      --compile-bytecode "/src/$REQUIREMENTS" \
 && find /opt/venv -name '*.so*' -type f -exec strip --strip-unneeded {} + \
 && python -c 'import PIL.Image, cryptography.hazmat.bindings._rust, psycopg, pydantic_core, argon2; assert psycopg.pq.__impl__ == "binary"'
COPY pyproject.toml README.md /src/
COPY docker/slim_venv.py /src/docker/
COPY flaskyard/ /src/flaskyard/
COPY --from=frontend /src/flaskyard/web/dist/ /src/flaskyard/web/dist/
# The wheel is built by the locked hatchling (no build isolation, so nothing is fetched) and
# carries the migrations and, as hatch artifacts, the built SPA; the check below copies either
# in only if a build backend ever leaves it out, and fails if both are missing. Of Swagger UI
# only the four files /api/docs serves are kept (the source maps and ES bundles are ~7 MB).
# /opt/venv never gets pip: nothing installs at run time.
RUN /opt/installer/bin/pip wheel --no-deps --no-build-isolation --wheel-dir /tmp/wheel /src \
 && /opt/installer/bin/uv pip install --python /opt/venv/bin/python --no-deps --compile-bytecode \
      /tmp/wheel/flaskyard-*.whl \
 && rm -rf /tmp/wheel \
 && pkg="$(python -c 'import flaskyard, pathlib; print(pathlib.Path(flaskyard.__file__).parent)')" \
 && for part in migrations web/dist; do \
      if [ ! -e "$pkg/$part" ]; then cp -r "/src/flaskyard/$part" "$pkg/$part"; fi; \
    done \
 && test -f "$pkg/web/dist/index.html" && test -f "$pkg/migrations/env.py" \
 && python -m compileall -q "$pkg/migrations" \
 && python -m flaskyard.boot translations \
 && find /opt/venv -name '*.pyi' -delete \
 && find /opt/venv -path '*/swagger_ui_bundle/vendor/*' -type f ! -name swagger-ui.css \
      ! -name swagger-ui-bundle.js ! -name swagger-ui-standalone-preset.js \
      ! -name favicon-32x32.png -delete \
 && rm -rf /opt/venv/share

# --- 3. development (compose.dev.yaml): the dev lock on top of the locked venv ---------------
# Built only with `--target dev`, though classic (non-BuildKit) builders pass through it on
# every build: it sits before the runtime stage so a plain `docker build` makes the runtime
# image, and it reuses the python stage, so all it adds is the dev-only packages (by uv, from
# requirements/dev.txt, with $PIP_INSTALL_ARGS). The source is bind-mounted at /src, ahead of
# the installed package on PYTHONPATH. Its start installs the lock again when the mounted one
# differs from the one installed here, so a lock change needs no rebuild.
FROM python AS dev
ARG PIP_INSTALL_ARGS=""
ENV PYTHONPATH=/src \
    PYTHONUNBUFFERED=1 \
    PIP_INSTALL_ARGS=${PIP_INSTALL_ARGS} \
    FLASK_APP=flaskyard \
    GUNICORN_BIND=0.0.0.0:5000 \
    INSTANCE_DIR=/data/instance \
    UPLOAD_DIR=/data/uploads
# The dev containers run as the developer's uid (DEV_UID), so the venv and /data are theirs too.
# hadolint ignore=DL3008,SC2086
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && rm -rf /var/lib/apt/lists/* \
 && /opt/installer/bin/uv pip install --python /opt/venv/bin/python --require-hashes --no-deps \
      $PIP_INSTALL_ARGS -r /src/requirements/dev.txt \
 && sha256sum /src/requirements/dev.txt >/opt/venv/.dev-lock.sha256 \
 && mkdir -p /data/instance /data/uploads /app \
 && chmod -R a+rwX /opt/venv /data
COPY gunicorn.conf.py /app/
COPY docker/dev-entrypoint.sh /usr/local/bin/
WORKDIR /src
EXPOSE 5000 5555
ENTRYPOINT ["tini", "--", "dev-entrypoint.sh"]
CMD ["python", "-m", "flaskyard.boot", "web"]

# --- 4. slim: the venv less what no process of the image loads ------------------------------
# docker/slim_venv.py starts each role's imports once, keeps the bytecode of what they load and
# drops the rest (unused locales, bundled test suites, Pillow's AVIF/FreeType, bytecode nobody
# loads, and the sources of the loaded third-party modules, whose bytecode stands in for them).
# After the dev stage, so development keeps everything. KEEP_SOURCES=1 keeps every .py.
FROM python AS slim
ARG KEEP_SOURCES=""
RUN python /src/docker/slim_venv.py ${KEEP_SOURCES:+--keep-sources}

# --- 5. runtime --------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime
ARG PYTHON_IMAGE
# Which base this was built on, so `make bench-image` can report the size over it.
LABEL org.opencontainers.image.title="flaskyard" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"
# tini reaps zombies and forwards signals, so the server is PID 1's only child and gets SIGTERM.
# Not version-pinned: the Debian release (and so tini's version) follows PYTHON_IMAGE.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends tini \
 && apt-get clean \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/archives/* \
 && groupadd --system --gid 10001 flaskyard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin flaskyard \
 && mkdir -p /data/uploads /data/instance \
 && chown -R 10001:10001 /data
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    FLASK_APP=flaskyard \
    GUNICORN_BIND=0.0.0.0:5000 \
    GUNICORN_PID_FILE=/tmp/gunicorn.pid \
    UPLOAD_DIR=/data/uploads \
    INSTANCE_DIR=/data/instance
COPY --from=slim /opt/venv /opt/venv
COPY gunicorn.conf.py /app/
COPY docker/supervisord.conf docker/supervise.py docker/fatal_listener.py /app/docker/
WORKDIR /app
USER 10001:10001
VOLUME ["/data/uploads"]
EXPOSE 5000 5555
HEALTHCHECK --interval=15s --timeout=6s --start-period=60s --retries=3 \
  CMD ["python", "-m", "flaskyard.boot", "healthcheck"]
ENTRYPOINT ["tini", "--", "python", "-m", "flaskyard.boot"]
CMD ["web"]

