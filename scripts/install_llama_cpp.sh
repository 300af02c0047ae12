#!/usr/bin/env bash
# Installs the pinned llama-cpp-python into a virtualenv, compiling llama.cpp with visible progress.
# pip caches the built wheel, so only the first install on a machine pays the build (minutes).
set -euo pipefail
venv="$1"
version=$(grep -oE 'llama-cpp-python==[0-9.]+' pyproject.toml | cut -d= -f3)
if "$venv/bin/python" -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$version')" 2>/dev/null; then
  exit 0
fi
log=$(mktemp)
echo "==> Installing llama-cpp-python $version. The first time, pip compiles llama.cpp:"
echo "    about 10 minutes on 2 cores (then pip's cache makes it seconds); full log: $log"
if ! "$venv/bin/pip" install -v "llama-cpp-python==$version" 2>&1 | tee "$log" \
    | "$venv/bin/python" scripts/build_progress.py "compiling llama.cpp"; then
  echo "llama-cpp-python failed to install; the end of the log:" >&2
  tail -n 40 "$log" >&2
  exit 1
fi
rm -f "$log"
