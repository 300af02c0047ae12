"""The Colab quickstart notebook, executed headlessly (nbclient) with the bundled model on CPU.

Tunnel and registration cells are switched off by the notebook's own parameters (injected right
after its `parameters` cell, the way papermill does); every other cell must run and say what a
student would see: a running server, a /chat answer from curl, a streamed openai SDK answer, and
a clean stop.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from tests.support.processes import free_port

NOTEBOOK = Path(__file__).parents[2] / "notebooks" / "colab_quickstart.ipynb"
OUTPUT = Path(__file__).parents[2] / "test-output" / "notebooks"


def text_of(cell: nbformat.NotebookNode) -> str:
    parts = []
    for output in cell.get("outputs", []):
        if output.get("output_type") == "stream":
            parts.append(output["text"])
        elif "data" in output:
            parts.append(output["data"].get("text/plain", ""))
    return "".join(parts)


def cell_with(notebook: nbformat.NotebookNode, snippet: str) -> nbformat.NotebookNode:
    return next(cell for cell in notebook.cells if snippet in cell.source)


@pytest.mark.real_model
@pytest.mark.timeout(900)  # every cell in turn, each with nbclient's own 300 s limit
def test_the_notebook_runs_start_to_finish_on_cpu(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("NGROK_AUTHTOKEN", "ngrok-token-that-must-stay-hidden")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "aws-secret-that-must-stay-here")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    parameters = next(
        i for i, cell in enumerate(notebook.cells) if "parameters" in cell.metadata.get("tags", [])
    )
    overrides = nbformat.v4.new_code_cell(
        f"INSTALL = False\nOPEN_TUNNEL = False\nREGISTER = False\nPORT = {free_port()}\n"
        "STARTUP_TIMEOUT = 120"
    )
    overrides.metadata["tags"] = ["injected-parameters"]
    notebook.cells.insert(parameters + 1, overrides)
    # The test's own probes: what the running server process was given, and where the
    # generated key can be read back after the run.
    started = next(
        i for i, cell in enumerate(notebook.cells) if "wait_until_healthy" in cell.source
    )
    notebook.cells.insert(
        started + 1,
        nbformat.v4.new_code_cell(
            "open('server.environ', 'wb').write(open(f'/proc/{server.pid}/environ', 'rb').read())"
        ),
    )
    notebook.cells.append(nbformat.v4.new_code_cell("open('key.txt', 'w').write(API_KEY)"))

    # Raises CellExecutionError, with the cell and its traceback, if any cell fails.
    NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": tmp_path}}
    ).execute()
    OUTPUT.mkdir(parents=True, exist_ok=True)
    nbformat.write(notebook, OUTPUT / "colab_quickstart.executed.ipynb")

    assert "using the bundled model on CPU" in text_of(cell_with(notebook, "def gpu_available"))
    assert "server is up: http://127.0.0.1:" in text_of(cell_with(notebook, "wait_until_healthy"))
    chat = json.loads(text_of(cell_with(notebook, "!curl -sS {BASE_URL}/chat")))
    assert chat["response"].strip()
    assert chat["usage"]["completion_tokens"] <= 48
    assert text_of(cell_with(notebook, "from openai import OpenAI")).strip()
    assert "registration off" in text_of(cell_with(notebook, "Registrar.for_stack"))
    assert "tunnel off" in text_of(cell_with(notebook, "NgrokTunnel(PORT"))
    assert "server stopped, exit code 0" in text_of(cell_with(notebook, "server.terminate()"))
    log = (tmp_path / "simplechat.log").read_text()
    assert "POST /chat" in log and "POST /v1/chat/completions" in log
    assert "Traceback" not in log

    server_environ = dict(
        entry.split("=", 1)
        for entry in (tmp_path / "server.environ").read_text().split("\0")
        if "=" in entry
    )
    assert "AWS_SECRET_ACCESS_KEY" not in server_environ
    assert "NGROK_AUTHTOKEN" not in server_environ
    assert server_environ["SIMPLECHAT_API_KEY"]  # what it needs, it has

    secrets_report = text_of(cell_with(notebook, "def secret(name)"))
    assert "NGROK_AUTHTOKEN        set" in secrets_report
    key = (tmp_path / "key.txt").read_text()
    outputs = "".join(text_of(cell) for cell in notebook.cells)
    for secret in (key, "ngrok-token-that-must-stay-hidden"):
        assert secret not in outputs and secret not in log


def server_env_function() -> Callable[..., dict[str, str]]:
    """The notebook's own `server_env`, run from its cell's source."""
    namespace: dict[str, Any] = {"os": os}
    exec(cell_with(nbformat.read(NOTEBOOK, as_version=4), "def server_env").source, namespace)
    server_env: Callable[..., dict[str, str]] = namespace["server_env"]
    return server_env


NOTEBOOK_ENVIRON = {
    "PATH": "/usr/bin",
    "HOME": "/root",
    "LANG": "en_US.UTF-8",
    "LD_LIBRARY_PATH": "/usr/lib64-nvidia",
    "CUDA_VISIBLE_DEVICES": "0",
    "SIMPLECHAT_LOG_LEVEL": "debug",
    "HF_TOKEN": "hf_secret",
    "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
    "AWS_SECRET_ACCESS_KEY": "aws-secret",
    "AWS_SESSION_TOKEN": "aws-session",
    "NGROK_AUTHTOKEN": "ngrok-secret",
    "SIMPLECHAT_UPSTREAM_API_KEY": "not-for-this-server",
    "OPENAI_API_KEY": "sk-other",
    "GITHUB_TOKEN": "ghp-other",
}


def test_the_server_gets_only_what_it_needs_from_the_notebook() -> None:
    server_env = server_env_function()
    env = server_env("", "generated-key", NOTEBOOK_ENVIRON)
    assert env == {
        "PATH": "/usr/bin",
        "HOME": "/root",
        "LANG": "en_US.UTF-8",
        "LD_LIBRARY_PATH": "/usr/lib64-nvidia",
        "CUDA_VISIBLE_DEVICES": "0",
        "SIMPLECHAT_LOG_LEVEL": "debug",
        "SIMPLECHAT_API_KEY": "generated-key",
    }
    # A model from the hub may be gated: then, and only then, the server gets HF_TOKEN.
    with_hub = server_env("google/gemma-2-2b-jpn-it", "generated-key", NOTEBOOK_ENVIRON)
    assert with_hub["HF_TOKEN"] == "hf_secret"
    assert not {"AWS_SECRET_ACCESS_KEY", "NGROK_AUTHTOKEN", "AWS_ACCESS_KEY_ID"} & set(with_hub)


def test_the_notebook_starts_the_server_with_server_env() -> None:
    start = cell_with(nbformat.read(NOTEBOOK, as_version=4), "subprocess.Popen(")
    assert "env=server_env(MODEL, API_KEY)" in start.source
    assert "os.environ" not in start.source
