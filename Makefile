# kansoku: every target creates the virtualenv it needs (.venv) on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint typecheck pytest bench clean

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,lab]'
	touch $(STAMP)

## The main job on the embedded demo cloud: generate logs, index, trace a failed request,
## show the fleet health table, render bundles and run a dry-run heal.
demo: $(STAMP)
	$(BIN)/kansoku demo

## The whole suite: lint, type check, tests (real servers included).
test: $(STAMP) lint typecheck pytest

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(STAMP)
	$(BIN)/mypy kansoku tracing collectors health dashboards alerts addon-bundles

pytest: $(STAMP)
	$(BIN)/pytest -q

## Benchmarks (not tests): writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .kansoku build *.egg-info
