# Dockyard developer targets. `make run` and `make test` are the README's Quickstart.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DATA_DIR ?= ./data
# Debian packages for the end-to-end tests with real clients.
TEST_DEBS := python3-venv skopeo podman buildah umoci runc busybox-static docker.io containerd \
             uidmap jq ca-certificates curl golang-go
BENCH_DEBS := docker-registry wrk

.PHONY: venv run test test-fast lint typecheck conformance conformance-replicas bench bench-scan scan-crosscheck clean

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || scripts/install-debian-packages.sh python3 python3-venv
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || \
	  (scripts/install-debian-packages.sh python3-venv && $(PYTHON) -m venv $(VENV))
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

## Start the registry on http://127.0.0.1:5000 (SQLite + filesystem under ./data). Auth is on: run
## `.venv/bin/dockyard admin init --data-dir ./data` once for an account, or DOCKYARD_AUTH=none make run.
run: venv
	$(BIN)/dockyard serve --data-dir $(DATA_DIR)

## The whole test suite: lint, types, unit, API and end-to-end tests with real clients.
test: venv
	scripts/install-debian-packages.sh $(TEST_DEBS)
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy
	$(BIN)/pytest -q --durations=15

## Unit and API tests only (no real clients).
test-fast: venv
	$(BIN)/pytest -q -m "not e2e"

lint: venv
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench

typecheck: venv
	$(BIN)/mypy

## The OCI distribution-spec conformance suite against a fresh server (needs CONFORMANCE_BIN, see docs/conformance.md).
conformance: venv
	scripts/conformance.sh

## The same suite against three replicas on PostgreSQL + S3 (moto) behind a round-robin proxy (docs/conformance.md).
conformance-replicas: venv
	scripts/conformance-replicas.sh

## Benchmarks side by side with Debian's docker-registry (CNCF Distribution).
bench: venv
	scripts/install-debian-packages.sh $(BENCH_DEBS)
	$(BIN)/python -m bench

## Image scanning: one ~900-package image end to end, re-evaluating 10,000 inventories (docs/scan-bench.md).
bench-scan: venv
	$(BIN)/python -m bench.scan

## Dockyard's package inventory vs Syft's and Trivy's on the same root filesystems, offline (docs/scan-crosscheck.md).
scan-crosscheck: venv
	scripts/scan-crosscheck.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
