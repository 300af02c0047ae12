"""The `openai` engine in a real server process, in front of real upstreams on 127.0.0.1: two of
our own servers with the bundled model (and llama.cpp's llama-server when `make bench` has built
it). Balancing, failover, streaming pass-through and cancellation reaching the upstream."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from simplechat.model_source import bundled_model_path
from tests.support.live import metric as live_metric
from tests.support.processes import ServerProcess, free_port

pytestmark = pytest.mark.real_model

UPSTREAM_KEY = "upstream-key-0123456789"
CHAT = "/v1/chat/completions"
MODEL = bundled_model_path().stem  # the id our servers (and so the front) report
#: `make test` builds it (bench/build_llama_server.sh) and names it here; a bare pytest run uses
#: the cached build when there is one.
LLAMA_SERVER = Path(
    os.environ.get("SIMPLECHAT_LLAMA_SERVER")
    or Path.home() / ".cache/simplechat-bench/llama-cpp-python-0.3.36/build/bin/llama-server"
)


def upstream(tmp: Path, name: str) -> ServerProcess:
    # No prompt cache: answers through the front and straight from an upstream must match.
    args = ["--api-key", UPSTREAM_KEY, "--no-prompt-cache", "--max-batch", "2"]
    return ServerProcess(args, tmp / f"{name}.log")


def front(tmp: Path, name: str, upstreams: list[ServerProcess], *extra: str) -> ServerProcess:
    args = ["--engine", "openai", "--upstream-api-key", UPSTREAM_KEY]
    for server in upstreams:
        args += ["--upstream", server.url]
    return ServerProcess([*args, *extra], tmp / f"{name}.log")


def served(server: ServerProcess, route: str = CHAT) -> float:
    """Requests the server answered with 200 on `route`, from its /metrics."""
    return metric(server, "simplechat_requests_total", route=route, status="200")


def metric(server: ServerProcess, name: str, **labels: str) -> float:
    return live_metric(server.url, name, key=UPSTREAM_KEY, **labels)


def ask(server: ServerProcess, text: str, max_tokens: int = 16) -> httpx.Response:
    return httpx.post(
        server.url + CHAT,
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": max_tokens,
            "temperature": 0,
        },
        headers={"Authorization": f"Bearer {UPSTREAM_KEY}"},
        timeout=60,
    )


def long_stream(server: ServerProcess, text: str) -> Any:
    """A streamed answer thousands of tokens long: it keeps its upstream busy while open."""
    return httpx.stream(
        "POST",
        server.url + CHAT,
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": text}],
            "max_tokens": 4000,
            "ignore_eos": True,
            "stream": True,
        },
        timeout=60,
    )


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[ServerProcess]]:
    tmp = tmp_path_factory.mktemp("upstreams")
    servers = [upstream(tmp, "a"), upstream(tmp, "b")]
    yield servers
    for server in servers:
        server.stop()


@pytest.fixture(scope="module")
def round_robin(
    tmp_path_factory: pytest.TempPathFactory, pair: list[ServerProcess]
) -> Iterator[ServerProcess]:
    server = front(tmp_path_factory.mktemp("front"), "front", pair, "--balance", "round-robin")
    yield server
    server.stop()


def test_answers_match_the_upstream_and_stream_through(
    round_robin: ServerProcess, pair: list[ServerProcess]
) -> None:
    direct = OpenAI(base_url=pair[0].url + "/v1", api_key=UPSTREAM_KEY)
    through = OpenAI(base_url=round_robin.url + "/v1", api_key="unused")
    model = through.models.list().data[0].id
    assert model == direct.models.list().data[0].id  # the upstream's model id, discovered
    question: list[ChatCompletionMessageParam] = [
        {"role": "user", "content": "What is the capital of France?"}
    ]
    expected = direct.chat.completions.create(
        model=model,
        messages=question,
        max_tokens=24,
        temperature=0,
    )
    stream = through.chat.completions.create(
        model=model,
        messages=question,
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 3  # token by token, not one lump at the end
    assert "".join(pieces) == expected.choices[0].message.content
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == [expected.choices[0].finish_reason]
    usage = chunks[-1].usage
    assert usage is not None and expected.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        expected.usage.prompt_tokens,
        expected.usage.completion_tokens,
    )  # the upstream's own counts


def test_the_course_contracts_stay_in_front(round_robin: ServerProcess) -> None:
    history = [
        {"role": "user", "content": "My name is Hanako."},
        {"role": "assistant", "content": "Nice to meet you, Hanako!"},
    ]
    chat = httpx.post(
        round_robin.url + "/chat",
        json={"message": "What is my name?", "conversationHistory": history, "max_tokens": 16},
        timeout=60,
    )
    assert chat.status_code == 200
    assert chat.json()["response"].strip()
    assert chat.json()["usage"]["prompt_tokens"] > 20  # the history reached the model
    generate = httpx.post(
        round_robin.url + "/generate", json={"prompt": "Say hello", "max_new_tokens": 8}, timeout=60
    )
    assert generate.status_code == 200
    assert generate.json()["usage"]["completion_tokens"] <= 8
    bad = httpx.post(round_robin.url + "/chat", json={"message": ""}, timeout=10)
    assert bad.status_code == 400  # our validation answers before any upstream is asked


def test_round_robin_takes_turns(round_robin: ServerProcess, pair: list[ServerProcess]) -> None:
    before = [served(server) for server in pair]
    for i in range(6):
        assert ask(round_robin, f"Count to {i}.", max_tokens=4).status_code == 200
    after = [served(server) for server in pair]
    assert [a - b for a, b in zip(after, before, strict=True)] == [3, 3]


def test_least_outstanding_avoids_the_busy_upstream(
    tmp_path: Path, pair: list[ServerProcess]
) -> None:
    server = front(tmp_path, "front-lo", pair, "--balance", "least-outstanding")
    try:
        before = [served(s) for s in pair]
        with long_stream(server, "Tell me a long story.") as long_answer:
            lines = long_answer.iter_lines()  # kept: a dropped iterator closes the stream
            next(lines)  # it has started on one upstream
            busy = [metric(s, "simplechat_requests_in_flight") for s in pair].index(1.0)
            for i in range(4):
                assert ask(server, f"Quick question {i}?", max_tokens=4).status_code == 200
        after = [served(s) for s in pair]
        quick = [a - b for a, b in zip(after, before, strict=True)]
        assert quick[1 - busy] == 4  # every quick request went to the idle upstream
    finally:
        server.stop()


def test_a_client_that_leaves_stops_the_upstreams_work(
    round_robin: ServerProcess, pair: list[ServerProcess]
) -> None:
    cancelled_before = sum(metric(s, "simplechat_cancelled_requests_total") for s in pair)
    with long_stream(round_robin, "Write a very long essay.") as answer:
        lines = answer.iter_lines()
        for _ in range(3):
            next(lines)
    # The client is gone: the front closes its upstream request, and the upstream stops.
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        cancelled = sum(metric(s, "simplechat_cancelled_requests_total") for s in pair)
        running = sum(metric(s, "simplechat_running_sequences") for s in pair)
        if cancelled == cancelled_before + 1 and running == 0:
            break
        time.sleep(0.1)
    assert cancelled == cancelled_before + 1
    assert running == 0


def test_failover_when_an_upstream_stops_mid_run(tmp_path: Path) -> None:
    a, b = upstream(tmp_path, "fa"), upstream(tmp_path, "fb")
    # A long health interval: the failed request itself must find out and go elsewhere.
    server = front(tmp_path, "front-fo", [a, b], "--balance", "round-robin",
                   "--upstream-health-interval", "600")  # fmt: skip
    try:
        statuses = [ask(server, f"Hello number {i}", max_tokens=4).status_code for i in range(3)]
        a.stop()  # one upstream goes away between requests
        statuses += [ask(server, f"Hello again {i}", max_tokens=4).status_code for i in range(6)]
        assert statuses == [200] * 9
        assert "is down" in server.log and a.url in server.log
        streamed = httpx.post(
            server.url + CHAT,
            json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}], "stream": True,
                  "max_tokens": 4},
            timeout=60,
        )  # fmt: skip
        assert streamed.status_code == 200 and streamed.text.rstrip().endswith("data: [DONE]")
        b.stop()  # now none is left: a clear 503, not a hang or a stack trace
        for stream in (False, True):
            reply = httpx.post(
                server.url + CHAT,
                json={"model": MODEL, "messages": [{"role": "user", "content": "Hi"}],
                      "stream": stream},
                timeout=60,
            )  # fmt: skip
            assert reply.status_code == 503
            assert reply.headers["retry-after"] == "5"
            assert "unavailable" in reply.json()["error"]["message"]
        assert "Traceback" not in server.log
    finally:
        server.stop()
        a.stop()
        b.stop()


def test_an_upstreams_refusal_is_passed_on_as_a_400(round_robin: ServerProcess) -> None:
    too_long = "word " * 6000  # beyond the upstream's context: it says so, and we pass it on
    reply = ask(round_robin, too_long, max_tokens=8)
    assert reply.status_code == 400
    assert "context" in reply.json()["error"]["message"]


@pytest.mark.skipif(
    not LLAMA_SERVER.exists() and "SIMPLECHAT_LLAMA_SERVER" not in os.environ,
    reason="llama-server is built by `make test` (bench/build_llama_server.sh)",
)
def test_in_front_of_llama_server(tmp_path: Path, bundled_model: Path) -> None:
    import subprocess

    port = free_port()
    llama = subprocess.Popen(
        [str(LLAMA_SERVER), "-m", str(bundled_model), "--port", str(port), "--host", "127.0.0.1",
         "-np", "2", "-c", "4096", "--log-disable"],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        server = ServerProcess(
            ["--engine", "openai", "--upstream", f"http://127.0.0.1:{port}"], tmp_path / "f.log"
        )
        try:
            chat = httpx.post(
                server.url + "/chat", json={"message": "Hello!", "max_tokens": 12}, timeout=60
            )
            assert chat.status_code == 200, chat.text
            assert chat.json()["response"].strip()
            assert 0 < chat.json()["usage"]["completion_tokens"] <= 12
            model = httpx.get(server.url + "/v1/models").json()["data"][0]["id"]
            with httpx.stream(
                "POST",
                server.url + CHAT,
                json={"model": model, "messages": [{"role": "user", "content": "Hi"}],
                      "max_tokens": 12, "stream": True},
                timeout=60,
            ) as reply:  # fmt: skip
                assert reply.status_code == 200
                events = [line for line in reply.iter_lines() if line.startswith("data: {")]
            texts = [json.loads(e[6:])["choices"][0]["delta"].get("content") for e in events]
            assert len([t for t in texts if t]) > 1
        finally:
            server.stop()
    finally:
        llama.terminate()
        llama.wait(timeout=30)


def test_an_upstream_that_lists_no_model_is_explained_at_start(
    tmp_path: Path, pair: list[ServerProcess]
) -> None:
    # The upstreams want a key; without --upstream-api-key the front cannot even list the model.
    with pytest.raises(RuntimeError, match="it wants a key, pass --upstream-api-key"):
        ServerProcess(
            ["--engine", "openai", "--upstream", pair[0].url],
            tmp_path / "k.log",
            startup_timeout=30,
        )
    with pytest.raises(RuntimeError, match="connection refused or unreachable"):
        ServerProcess(
            ["--engine", "openai", "--upstream", "http://127.0.0.1:9"],
            tmp_path / "r.log",
            startup_timeout=30,
        )


def test_a_wrong_upstream_setting_stops_at_start(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="--engine openai forwards to other servers"):
        ServerProcess(["--engine", "openai"], tmp_path / "x.log", startup_timeout=30)
    with pytest.raises(RuntimeError, match="an upstream is an http"):
        ServerProcess(
            ["--engine", "openai", "--upstream", "ftp://x"], tmp_path / "y.log", startup_timeout=30
        )
