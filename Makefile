# The README's two commands: `make demo` and `make test`. Both create .venv when it is missing.
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
# The CPU build of torch lies on disk; a plain `pip install torch` would pull several GB of CUDA.
TORCH_CPU ?= torch==2.13.0
export DS_ACCELERATOR ?= cpu
export RAY_AUTH_MODE ?= token
export PYTHONPATH := $(CURDIR)

.PHONY: setup demo test test-fast lint bench cluster-up cluster-down cluster-status clean

setup: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || python3 -m venv $(VENV)
	$(PIP) install -q --upgrade pip setuptools wheel
	@if ! command -v nvidia-smi >/dev/null 2>&1; then \
	  echo "no CUDA found: installing the CPU build $(TORCH_CPU)"; $(PIP) install -q $(TORCH_CPU); fi
	$(PIP) install -q -e .
	@touch $(STAMP)

# The suite also needs pytest and lm-eval (the `test` and `eval` extras); the demo does not, so it
# skips their install.
$(TEST_STAMP): $(STAMP)
	$(PIP) install -q -e '.[test,eval]'
	@touch $(TEST_STAMP)

demo: setup
	$(PY) -m jobs.demo

# Lint, format check and types (ruff and mypy, configured in pyproject.toml); `make test` runs it first.
lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The tests on the session's Ray cluster mostly wait on start-ups while the others use the CPU: tests/run_suite.py
# runs the two parts side by side (a "no tests collected" exit counts as success).
test: lint
	$(PY) tests/run_suite.py --durations=15

test-fast: $(TEST_STAMP)
	$(PY) -m pytest -m "not slow and not ray" tests

bench: setup
	$(PY) -m jobs.bench all --json runs/bench.json

cluster-up: setup
	$(PY) -m jobs.cluster up

cluster-down: setup
	$(PY) -m jobs.cluster down

cluster-status: setup
	$(PY) -m jobs.cluster status

clean:
	rm -rf runs .cluster
