#!/usr/bin/env bash
# llama.cpp, compiled once per machine for both of its users here, from the sources vendored in
# the pinned llama-cpp-python sdist (PyPI): one CMake tree of those sources builds the shared
# libraries (libllama, libggml*, libmtmd) and, in the same tree, llama.cpp's own `llama-server`.
#
#   scripts/install_llama_cpp.sh VENV      llama-cpp-python into VENV: a wheel of the sdist's
#                                          Python code (its own native build turned off,
#                                          LLAMA_BUILD=OFF) that carries the tree's libraries in
#                                          llama_cpp/lib, where the package loads them from
#   scripts/install_llama_cpp.sh --server  llama-server (bench/build_llama_server.sh): compiles
#                                          only the server's own sources when the libraries are
#                                          built; stdout is exactly the binary's path
#
# Cached in ${SIMPLECHAT_BENCH_CACHE:-~/.cache/simplechat-bench}/llama-cpp-python-VERSION (the
# sdist, its sources, the build tree, the wheel): a second run takes seconds, and a fresh venv
# installs the cached wheel. CMAKE_ARGS (e.g. -DGGML_CUDA=on) go to the llama.cpp build.
set -euo pipefail
# Stdout carries only what a caller captures (--server: the path); the rest goes to stderr.
exec 3>&1 1>&2
cd "$(dirname "$0")/.."

mode=venv
if [ "${1:-}" = --server ]; then
  mode=server
  venv=.venv
else
  venv="${1:?usage: $0 VENV | --server}"
fi
# Stdlib-only helpers (the progress filter) and pip: the venv's when it has one.
python="$venv/bin/python"
[ -x "$python" ] || python=python3

version=$(grep -oE 'llama-cpp-python==[0-9.]+' pyproject.toml | cut -d= -f3)
cache="${SIMPLECHAT_BENCH_CACHE:-$HOME/.cache/simplechat-bench}/llama-cpp-python-$version"
build="$cache/build"
server="$build/bin/llama-server"

# The tree's configuration. Tools and server are configured (mtmd is a tool), but only the
# targets each mode asks for are compiled. RPATH $ORIGIN: the libraries find each other, and
# llama-server finds them, both in build/bin and copied into the package's llama_cpp/lib.
rpath='$ORIGIN'
[ "$(uname -s)" = Darwin ] && rpath=@loader_path
cmake_flags=(
  -G Ninja -DCMAKE_BUILD_TYPE=Release -DBUILD_SHARED_LIBS=ON
  -DLLAMA_BUILD_COMMON=ON -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON
  -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_APP=OFF
  # The server's web UI would be fetched from Hugging Face; the API is what is used here.
  -DLLAMA_BUILD_UI=OFF -DLLAMA_USE_PREBUILT_UI=OFF
  -DCMAKE_BUILD_WITH_INSTALL_RPATH=ON "-DCMAKE_INSTALL_RPATH=$rpath"
)
# No AMX tile code, though -march=native would enable it on CPUs that have it (Sapphire Rapids
# and later: AWS m7i/c7i, GCP c3): llama.cpp's AMX kernels crash at the first decode there
# (SIGSEGV in ggml_backend_amx_mul_mat's ldtilecfg, ggml-org/llama.cpp#20824), seen on our own
# 2-core development machine. An explicit -mno-* wins over -march=native in either order.
if [ "$(uname -m)" = x86_64 ] && echo 'int main(void){return 0;}' \
    | "${CC:-cc}" -mno-amx-tile -mno-amx-int8 -mno-amx-bf16 -x c -o /dev/null - 2>/dev/null; then
  no_amx="-mno-amx-tile -mno-amx-int8 -mno-amx-bf16"
  cmake_flags+=("-DCMAKE_C_FLAGS=$no_amx" "-DCMAKE_CXX_FLAGS=$no_amx")
