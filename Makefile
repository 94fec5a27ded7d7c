# agegate: `make run` and `make test` do all set-up on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PERF_VENV := .venv-perf
PERF_STAMP := $(PERF_VENV)/.installed
SCHEMATHESIS_VENV := .venv-schemathesis
SCHEMATHESIS_STAMP := $(SCHEMATHESIS_VENV)/.installed
export AGEGATE_DATABASE_URL ?= sqlite:///var/agegate.db

.PHONY: run test migrate bench schemathesis clean

# The verifier distribution (verifier/) first: the service depends on it by name.
$(STAMP): pyproject.toml verifier/pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e './verifier[fast]' -e '.[dev]'
	touch $(STAMP)

migrate: $(STAMP)
	$(BIN)/agegate db upgrade

run: migrate
	$(BIN)/agegate serve --host 127.0.0.1 --port 8000

# node's jose, pinned by the lockfile, for the interop tests (verifier/tests, tests/api).
NODE_DEPS := verifier/interop/node_modules/.package-lock.json
$(NODE_DEPS): verifier/interop/package-lock.json
	npm ci --prefix verifier/interop --no-audit --no-fund --silent
	touch $(NODE_DEPS)

test: $(STAMP) $(NODE_DEPS)
	$(BIN)/python -m pytest

# Locust lives in its own venv: its pytest plugin must never reach the test environment.
$(PERF_STAMP): pyproject.toml verifier/pyproject.toml
	$(PYTHON) -m venv $(PERF_VENV)
	$(PERF_VENV)/bin/pip install --quiet --upgrade pip
	$(PERF_VENV)/bin/pip install --quiet -e './verifier[fast]' -e '.[perf]'
	touch $(PERF_STAMP)

bench: $(PERF_STAMP)
	$(PERF_VENV)/bin/python perf/run_all.py

# Schemathesis in its own venv too (its pytest plugin and pinned libraries stay out of the
# test environment); pinned, so a new release cannot turn CI red on its own.
$(SCHEMATHESIS_STAMP): Makefile
	$(PYTHON) -m venv $(SCHEMATHESIS_VENV)
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet --upgrade pip
	$(SCHEMATHESIS_VENV)/bin/pip install --quiet 'schemathesis==4.32.5'
	touch $(SCHEMATHESIS_STAMP)

# Every operation of openapi.yaml against gunicorn with the production config: fails on any
# 5xx, schema or media-type violation (a PostgreSQL schema when AGEGATE_TEST_DATABASE_URL is set).
schemathesis: $(STAMP) $(SCHEMATHESIS_STAMP)
	$(BIN)/python .ci/schemathesis.py --schemathesis $(SCHEMATHESIS_VENV)/bin/schemathesis

clean:
	rm -rf $(VENV) $(PERF_VENV) $(SCHEMATHESIS_VENV) var/agegate.db* verifier/interop/node_modules verifier/interop/build
