"""vLLM's router (`vllm-router`, a Rust binary from PyPI) in front of several model servers on
127.0.0.1 — ours, llama.cpp's llama-server and `vllm serve` — with our server's contracts, keys
and limits kept in front of it (`--engine openai --upstream <router>`)."""

from __future__ import annotations

import json
import os
import signal
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from simplechat.model_source import bundled_model_path
from tests.support.live import metric
from tests.support.processes import ServerProcess, free_port
from tests.vllm.conftest import KEY, MODEL

ROUTER = [str(Path(sys.executable).parent / "vllm-router")]
#: Built by `make test` (bench/build_llama_server.sh), which names it here.
LLAMA_SERVER = os.environ.get("SIMPLECHAT_LLAMA_SERVER", "")
AUTH = {"Authorization": f"Bearer {KEY}"}
CHAT = "/v1/chat/completions"


def ours(tmp: Path, name: str) -> ServerProcess:
    return ServerProcess(
        ["--api-key", KEY, "--model-name", MODEL, "--max-batch", "2"], tmp / f"{name}.log"
    )


def llama_server(tmp: Path) -> ServerProcess:
    return ServerProcess(
        ["-m", str(bundled_model_path()), "--alias", MODEL, "--api-key", KEY, "--metrics",
         "--host", "127.0.0.1", "-np", "2", "-c", "4096"],
        tmp / "llama-server.log",
        program=[LLAMA_SERVER],
    )  # fmt: skip


def router(tmp: Path, workers: list[ServerProcess], policy: str) -> ServerProcess:
    return ServerProcess(
        ["--worker-urls", *[w.url for w in workers], "--policy", policy, "--host", "127.0.0.1",
         "--worker-startup-check-interval", "1", "--health-check-endpoint", "/health",
         "--health-check-interval-secs", "2", "--log-level", "warning",
         # Its own metrics listener, on a fixed port unless told: one per router here.
         "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())],
        tmp / f"router-{policy}.log",
        program=ROUTER,
    )  # fmt: skip


def answered(server: ServerProcess) -> float:
    """Chat completions one of our servers answered with 200."""
    return metric(server.url, "simplechat_requests_total", key=KEY, route=CHAT, status="200")


def ask(base: str, text: str, *, session: str | None = None, max_tokens: int = 4) -> httpx.Response:
    headers = {**AUTH, **({"X-Session-ID": session} if session else {})}
    return httpx.post(
        base + CHAT,
        json={"model": MODEL, "messages": [{"role": "user", "content": text}],
              "max_tokens": max_tokens, "temperature": 0},
        headers=headers,
        timeout=120,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    tmp = tmp_path_factory.mktemp("ours")
    servers = [ours(tmp, "a"), ours(tmp, "b")]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def sticky(
    pair: list[ServerProcess], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = router(tmp_path_factory.mktemp("sticky"), pair, "consistent_hash")
    yield server
    server.stop()


def which(pair: list[ServerProcess], before: list[float]) -> int:
    """The one server of `pair` that answered since `before` was read."""
    grew = [i for i, s in enumerate(pair) if answered(s) > before[i]]
    assert len(grew) == 1, grew
    return grew[0]


def test_every_kind_of_server_answers_behind_the_router(
    tmp_path: Path, pair: list[ServerProcess], vllm_server: ServerProcess
) -> None:
    llama = llama_server(tmp_path)
    front = router(tmp_path, [*pair, llama, vllm_server], "round_robin")
    try:
        vllm_before = metric(vllm_server.url, "vllm:prompt_tokens_total", key=KEY)
        for i in range(8):
            reply = ask(front.url, f"Say the number {i}.")
            assert reply.status_code == 200, reply.text
        # Round robin over four: each of them answered (each counted by its own metrics).
        assert all(answered(s) >= 2 for s in pair)
        assert metric(llama.url, "llamacpp:n_decode_total", key=KEY) > 0
        assert metric(vllm_server.url, "vllm:prompt_tokens_total", key=KEY) > vllm_before
        # The key reaches the servers: without it, the server's own 401 comes back.
        refused = httpx.post(front.url + CHAT, json={"model": MODEL, "messages": []}, timeout=30)
        assert refused.status_code == 401
    finally:
        front.stop()
        llama.stop()


def test_a_stream_passes_through_unbuffered(sticky: ServerProcess) -> None:
    arrivals: list[float] = []
    started = time.monotonic()
    with httpx.stream(
        "POST",
        sticky.url + CHAT,
        json={"model": MODEL, "messages": [{"role": "user", "content": "Tell me a story."}],
              "max_tokens": 200, "ignore_eos": True, "stream": True},
        headers=AUTH,
        timeout=120,
    ) as reply:  # fmt: skip
        assert reply.status_code == 200
        for line in reply.iter_lines():
            if line.startswith("data: {") and json.loads(line[6:])["choices"]:
                arrivals.append(time.monotonic())
    assert len(arrivals) >= 150
    # Relayed as made: the first token arrives while most of the answer is still to come. A
    # router that buffered would deliver them all at the end, in one instant.
    assert arrivals[0] - started < (arrivals[-1] - started) / 2
    assert arrivals[-1] - arrivals[0] > (arrivals[-1] - started) / 2


def test_a_conversation_stays_on_one_server(
    sticky: ServerProcess, pair: list[ServerProcess]
) -> None:
    placed: dict[str, set[int]] = {}
    for turn in range(3):
        for conversation in ("conv-alice-1", "conv-bob-7", "conv-carol-3", "conv-dan-9"):
            before = [answered(s) for s in pair]
            assert ask(sticky.url, f"Turn {turn}", session=conversation).status_code == 200
            placed.setdefault(conversation, set()).add(which(pair, before))
    assert all(len(servers) == 1 for servers in placed.values()), placed
    assert len(set().union(*placed.values())) == 2  # and conversations spread over both


def test_our_front_keeps_its_contracts_and_sends_each_conversation_to_one_server(
    sticky: ServerProcess, pair: list[ServerProcess], tmp_path: Path
) -> None:
    front = ServerProcess(
        ["--engine", "openai", "--upstream", sticky.url, "--upstream-api-key", KEY,
         "--api-key", "front-key-0123456789"],
        tmp_path / "front.log",
    )  # fmt: skip
    try:
        front_auth = {"Authorization": "Bearer front-key-0123456789"}
        assert (
            httpx.post(front.url + "/chat", json={"message": "hi"}, timeout=30).status_code == 401
        )
        for name in ("Hanako", "Taro", "Yuki", "Ken"):
            history: list[dict[str, str]] = []
            servers = set()
            for turn in ("Hello, I am " + name, "What is my name?", "Thank you!"):
                before = [answered(s) for s in pair]
                reply = httpx.post(
                    front.url + "/chat",
                    json={"message": turn, "conversationHistory": history, "max_tokens": 8},
                    headers=front_auth,
                    timeout=120,
                )
                assert reply.status_code == 200, reply.text
                history += [{"role": "user", "content": turn},
                            {"role": "assistant", "content": reply.json()["response"]}]  # fmt: skip
                servers.add(which(pair, before))
            assert len(servers) == 1, (name, servers)  # every turn on the same server
    finally:
        front.stop()


def test_a_killed_server_loses_no_request_that_had_not_started(tmp_path: Path) -> None:
    servers = [ours(tmp_path, name) for name in ("k1", "k2", "k3")]
    front = router(tmp_path, servers, "round_robin")
    try:
        statuses = [ask(front.url, f"Hello {i}").status_code for i in range(3)]
        servers[1].process.send_signal(signal.SIGKILL)  # gone without a goodbye
        servers[1].process.wait()
        statuses += [ask(front.url, f"Hello again {i}").status_code for i in range(9)]
        assert statuses == [200] * 12  # the router retried elsewhere; nobody saw the failure
        assert answered(servers[0]) + answered(servers[2]) == 12 - 1
    finally:
        front.stop()
        for server in servers:
            server.stop()
