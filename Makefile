# kansoku: every target creates the virtualenv it needs (.venv) on first use.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test system-deps lint typecheck pytest bench clean

$(STAMP): pyproject.toml setup.py
	PY=$(PY) .ci/system-deps python
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,lab]'
	touch $(STAMP)

## The main job on the embedded demo cloud: generate logs, index, trace a failed request,
## show the fleet health table, render bundles and run a dry-run heal.
demo: $(STAMP)
	$(BIN)/kansoku demo

## The whole suite: lint, type check, tests (real servers included). On a fresh Debian
## machine system-deps installs the real components first (as root; otherwise it prints the
## one apt-get command to run and stops).
test: system-deps $(STAMP) lint typecheck pytest

## Debian packages the tests start (prometheus, alertmanager, rabbitmq, etcd, chromium, ...):
## only binaries are looked up when everything is there.
system-deps:
	PY=$(PY) .ci/system-deps test

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

# The editable install maps folders with an import hook that mypy cannot follow, so mypy
# reads the package through a tree of symlinks laid out as it is installed.
TYPECHECK := .typecheck
typecheck: $(STAMP)
	rm -rf $(TYPECHECK) && mkdir -p $(TYPECHECK)/kansoku
	for f in kansoku/*.py kansoku/py.typed; do ln -s "$$PWD/$$f" $(TYPECHECK)/kansoku/; done
	for d in */__init__.py; do d=$${d%/__init__.py}; case $$d in kansoku|tests|bench) continue;; esac; \
		ln -s "$$PWD/$$d" $(TYPECHECK)/kansoku/$$(echo $$d | tr - _); done
	MYPYPATH=$(TYPECHECK) $(BIN)/mypy -p kansoku

pytest: system-deps $(STAMP)
	$(BIN)/pytest -q

## Benchmarks (not tests): writes bench/RESULTS.md.
bench: $(STAMP)
	PY=$(PY) .ci/system-deps bench
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .kansoku build dist *.egg-info