fi
# shellcheck disable=SC2206  # CMAKE_ARGS is a list of words, as pip's llama-cpp-python build reads it
cmake_flags+=(${CMAKE_ARGS:-})
# The libraries the package loads (llama_cpp/lib), as its own CMakeLists installs them.
lib_globs=("libllama.so*" "libggml*.so*" "libmtmd.so*")
[ "$(uname -s)" = Darwin ] && lib_globs=("libllama.*dylib" "libggml*.dylib" "libmtmd.*dylib")
jobs=$(nproc 2>/dev/null || sysctl -n hw.ncpu 2>/dev/null || echo 2)

# The venv records the flags its libraries were built with: libraries built otherwise (an older
# version of this script) are replaced, not kept because the version matches.
flags_record="$venv/.llama-cpp-flags"
installed() {
  "$venv/bin/python" -c "import sys, llama_cpp; sys.exit(llama_cpp.__version__ != '$version')" \
    2>/dev/null && [ "$(cat "$flags_record" 2>/dev/null)" = "$(printf '%s\n' "${cmake_flags[@]}")" ]
}

if [ "$mode" = server ] && [ -x "$server" ] && [ -f "$build/.flags" ] \
    && [ "$(cat "$build/.flags")" = "$(printf '%s\n' "${cmake_flags[@]}")" ]; then
  echo "$server" >&3
  exit 0
fi
if [ "$mode" = venv ] && installed; then
  exit 0
fi

mkdir -p "$cache"
# Two builds at once (two checkouts, two make runs) would share one tree: the second waits.
exec 9>"$cache/.lock"
if command -v flock >/dev/null; then
  flock -n 9 || { echo "==> Waiting for another build of llama.cpp in $cache"; flock 9; }
fi

# cmake and ninja: the machine's, or else PyPI's (as pip's own build of the sdist would fetch).
if ! command -v cmake >/dev/null || ! command -v ninja >/dev/null; then
  if [ ! -x "$cache/tools/bin/ninja" ]; then
    echo "==> Fetching cmake and ninja from PyPI (this machine has no cmake or ninja)"
    rm -rf "$cache/tools"
    "$python" -m pip install --quiet --target "$cache/tools" cmake ninja
  fi
  # cmake's real binary is in its package; bin/ has ninja's and a Python shim of cmake's.
  export PATH="$cache/tools/cmake/data/bin:$cache/tools/bin:$PATH"
fi

took() { printf '%dm%02ds' $((SECONDS / 60)) $((SECONDS % 60)); }

if [ ! -d "$cache/src" ]; then
  echo "==> Fetching the llama-cpp-python $version sdist (llama.cpp's sources) from PyPI (under a minute)"
  SECONDS=0
  rm -rf "$cache/sdist" "$cache/src.tmp"
  # --no-binary for this package only: its build tools (scikit-build-core) come as wheels.
  "$python" -m pip download --quiet --no-deps --no-binary llama-cpp-python \
    "llama-cpp-python==$version" -d "$cache/sdist"
  mkdir "$cache/src.tmp"
  tar -xzf "$cache"/sdist/llama_cpp_python-*.tar.gz -C "$cache/src.tmp" --strip-components=1
  mv "$cache/src.tmp" "$cache/src"  # whole or absent: an interrupted fetch starts again
  echo "    fetched and unpacked in $(took)"
fi

# A tree configured otherwise (other CMAKE_ARGS, or by an older version of this script) starts
# afresh; an interrupted build resumes where it stopped.
if [ ! -f "$build/.flags" ] || [ "$(cat "$build/.flags")" != "$(printf '%s\n' "${cmake_flags[@]}")" ]; then
  rm -rf "$build"
  cmake -S "$cache/src/vendor/llama.cpp" -B "$build" "${cmake_flags[@]}" >"$cache/configure.log" 2>&1 \
    || { cat "$cache/configure.log"; exit 1; }
  mkdir -p "$build"
  printf '%s\n' "${cmake_flags[@]}" >"$build/.flags"
fi

compile() {  # compile LABEL TARGET...: ninja's output, as progress, with the full log kept
  local label="$1"
  shift
  SECONDS=0
  if ! cmake --build "$build" --target "$@" -j "$jobs" 2>&1 | tee "$cache/build.log" \
      | "$python" scripts/build_progress.py "$label"; then
    echo "The llama.cpp build failed; the end of its log ($cache/build.log):"
    tail -n 40 "$cache/build.log"
    exit 1
  fi
}

