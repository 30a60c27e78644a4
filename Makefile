# Two commands on a fresh machine with Python 3.11+ and make:
#   make dev    start Perdure on the embedded SQLite database (prints an API key and URLs)
#   make test   run the whole suite (PERDURE_TEST_DATABASE_URL picks the database; SQLite default)

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: dev test lint openapi image bench clean

$(STAMP): pyproject.toml $(wildcard clients/python/pyproject.toml)
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@if [ -f clients/python/pyproject.toml ]; then $(BIN)/pip install --quiet -e clients/python; fi
	@touch $(STAMP)

dev: $(STAMP)
	$(BIN)/perdure dev $(if $(PORT),--port $(PORT),)

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app tests migrations clients bench

# Build the container image (needs a Docker engine; CI lints the Dockerfile with .ci/packaging).
IMAGE ?= perdure:dev
image:
	docker build -t $(IMAGE) .

openapi: $(STAMP)
	$(BIN)/perdure openapi

clean:
	rm -rf $(VENV) .perdure .pytest_cache
