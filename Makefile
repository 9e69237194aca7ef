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

## Start PostgreSQL (or find one), Kafka (Apache Kafka, else Tansu) and the four services;
## Ctrl-C stops all. FIRELINE_BROKER=kafka|tansu chooses the broker.
run: install
	$(BIN)/python -m fireline_devtools.devrun

## Drop the local databases `make run` created (a fresh org and admin on the next run).
reset-db: install
	$(BIN)/python -m fireline_devtools.devrun --reset

## Lint, then every test tier.
test: lint
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy contracts/src runtime/src devtools/src services tests bench tools
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

test-ui: install
	$(BIN)/pytest tests/ui

## Start a stack, measure it with wrk and latency probes, write bench/results/<time>.json.
## Needs Debian's wrk (installed here if missing). Options: make bench BENCH_ARGS="--smoke".
bench: install
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(BIN)/python -m bench $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .fireline test-artifacts
