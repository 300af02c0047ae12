"""The set-up scripts as `make` runs them: what they print, and where.

`make pytest` captures `bench/build_llama_server.sh`'s stdout as a path, so anything else the
build prints there breaks the tests on a machine without the cached binary (only there). The
script runs here against a fake cmake that is as noisy on stdout as the real one, without
the minutes of a real build; the real build is what `make pytest` itself runs.
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

FAKE_CMAKE = """#!/bin/sh
# Prints to stdout as cmake does, and "builds" the binary.
echo "-- The C compiler identification is GNU 12.2.0"
echo "-- Configuring done"
for arg in "$@"; do
  if [ "$arg" = "--build" ]; then
    echo "[ 50%] Building CXX object tools/server/CMakeFiles/llama-server.dir/server.cpp.o"
    echo "[100%] Linking CXX executable ../../bin/llama-server"
    mkdir -p "$2/bin" && printf '#!/bin/sh\\n' > "$2/bin/llama-server"
    chmod +x "$2/bin/llama-server"
  fi
done
"""


def run_build_script(cache: Path, fake_bin: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "SIMPLECHAT_BENCH_CACHE": str(cache)}
    env["PATH"] = f"{fake_bin}{os.pathsep}{env['PATH']}"
    return subprocess.run(
        ["bash", str(ROOT / "bench/build_llama_server.sh")],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=True,
    )


def test_the_llama_server_build_prints_only_the_binary_path_on_stdout(tmp_path: Path) -> None:
    version = next(
        line.split("==")[1].strip('",')
        for line in (ROOT / "pyproject.toml").read_text().splitlines()
        if "llama-cpp-python==" in line
    )
    sources = tmp_path / "cache" / f"llama-cpp-python-{version}" / "src" / "vendor" / "llama.cpp"
    sources.mkdir(parents=True)  # as if the sdist were already fetched
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    (fake_bin / "cmake").write_text(FAKE_CMAKE)
    (fake_bin / "cmake").chmod(stat.S_IRWXU)

    for build in ("fresh", "cached"):  # the first build, then the early exit
        result = run_build_script(tmp_path / "cache", fake_bin)
        lines = result.stdout.splitlines()
        assert len(lines) == 1, f"{build}: stdout must be the path alone, got {result.stdout!r}"
        assert os.access(lines[0], os.X_OK)
        assert lines[0].endswith("/build/bin/llama-server")
        if build == "fresh":  # the build's progress is for the person, on stderr
            assert "compiling llama-server: 100% after" in result.stderr


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
