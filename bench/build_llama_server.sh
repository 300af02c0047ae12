#!/usr/bin/env bash
# llama.cpp's own `llama-server`, from the llama.cpp sources vendored in the pinned
# llama-cpp-python sdist (PyPI), so the benchmark compares the very same llama.cpp. It is built
# in the one CMake tree that also builds llama-cpp-python's libraries (scripts/install_llama_cpp.sh
# has the details): after `make install` only the server's own sources compile.
# Cached outside the repo; prints the binary's path, and stdout carries nothing else (callers
# capture it). Never committed.
exec "$(dirname "$0")/../scripts/install_llama_cpp.sh" --server
