# Two commands on a fresh machine with Python 3.11+ and make:
#   make dev    start Perdure on the embedded SQLite database (prints an API key and URLs)
#   make test   run the whole suite (PERDURE_TEST_DATABASE_URL picks the database; SQLite default)
#   make test-ts  the TypeScript client's tests (Node 20+ and npm; against its own `perdure dev`)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
TS     := clients/typescript
TS_STAMP := $(TS)/node_modules/.installed

.PHONY: dev test test-ts test-sdk-newest check lint lock openapi image clean

# Installs come from the lock files (exact versions, hashed): the lock first, then our own two
# packages without dependencies (pip refuses editables under --require-hashes).
$(STAMP): pyproject.toml clients/python/pyproject.toml requirements.lock requirements-dev.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet --require-hashes -r requirements-dev.lock
	$(BIN)/pip install --quiet --no-deps -e . -e clients/python
	@touch $(STAMP)

$(TS_STAMP): $(TS)/package-lock.json
	cd $(TS) && npm ci --no-audit --no-fund --ignore-scripts
	@touch $(TS_STAMP)

dev: $(STAMP)
	$(BIN)/perdure dev $(if $(PORT),--port $(PORT),)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# Builds the client (types generated from openapi.json first), then runs `node --test` against a
# `perdure dev` of this checkout; PERDURE_TEST_DATABASE_URL picks its database as for `make test`.
test-ts: $(STAMP) $(TS_STAMP)
	cd $(TS) && npm test

# The gates CI runs before the suite: formatting, lint, types (mypy; strict modules in pyproject.toml).
CHECKED := app tests migrations clients/python bench
check: $(STAMP)
	$(BIN)/ruff format --check $(CHECKED)
	$(BIN)/ruff check $(CHECKED)
	$(BIN)/mypy

lint: check

# The SDK is installed into users' applications with floors only (httpx, h11): its tests also
# run against the newest releases, in a venv of their own beside the locked one.
NEWEST := $(VENV)-sdk-newest
test-sdk-newest: $(STAMP)
	rm -rf $(NEWEST) && $(PYTHON) -m venv $(NEWEST)
	$(NEWEST)/bin/pip install --quiet --upgrade pip
	$(NEWEST)/bin/pip install --quiet --require-hashes -r requirements-dev.lock
	$(NEWEST)/bin/pip install --quiet --no-deps -e . -e clients/python
	$(NEWEST)/bin/pip install --quiet --upgrade httpx h11
	@$(NEWEST)/bin/python -c "import httpx, h11; print('SDK against httpx', httpx.__version__, 'and h11', h11.__version__)"
	$(NEWEST)/bin/python -m pytest -q tests/sdk/test_sdk_transport.py tests/sdk/test_sdk_workflows.py tests/sdk/test_sdk_example.py

# Regenerate both locks after changing a dependency in either pyproject.toml: the runtime lock
# of the server and the SDK (the image installs both) and the development lock (+ test tools,
# the same versions), with hashes for every wheel of Python 3.11-3.13 on every platform.
lock: $(STAMP)
	$(BIN)/pip install --quiet uv
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml clients/python/pyproject.toml -o requirements.lock
	$(BIN)/uv pip compile --quiet --universal --python-version 3.11 --generate-hashes \
	  pyproject.toml clients/python/pyproject.toml --extra test -c requirements.lock \
	  -o requirements-dev.lock

# Build the container image (needs a Docker engine; CI lints the Dockerfile with .ci/packaging).
IMAGE ?= perdure:dev
image:
	docker build -t $(IMAGE) .

openapi: $(STAMP) $(TS_STAMP)
	$(BIN)/perdure openapi
	cd $(TS) && npm run --silent generate

clean:
	rm -rf $(VENV) .perdure .pytest_cache $(TS)/node_modules $(TS)/dist
