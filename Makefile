# simplechat: `make run` serves the bundled model, `make test` checks everything.
# Both set up .venv themselves on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The transformers engine's tests run on this CPU build of torch (pip finds it on disk here).
TORCH_CPU ?= torch==2.13.0

.PHONY: run test lint format typecheck pytest install install-dev clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Runtime: the server, llama.cpp and the bundled model.
$(VENV)/.installed-run: pyproject.toml scripts/install_llama_cpp.sh | $(BIN)/python
	scripts/install_llama_cpp.sh $(VENV)
	$(BIN)/pip install --quiet -e .
	touch $@

# Development: tests, lint, types, and the transformers engine (torch).
$(VENV)/.installed-dev: $(VENV)/.installed-run
	$(BIN)/pip install --quiet "$(TORCH_CPU)"
	$(BIN)/pip install --quiet -e '.[dev,transformers]'
	touch $@

install: $(VENV)/.installed-run
install-dev: $(VENV)/.installed-dev

run: install
	$(BIN)/simplechat serve --port $(PORT) $(ARGS)

lint: install-dev
	$(BIN)/ruff check src tests bench gateway
	$(BIN)/ruff format --check src tests bench gateway

format: install-dev
	$(BIN)/ruff check --fix src tests bench gateway
	$(BIN)/ruff format src tests bench gateway

typecheck: install-dev
	$(BIN)/mypy

pytest: install-dev
	$(BIN)/pytest $(PYTEST_ARGS)

test: lint typecheck pytest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