if [ "$mode" = server ]; then
  echo "==> Building llama.cpp's llama-server, once per machine, in the tree that also builds the"
  echo "    llama-cpp-python libraries (about 6 minutes after them, 9 from nothing, on 2 cores)."
  echo "    The openai engine's tests and make bench run against it. Cached in $cache"
  compile "compiling llama-server" llama-server
  echo "    llama-server built in $(took)"
  echo "$server" >&3
  exit 0
fi

# The wheel: the sdist's own build (scikit-build-core) with llama.cpp's build turned off, and an
# install rule, injected at its project(), that puts the tree's libraries into llama_cpp/lib.
wheels="$cache/wheel"
wheel=
[ -d "$wheels" ] && wheel=$(find "$wheels" -maxdepth 1 -name "llama_cpp_python-$version-*.whl" | head -n 1)

if [ -n "$wheel" ]; then
  echo "==> Installing llama-cpp-python $version, built on this machine before (cached in $cache)"
  compile "compiling llama.cpp" llama ggml mtmd  # nothing to do, unless the tree was changed
else
  echo "==> Installing llama-cpp-python $version. The first time on a machine, this compiles"
  echo "    llama.cpp's libraries: 3-6 minutes on 2 cores (then cached in $cache: seconds)"
  compile "compiling llama.cpp" llama ggml mtmd
  echo "    llama.cpp's libraries built in $(took)"
fi
newer_libs=()
if [ -n "$wheel" ]; then
  for glob in "${lib_globs[@]}"; do
    while IFS= read -r lib; do newer_libs+=("$lib"); done \
      < <(find "$build/bin" -maxdepth 1 -name "$glob" -newer "$wheel")
  done
fi
if [ -z "$wheel" ] || [ ${#newer_libs[@]} -gt 0 ]; then
  echo "==> Packaging llama-cpp-python $version with those libraries (10-30 seconds)"
  SECONDS=0
  cat >"$cache/prebuilt-libs.cmake" <<EOF
# Written by simplechat's scripts/install_llama_cpp.sh: llama-cpp-python's wheel carries the
# libraries already built in $build (its CMakeLists, with LLAMA_BUILD=OFF, builds none).
set(_simplechat_libs)
foreach(_glob ${lib_globs[*]})
  file(GLOB _found "$build/bin/\${_glob}")
  list(APPEND _simplechat_libs \${_found})
endforeach()
if(NOT _simplechat_libs)
  message(FATAL_ERROR "no llama.cpp libraries in $build/bin")
endif()
install(FILES \${_simplechat_libs} DESTINATION "\${SKBUILD_PLATLIB_DIR}/llama_cpp/lib")
EOF
  rm -rf "$wheels.tmp"
  env -u CMAKE_ARGS "$venv/bin/pip" wheel --quiet --no-deps "$cache/src" -w "$wheels.tmp" \
    --config-settings=cmake.define.LLAMA_BUILD=OFF \
    --config-settings=cmake.define.LLAVA_BUILD=OFF \
    --config-settings=cmake.define.CMAKE_PROJECT_INCLUDE="$cache/prebuilt-libs.cmake"
  rm -rf "$wheels"
  mv "$wheels.tmp" "$wheels"
  wheel=$(find "$wheels" -maxdepth 1 -name "llama_cpp_python-$version-*.whl" | head -n 1)
  echo "    packaged in $(took)"
fi

"$venv/bin/pip" install --quiet "$wheel"  # with its dependencies (numpy, diskcache, jinja2)
installed || "$venv/bin/pip" install --quiet --force-reinstall --no-deps "$wheel"
printf '%s\n' "${cmake_flags[@]}" >"$flags_record"
if ! "$venv/bin/python" -c "import llama_cpp" >/dev/null; then
  echo "llama-cpp-python $version is installed but does not import (above); its wheel: $wheel"
  exit 1
fi
echo "    llama-cpp-python $version installed"
