# Fireline developer entry points. Two commands on a fresh machine: `make run`, `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PACKAGES := contracts runtime devtools services/identity services/auth services/incidents services/pagerduty-ingest services/notifications
STAMP := $(VENV)/.installed

.PHONY: install run reset-db test lint fmt test-unit test-integration test-e2e test-ui bench clean

$(STAMP): requirements.txt requirements-dev.txt $(addsuffix /pyproject.toml,$(PACKAGES))
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements-dev.txt
	$(BIN)/pip install --quiet $(addprefix -e ,$(PACKAGES))
	touch $(STAMP)

install: $(STAMP)

# axe-core, which the browser tests inject into each page to check accessibility (npm, pinned in
# tests/ui/package.json; no lock file is kept).
AXE := tests/ui/node_modules/axe-core/axe.min.js
$(AXE): tests/ui/package.json
	npm install --prefix tests/ui --no-package-lock --no-audit --no-fund
	touch $(AXE)

## Start PostgreSQL (or find one), Kafka (Apache Kafka, else Tansu) and the five services;
## Ctrl-C stops all. FIRELINE_BROKER=kafka|tansu chooses the broker.
run: install
	$(BIN)/python -m fireline_devtools.devrun

## Drop the local databases `make run` created (a fresh org and admin on the next run).
reset-db: install
	$(BIN)/python -m fireline_devtools.devrun --reset

## Lint, then every test tier.
test: lint $(AXE)
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/src runtime/src devtools/src services tests bench tools
	$(BIN)/lint-imports
	$(BIN)/python -m fireline_contracts.snapshots --check
	$(BIN)/python -m tools.gen_docs --check

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

test-unit: install
	$(BIN)/pytest tests/unit contracts/tests

test-integration: install
	$(BIN)/pytest tests/integration

test-e2e: install
	$(BIN)/pytest tests/e2e

test-ui: install $(AXE)
	$(BIN)/pytest tests/ui

## Start a stack, measure it with wrk and latency probes, write bench/results/<time>.json.
## Needs Debian's wrk, and Debian's PostgreSQL for statement counts (both installed here if
## missing; the package's own cluster is not created). Options: make bench BENCH_ARGS="--smoke",
## or the alert-storm set alone on Apache Kafka: make bench BENCH_ARGS="--storm".
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	compgen -G "/usr/lib/postgresql/*/lib/pg_stat_statements.so" >/dev/null || ( \
	  mkdir -p /etc/postgresql-common/createcluster.d && \
	  echo "create_main_cluster = false" >/etc/postgresql-common/createcluster.d/fireline.conf && \
	  apt-get update -qq && apt-get install -y -qq postgresql)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .fireline test-artifacts
