# Two commands do all the set-up on a machine that has only Python:
#   make run    create .venv, install, open gdtui on the default scenario
#   make test   same environment plus the test extras, then lint, format check and the whole suite
# torch is installed first, pinned, so the resolver never picks a multi-GB CUDA build by itself.
# On a CUDA box: make run TORCH="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"

PYTHON ?= python3
VENV   ?= .venv
TORCH  ?= torch==2.13.0
BIN    := $(VENV)/bin

.PHONY: run test venv install install-test lint clean screenshots bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.torch: $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	touch $@

install: $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e .

install-test: $(VENV)/.torch
	$(BIN)/python -m pip install --quiet -e '.[test]'

run: install
	$(BIN)/gdtui launch $(ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

screenshots: install
	$(BIN)/python -m gdtui.ui.make_screenshots

bench: install
	for b in benchmarks/*.py; do $(BIN)/python $$b; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
