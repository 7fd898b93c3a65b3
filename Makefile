# Two commands do all set-up on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck unit bench bench-peers reliability-full clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m examples.registration --env demo

lint: $(STAMP)
	$(BIN)/ruff check src tests $(wildcard benchmarks examples)
	$(BIN)/ruff format --check src tests $(wildcard benchmarks examples)

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q

test: lint typecheck unit

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# stoker next to Huey, Dramatiq, RQ, Celery, SAQ, arq, procrastinate and pgqueuer, in their own
# venv (never stoker's dependencies); see benchmarks/README.md. About 35-50 minutes.
PEERS := benchmarks/peers/.venv
PEERS_STAMP := $(PEERS)/.installed

$(PEERS_STAMP): benchmarks/peers/requirements.txt pyproject.toml
	test -x $(PEERS)/bin/python || $(PYTHON) -m venv $(PEERS)
	$(PEERS)/bin/pip install -q -r benchmarks/peers/requirements.txt -e '.[postgres,redis]'
	touch $@

bench-peers: $(PEERS_STAMP)
	$(PEERS)/bin/python -m benchmarks.peers.run $(ARGS)

# The reliability tests at full size (20,000-job kill storm, six database restarts, a
# 1,000,000-job long run): about an hour. CI runs them at a reduced size within `make test`.
reliability-full: $(STAMP)
	STOKER_RELIABILITY_FULL=1 STOKER_RELIABILITY_REPORT=reliability-report.json \
		$(BIN)/pytest -q tests/reliability --timeout 4000

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache
