"""The set-up scripts as `make` runs them: what they print, and where, and what they build.

`make pytest` captures `bench/build_llama_server.sh`'s stdout as a path, so anything else the
build prints there breaks the tests on a machine without the cached binary (only there). Both
users of llama.cpp, the llama-cpp-python install (`scripts/install_llama_cpp.sh VENV`) and
llama-server (`--server`), share one CMake tree, configured once. The scripts run here against a
fake cmake (as noisy on stdout as the real one) and, for the install, a fake venv's pip and
python, without the minutes of a real build; the real build is what `make` itself runs.
"""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from pathlib import Path

from scripts.build_progress import follow, parse

ROOT = Path(__file__).resolve().parents[1]
VERSION = next(
    line.split("==")[1].strip('",')
    for line in (ROOT / "pyproject.toml").read_text().splitlines()
    if "llama-cpp-python==" in line
)

FAKE_CMAKE = """#!/bin/sh
# Prints to stdout as cmake does, notes its call, and "builds" the targets it is asked for
# unless they are built (as ninja does).
echo "cmake $*" >> "$FAKE_CALLS"
echo "-- The C compiler identification is GNU 12.2.0"
echo "-- Configuring done"
if [ "$1" = "--build" ]; then
  mkdir -p "$2/bin"
  work=
  for target in "$@"; do
    case "$target" in
      llama-server) out="$2/bin/llama-server" ;;
      llama|ggml|mtmd) out="$2/bin/lib$target.so.0.1.0" ;;
      *) continue ;;
    esac
    [ -e "$out" ] && continue
    work=yes
    printf '#!/bin/sh\\n' > "$out" && chmod +x "$out"
  done
  if [ -n "$work" ]; then
    echo "[1/2] Building CXX object tools/server/CMakeFiles/llama-server.dir/server.cpp.o"
    echo "[2/2] Linking CXX executable bin/llama-server"
  else
    echo "ninja: no work to do."
  fi
fi
"""

# A venv whose pip "builds" and "installs" the wheel; `import llama_cpp` works once installed.
FAKE_PIP = """#!/bin/sh
echo "pip $*" >> "$FAKE_CALLS"
echo "Collecting something"
if [ "$1" = wheel ]; then
  while [ "$#" -gt 0 ]; do [ "$1" = -w ] && out="$2"; shift; done
  mkdir -p "$out" && touch "$out/llama_cpp_python-%s-py3-none-linux_x86_64.whl"
elif [ "$1" = install ]; then
  touch "$(dirname "$0")/../installed"
fi
"""
FAKE_PYTHON = """#!/bin/sh
case "$*" in
  *"import"*llama_cpp*) [ -f "$(dirname "$0")/../installed" ]; exit ;;
esac
exec "$REAL_PYTHON" "$@"
"""


def executable(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(stat.S_IRWXU)


def setup(tmp_path: Path) -> tuple[Path, dict[str, str]]:
    """A cache with the sdist already unpacked, and a fake cmake first on PATH."""
    cache = tmp_path / "cache"
    sources = cache / f"llama-cpp-python-{VERSION}" / "src" / "vendor" / "llama.cpp"
    sources.mkdir(parents=True)  # as if the sdist were already fetched
    executable(tmp_path / "bin" / "cmake", FAKE_CMAKE)
    executable(tmp_path / "bin" / "ninja", "#!/bin/sh\n")  # present: none is fetched
    env = {
        **os.environ,
        "SIMPLECHAT_BENCH_CACHE": str(cache),
        "FAKE_CALLS": str(tmp_path / "calls"),
        "REAL_PYTHON": sys.executable,
        "PATH": f"{tmp_path / 'bin'}{os.pathsep}{os.environ['PATH']}",
    }
    env.pop("CMAKE_ARGS", None)
    return cache / f"llama-cpp-python-{VERSION}", env


def run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", *args], capture_output=True, text=True, env=env, timeout=60, check=True
    )


def calls(tmp_path: Path) -> list[str]:
    log = tmp_path / "calls"
    calls = log.read_text().splitlines() if log.exists() else []
    log.unlink(missing_ok=True)
    return calls


def commands(tmp_path: Path) -> list[str]:
    """The calls since the last look, as their first two words ("cmake --build")."""
    return [" ".join(call.split()[:2]) for call in calls(tmp_path)]


def test_the_llama_server_build_prints_only_the_binary_path_on_stdout(tmp_path: Path) -> None:
    _, env = setup(tmp_path)
    for build in ("fresh", "cached"):  # the first build, then the early exit
        result = run([str(ROOT / "bench/build_llama_server.sh")], env)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, f"{build}: stdout must be the path alone, got {result.stdout!r}"
        assert os.access(lines[0], os.X_OK)
        assert lines[0].endswith("/build/bin/llama-server")
        if build == "fresh":  # the build's progress is for the person, on stderr
            assert "compiling llama-server: 2/2, 100% after" in result.stderr
            assert "llama-server built in 0m0" in result.stderr
            assert commands(tmp_path) == ["cmake -S", "cmake --build"]
        else:
            assert not calls(tmp_path), "a cached binary is not built again"


def test_one_tree_builds_the_binding_s_libraries_and_then_llama_server(tmp_path: Path) -> None:
    cache, env = setup(tmp_path)
    venv = tmp_path / "venv"
    executable(venv / "bin" / "pip", FAKE_PIP % VERSION)
    executable(venv / "bin" / "python", FAKE_PYTHON)
    install = [str(ROOT / "scripts/install_llama_cpp.sh"), str(venv)]

    result = run(install, env)
    assert result.stdout == ""
    assert "compiling llama.cpp: 2/2, 100% after" in result.stderr
    configure, build_libs, pip_wheel, *pip_install = calls(tmp_path)
    assert "-DBUILD_SHARED_LIBS=ON" in configure and "-DCMAKE_INSTALL_RPATH=$ORIGIN" in configure
    assert "--build" in build_libs and "--target llama ggml mtmd -j" in build_libs
    # llama-cpp-python's own native build is off; its wheel installs the tree's libraries.
    assert pip_wheel.startswith(f"pip wheel --quiet --no-deps {cache}/src")
    assert "cmake.define.LLAMA_BUILD=OFF" in pip_wheel
    rule = (cache / "prebuilt-libs.cmake").read_text()
    assert f"{cache}/build/bin/" in rule and "SKBUILD_PLATLIB_DIR}/llama_cpp/lib" in rule
    wheel = cache / "wheel" / f"llama_cpp_python-{VERSION}-py3-none-linux_x86_64.whl"
    assert pip_install[0] == f"pip install --quiet {wheel}"

    assert run(install, env).stderr == ""  # installed: `make install` again does nothing
    assert not calls(tmp_path)

    (venv / "installed").unlink()  # a fresh venv: the cached wheel, nothing compiled
    result = run(install, env)
    assert "compiling" not in result.stderr and "Packaging" not in result.stderr
    assert commands(tmp_path) == ["cmake --build", "pip install"]

    server = run([str(ROOT / "bench/build_llama_server.sh")], env)  # the same tree, no configure
    assert server.stdout == f"{cache}/build/bin/llama-server\n"
    assert commands(tmp_path) == ["cmake --build"]


def test_a_tree_configured_otherwise_is_configured_afresh(tmp_path: Path) -> None:
    cache, env = setup(tmp_path)
    old = cache / "build" / "bin" / "llama-server"  # an older script's build, with make
    executable(old, "#!/bin/sh\n")
    (cache / "build" / "Makefile").write_text("")
    result = run([str(ROOT / "bench/build_llama_server.sh")], env)
    assert result.stdout == f"{old}\n"
    configure, build = calls(tmp_path)
    assert "-G Ninja" in configure and "--target llama-server" in build
    assert not (cache / "build" / "Makefile").exists()

    env["CMAKE_ARGS"] = "-DGGML_CUDA=on"  # the user's llama.cpp options reach the build
    run([str(ROOT / "bench/build_llama_server.sh")], env)
    assert "-DGGML_CUDA=on" in calls(tmp_path)[0]


NINJA_LOG = """\
  Successfully installed packaging-26.4 pathspec-1.1.1 scikit-build-core-1.1.2
  [1/193] /usr/bin/cc -DGGML_BACKEND_SHARED -O3 -c ggml/src/ggml.c
  [2/193] /usr/bin/g++ -DGGML_BACKEND_SHARED -O3 -c ggml/src/ggml-backend.cpp
  [97/193] /usr/bin/g++ -DLLAMA_BUILD -O3 -c src/llama-graph.cpp
  [193/193] Linking CXX shared library vendor/llama.cpp/src/libllama.so
  Successfully installed llama-cpp-python-0.3.36
"""

MAKE_LOG = """\
[  2%] Building C object ggml/src/CMakeFiles/ggml-base.dir/ggml.c.o
[ 40%] Building CXX object src/CMakeFiles/llama.dir/llama.cpp.o
[100%] Built target llama-server
"""


class Clock:
    """Ten seconds pass between one line of the log and the next."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        self.now += 5.0  # read twice per line
        return self.now


def test_progress_lines_from_ninja_every_few_seconds_without_the_compiler_lines() -> None:
    out = io.StringIO()
    follow(
        io.StringIO(NINJA_LOG),
        out,
        label="compiling llama.cpp",
        in_place=False,
        every=20,
        clock=Clock(),
    )
    lines = out.getvalue().splitlines()
    assert lines[0].strip().startswith("Successfully installed packaging")
    assert "    compiling llama.cpp: 2/193, 1% after 0m" in lines[1]  # 20 s after the start
    assert "compiling llama.cpp: 193/193, 100%" in lines[-2]  # the last step always shows
    assert lines[-1].strip() == "Successfully installed llama-cpp-python-0.3.36"
    assert not any("g++" in line or "-O3" in line for line in lines)


def test_progress_on_a_terminal_is_one_line_updated_in_place() -> None:
    out = io.StringIO()
    follow(io.StringIO(MAKE_LOG), out, label="compiling llama-server", in_place=True, every=10)
    text = out.getvalue()
    assert text.count("\r") == 3 and text.endswith("\n") and text.count("\n") == 1
    final = text.rsplit("\r", 1)[-1]
    assert final.startswith("    compiling llama-server: 100% after")


def test_progress_is_read_from_ninja_and_make_lines_only() -> None:
    assert parse("[97/193] /usr/bin/g++ -c x.cpp") == (97, 193)
    assert parse("[ 40%] Building CXX object x.o") == (40, 100)
    assert parse("-- Configuring done") is None
    assert parse("error: [1/2] is not a step") is None


def test_the_filter_runs_as_the_install_script_runs_it() -> None:
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts/build_progress.py"), "compiling llama.cpp"],
        input=NINJA_LOG,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    assert "compiling llama.cpp: 193/193, 100%" in result.stdout  # not a terminal: lines
    assert "\r" not in result.stdout
