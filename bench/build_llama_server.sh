#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the llama.cpp sources vendored in the pinned
# llama-cpp-python sdist (PyPI), so the benchmark compares the very same llama.cpp.
# Cached outside the repo; prints the binary's path. Never committed.
set -euo pipefail
# Stdout carries exactly one line, the binary's path (callers capture it); everything else,
# whatever prints it, goes to stderr.
exec 3>&1 1>&2
cd "$(dirname "$0")/.."
version=$(grep -oE 'llama-cpp-python==[0-9.]+' pyproject.toml | cut -d= -f3)
cache="${SIMPLECHAT_BENCH_CACHE:-$HOME/.cache/simplechat-bench}/llama-cpp-python-$version"
binary="$cache/build/bin/llama-server"
if [ -x "$binary" ]; then echo "$binary" >&3; exit 0; fi
mkdir -p "$cache"
if [ ! -d "$cache/src" ]; then
  echo "==> fetching the llama-cpp-python $version sdist from PyPI"
  .venv/bin/pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache/sdist"
  mkdir -p "$cache/src"
  tar -xzf "$cache"/sdist/llama_cpp_python-*.tar.gz -C "$cache/src" --strip-components=1
fi
echo "==> Building llama.cpp's llama-server, once per machine (12-15 minutes on 2 cores;"
echo "    the openai engine's tests and make bench run against it). Cached in $cache"
cmake -S "$cache/src/vendor/llama.cpp" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON \
  >"$cache/configure.log" || { cat "$cache/configure.log"; exit 1; }
cmake --build "$cache/build" --target llama-server -j "$(nproc)" \
  | .venv/bin/python scripts/build_progress.py "compiling llama-server"
echo "$binary" >&3
