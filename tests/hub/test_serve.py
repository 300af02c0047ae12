"""The real server on a model named by its hub repository: 503 with progress while it
downloads, an answer once ready, a second start offline from the cache; a failure in words."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simplechat.hub_download import fetch
from simplechat.hub_gguf import parse_hub_spec
from simplechat.model_source import BUNDLED_FILE, bundled_model_path
from tests.hub.fake_hub import FakeFile, FakeHub
from tests.hub.split_gguf import split_gguf
from tests.support.processes import ServerProcess, free_port

pytestmark = pytest.mark.real_model

#: Small and quick: this test is about getting the model, not about its answers.
FAST = ["--weight-type", "file", "--context-length", "512", "--max-batch", "1"]


def hub_env(hub: FakeHub, cache: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "SIMPLECHAT_"))}
    return {**env, "HF_ENDPOINT": hub.endpoint, "HF_HUB_CACHE": str(cache), **extra}


def get_json(url: str) -> tuple[int, Any]:
    try:
        with urllib.request.urlopen(url, timeout=5) as reply:
            return reply.status, json.load(reply)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def ask(url: str, model: str) -> dict[str, Any]:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": "What is the capital of France?"}],
        "max_tokens": 8,
        "temperature": 0,
    }
    request = urllib.request.Request(
        url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=120) as reply:
        answer: dict[str, Any] = json.load(reply)
        return answer


@pytest.fixture
def smol_hub(hub: FakeHub, blob: Any) -> FakeHub:
    """The bundled GGUF as `owner/smol-GGUF`, beside a Q8_0 file that must not be picked."""
    hub.add(
        "owner/smol-GGUF",
        {
            BUNDLED_FILE: FakeFile(bundled_model_path()),
            "SmolLM2-135M-Instruct.Q8_0.gguf": blob("q8.gguf", 5000),
        },
    )
    return hub


def wait_for_progress(url: str, process: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The first /health that reports bytes downloaded (the fake CDN holds the rest back)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited"
        try:
            status, body = get_json(url + "/health")
        except OSError:  # not listening yet
            time.sleep(0.2)
            continue
        assert status == 503, body  # never ready before the model is
        if body.get("downloaded_bytes"):
            return body
        time.sleep(0.1)
    raise AssertionError("no download progress reported")


@pytest.fixture
def first_start(smol_hub: FakeHub, tmp_path: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    port = free_port()
    smol_hub.flowing.clear()  # the CDN sends one chunk, then waits
    log = (tmp_path / "serve.log").open("wb")
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simplechat",
            "serve",
            "--port",
            str(port),
            *FAST,
            "--model",
            "owner/smol-GGUF:Q4_1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=hub_env(smol_hub, tmp_path / "hf-cache"),
    )
    yield f"http://127.0.0.1:{port}", process
    smol_hub.flowing.set()
    process.terminate()
    process.wait(30)
    log.close()


def test_serve_downloads_reports_progress_then_answers_and_restarts_offline(
    smol_hub: FakeHub, first_start: tuple[str, subprocess.Popen[bytes]], tmp_path: Path
) -> None:
    url, process = first_start

    progress = wait_for_progress(url, process)
    smol_hub.flowing.set()
    assert progress["status"] == "downloading" and progress["model"] == "owner/smol-GGUF:Q4_1"
    assert progress["total_bytes"] == bundled_model_path().stat().st_size
    deadline = time.monotonic() + 180
    while (status := get_json(url + "/health")[0]) != 200 and time.monotonic() < deadline:
        time.sleep(0.2)
    assert status == 200
    answer = ask(url, "owner/smol-GGUF:Q4_1")
    assert answer["model"] == "owner/smol-GGUF:Q4_1"
    assert answer["choices"][0]["message"]["content"].strip()
    assert not [p for _, p, _ in smol_hub.log("hub") if "Q8_0" in p]  # the :Q4_1 pick
    process.terminate()
    process.wait(30)

    asked = smol_hub.count()
    again = ServerProcess(
        ["--model", "owner/smol-GGUF:Q4_1", *FAST],
        tmp_path / "offline.log",
        env=hub_env(smol_hub, tmp_path / "hf-cache", HF_HUB_OFFLINE="1"),
    )
    try:
        assert ask(again.url, "owner/smol-GGUF:Q4_1")["choices"][0]["message"]["content"]
    finally:
        again.stop()
    assert smol_hub.count() == asked  # not one request to the hub


def test_serve_exits_with_a_sentence_when_the_model_cannot_be_had(
    hub: FakeHub, tmp_path: Path
) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "simplechat",
            "serve",
            "--port",
            str(free_port()),
            "--model",
            "owner/smol-GGUF:Q4_1",
        ],
        capture_output=True,
        text=True,
        timeout=120,
        env=hub_env(hub, tmp_path / "hf-cache", HF_HUB_OFFLINE="1"),
    )

    assert done.returncode == 1
    assert "simplechat: owner/smol-GGUF:Q4_1 is not in the Hugging Face cache" in done.stderr
    assert "HF_HUB_OFFLINE is set" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.fixture(scope="module")
def shards(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("split")
    return split_gguf(bundled_model_path(), folder / "smol-Q4_1", parts=3)


def test_a_split_model_is_fetched_and_loads(
    hub: FakeHub, cache_dir: Path, shards: list[Path]
) -> None:
    from llama_cpp import Llama

    hub.add("owner/smol-split-GGUF", {f"Q4_1/{shard.name}": shard for shard in shards})
    spec = parse_hub_spec("owner/smol-split-GGUF:Q4_1")
    assert spec is not None and len(shards) == 3

    first = fetch(spec, endpoint=hub.endpoint, cache_dir=cache_dir)
    model = Llama(model_path=str(first), n_ctx=128, verbose=False)

    assert first.name == "smol-Q4_1-00001-of-00003.gguf"
    assert model.n_vocab() > 1000
    completion: Any = model("The capital of France is", max_tokens=3, temperature=0)
    assert completion["choices"][0]["text"]
