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

# The stamp names the torch request, so `make run TORCH=...` on an existing venv reinstalls.
TORCH_STAMP := $(VENV)/.torch-$(shell printf '%s' '$(TORCH)' | cksum | cut -d' ' -f1)

$(TORCH_STAMP): $(BIN)/python
	$(BIN)/python -m pip install --quiet $(TORCH)
	touch $@

install: $(TORCH_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[data]'

install-test: $(TORCH_STAMP)
	$(BIN)/python -m pip install --quiet -e '.[test,data]'

run: install
	$(BIN)/gdtui launch $(ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

test: lint
	$(BIN)/python -m pytest

screenshots: install
	$(BIN)/python -m gdtui.ui.make_screenshots

BENCHMARKS := engine_overhead model_overhead ui_throughput plot_frame_cost first_paint terminal_bytes

bench: install-test
	for b in $(BENCHMARKS); do $(BIN)/python benchmarks/$$b.py || exit 1; done

clean:
	rm -rf $(VENV) build dist .pytest_cache .ruff_cache
