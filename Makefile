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

.PHONY: dev test test-ts lint openapi image bench clean

$(STAMP): pyproject.toml $(wildcard clients/python/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@if [ -f clients/python/pyproject.toml ]; then $(BIN)/pip install --quiet -e clients/python; fi
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

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations clients bench

# Build the container image (needs a Docker engine; CI lints the Dockerfile with .ci/packaging).
IMAGE ?= perdure:dev
image:
	docker build -t $(IMAGE) .

openapi: $(STAMP) $(TS_STAMP)
	$(BIN)/perdure openapi
	cd $(TS) && npm run --silent generate

clean:
	rm -rf $(VENV) .perdure .pytest_cache
