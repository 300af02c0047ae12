"""Every shell command of the README's recipes that can run here runs as written: the local ones
against a stack started as `make run` starts it, the rest as far as this machine allows (their
flags parsed by the real command line, `make -n`, stack outputs that exist)."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplechat.cli import build_parser
from tests.docs.pages import FENCE, ROOT
from tests.support.processes import ServerProcess

READMES = [ROOT / "README.md", ROOT / "README.ja.md"]
STACK_PY = ROOT / "infra" / "simplechat_infra" / "stack.py"


def shell_commands(page: Path) -> list[str]:
    """The README's bash blocks as commands: continuation lines joined, comments dropped."""
    text = page.read_text(encoding="utf-8")
    found = []
    for match in re.finditer(r"^```bash\n(.*?)^```", text, re.M | re.S):
        joined = match.group(1).replace("\\\n", " ")
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#\s.*$", "", line).strip()
            if line:
                found.append(line)
    return found


def python_blocks(page: Path) -> list[str]:
    text = page.read_text(encoding="utf-8")
    return [m.group(1) for m in re.finditer(r"^```python\n(.*?)^```", text, re.M | re.S)]


COMMANDS = shell_commands(READMES[0])


def test_both_readmes_show_the_same_commands() -> None:
    assert shell_commands(READMES[1]) == COMMANDS
    assert python_blocks(READMES[1]) == python_blocks(READMES[0])
    assert FENCE.findall(READMES[0].read_text("utf-8"))  # there are commands to check


def simplechat_args(command: str) -> list[str] | None:
    """The arguments of a `.venv/bin/simplechat ...` command (after any VAR=value), else None."""
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    if words and words[0] == ".venv/bin/simplechat":
        return words[1:]
    return None


def test_every_simplechat_command_parses_with_the_real_command_line() -> None:
    parsed = 0
    for command in COMMANDS:
        args = simplechat_args(command)
        if args is None or "--help" in args:
            continue
        build_parser().parse_args(args)  # argparse exits (SystemExit) on an unknown flag
        parsed += 1
    assert parsed >= 3


@pytest.mark.parametrize("command", [c for c in COMMANDS if c.endswith("--help")])
def test_help_commands_run(command: str) -> None:
    args = simplechat_args(command)
    assert args is not None
    run = subprocess.run(
        [sys.executable, "-m", "simplechat", *args], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0 and "usage: simplechat" in run.stdout


def make_arguments(command: str) -> list[str]:
    words = shlex.split(command)
    while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
        words.pop(0)
    assert words[0] == "make"
    return words[1:]


@pytest.mark.parametrize("command", [c for c in COMMANDS if re.match(r"(\w+=\S+ )*make ", c)])
def test_make_commands_name_real_targets_and_flags(command: str) -> None:
    args = make_arguments(command)
    dry = subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert dry.returncode == 0, dry.stderr
    for arg in args:
        if arg.startswith("ARGS="):
            build_parser().parse_args(["stack", *shlex.split(arg.removeprefix("ARGS="))])


def test_make_deploy_needs_only_the_cdk_libraries() -> None:
    for target in ("synth", "deploy"):
        dry = subprocess.run(
            ["make", "-n", "-W", "pyproject.toml", target],
            cwd=ROOT, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert dry.returncode == 0, dry.stderr
        for heavy in ("torch", "apt-get", "install_llama_cpp", ".[dev", "chromium"):
            assert heavy not in dry.stdout, f"make {target} runs {heavy}"


def test_the_stack_outputs_the_readme_names_exist() -> None:
    text = READMES[0].read_text(encoding="utf-8") + READMES[1].read_text(encoding="utf-8")
    source = STACK_PY.read_text(encoding="utf-8")
    named = set(re.findall(r"\b(?:NextStep\w+|\w+(?:Name|Url|Id))\b", text))
    named = {n for n in named if (n[0].isupper() and n in source) or n.endswith("Name")}
    assert "GatewayLogGroupName" in named
    assert all(f'"{n}"' in source for n in named), named


def test_the_extras_the_readme_installs_exist() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]
    for command in COMMANDS:
        for spec in re.findall(r"-e '\.\[([\w,-]+)\]'", command):
            assert set(spec.split(",")) <= set(extras), spec


def test_the_cuda_build_line_uses_the_real_install_script() -> None:
    [line] = [c for c in COMMANDS if "GGML_CUDA" in c]
    script = line.split()[1]
    assert (ROOT / script).exists()
    assert "CMAKE_ARGS" in (ROOT / script).read_text()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The stack as `make run` starts it: the bundled model, no sign-in."""
    folder = tmp_path_factory.mktemp("readme-stack")
    # Small and light: 2 slots, one set of weights (the routes are what is checked).
    options = ["--default-max-tokens", "16", "--max-batch", "2", "--weight-type", "file"]
    server = ServerProcess(
        options, folder / "stack.log", command="stack", health_path="/llm/health"
    )
    yield server
    server.stop()


def on_port(command: str, port: int) -> str:
    return command.replace("127.0.0.1:8000", f"127.0.0.1:{port}")


@pytest.mark.real_model
@pytest.mark.parametrize("command", [c for c in COMMANDS if c.startswith("curl ")])
def test_the_local_curl_commands_work_as_written(stack: ServerProcess, command: str) -> None:
    run = subprocess.run(
        ["bash", "-c", on_port(command, stack.port) + " --fail-with-body"],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    answer = json.loads(run.stdout)
    assert answer.get("status") == "ok" or answer.get("response") or answer.get("generated_text")


@pytest.mark.real_model
def test_the_openai_example_works_as_written(stack: ServerProcess, tmp_path: Path) -> None:
    [code] = python_blocks(READMES[0])
    script = tmp_path / "example.py"
    script.write_text(on_port(code, stack.port))
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip()
