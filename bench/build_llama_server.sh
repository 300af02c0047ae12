#!/usr/bin/env bash
# Builds llama.cpp's own `llama-server` from the llama.cpp sources vendored in the pinned
# llama-cpp-python sdist (PyPI), so the benchmark compares the very same llama.cpp.
# Cached outside the repo; prints the binary's path. Never committed.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(grep -oE 'llama-cpp-python==[0-9.]+' pyproject.toml | cut -d= -f3)
cache="${SIMPLECHAT_BENCH_CACHE:-$HOME/.cache/simplechat-bench}/llama-cpp-python-$version"
binary="$cache/build/bin/llama-server"
if [ -x "$binary" ]; then echo "$binary"; exit 0; fi
mkdir -p "$cache"
if [ ! -d "$cache/src" ]; then
  echo "==> fetching the llama-cpp-python $version sdist from PyPI" >&2
  .venv/bin/pip download --quiet --no-deps --no-binary :all: "llama-cpp-python==$version" -d "$cache/sdist" >&2
  mkdir -p "$cache/src"
  tar -xzf "$cache"/sdist/llama_cpp_python-*.tar.gz -C "$cache/src" --strip-components=1
fi
echo "==> building llama-server (several minutes on 2 cores)" >&2
cmake -S "$cache/src/vendor/llama.cpp" -B "$cache/build" -DCMAKE_BUILD_TYPE=Release \
  -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=ON
  >&2
cmake --build "$cache/build" --target llama-server -j "$(nproc)" >&2
echo "$binary"
