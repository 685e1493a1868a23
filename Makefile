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

# The editable install maps folders with an import hook that mypy cannot follow, so mypy
# reads the package through a tree of symlinks laid out as it is installed.
TYPECHECK := .typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/kansoku
	for f in kansoku/*.py kansoku/py.typed; do ln -s "$$PWD/$$f" $(TYPECHECK)/kansoku/; done
	for d in tracing collectors health dashboards alerts lab; do ln -s "$$PWD/$$d" $(TYPECHECK)/kansoku/$$d; done
	ln -s "$$PWD/addon-bundles" $(TYPECHECK)/kansoku/addon_bundles
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p kansoku

pytest: $(STAMP)
	$(BIN)/pytest -q

## Benchmarks (not tests): writes bench/RESULTS.md.
bench: $(STAMP)
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .kansoku build *.egg-info
