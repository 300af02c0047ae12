"""The `openai` engine through our API when upstreams misbehave (a faulty server on 127.0.0.1 and
a real one with the fake engine): each fault fails over or becomes a clear HTTP error."""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.base import GenerationRequest, Message, SamplingParams
from simplechat.engines.openai_upstream import OpenAIUpstreamEngine
from simplechat.engines.upstream_pool import UpstreamPool, api_base
from tests.support.processes import ServerProcess, free_port
from tests.support.settings import make_settings
from tests.support.upstreams import ODD_EVENTS, FaultyServer

MESSAGE = {"model": "fake-model", "messages": [{"role": "user", "content": "one two"}]}


@pytest.fixture(scope="module")
def healthy(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(["--engine", "fake"], tmp_path_factory.mktemp("ok") / "ok.log")
    yield server
    server.stop()


@pytest.fixture
def faulty() -> Iterator[FaultyServer]:
    """One per test: tests count what it received and set its barrier."""
    server = FaultyServer()
    yield server
    server.stop()


def client_over(*urls: str) -> TestClient:
    engine = OpenAIUpstreamEngine(list(urls), model="fake-model", health_interval=600)
    return TestClient(create_app(make_settings(), engine))


def faulty_first(faulty: FaultyServer, fault: str, healthy: ServerProcess, body: Any) -> Any:
    """A new front over [faulty, healthy]: its first request goes to the faulty one first
    (both look healthy); asserts that it did, so the answer shows the failover."""
    before = len(faulty.received)
    with client_over(f"{faulty.url}/{fault}", healthy.url) as client:
        reply = client.post("/v1/chat/completions", json=body)
    assert len(faulty.received) == before + 1
    return reply


@pytest.mark.parametrize("fault", ["error500", "unavailable", "reset", "notjson", "unauthorized"])
def test_a_failing_upstream_is_skipped_before_the_first_token(
    faulty: FaultyServer, healthy: ServerProcess, fault: str
) -> None:
    whole = faulty_first(faulty, fault, healthy, MESSAGE)
    assert whole.status_code == 200
    assert whole.json()["choices"][0]["message"]["content"] == "You said: one two"
    streamed = faulty_first(faulty, fault, healthy, {**MESSAGE, "stream": True})
    assert streamed.status_code == 200
    assert streamed_text(streamed.text) == "You said: one two"


def streamed_text(sse: str) -> str:
    events = [line[6:] for line in sse.splitlines() if line.startswith("data: {")]
    return "".join(
        json.loads(e)["choices"][0]["delta"].get("content") or ""
        for e in events
        if json.loads(e)["choices"]
    )


def test_when_every_upstream_is_busy_the_client_gets_429(faulty: FaultyServer) -> None:
    with client_over(f"{faulty.url}/busy", f"{faulty.url}/busy") as client:
        reply = client.post("/chat", json={"message": "hi"})
    assert reply.status_code == 429
    assert reply.headers["retry-after"] == "2"
    assert "busy" in reply.json()["error"]["message"]


def test_an_upstreams_400_is_the_clients_400_and_not_retried(faulty: FaultyServer) -> None:
    before = len(faulty.received)
    # Both entries are the refusing server: a retry would show as a second request.
    with client_over(f"{faulty.url}/rejects", f"{faulty.url}/rejects") as client:
        reply = client.post("/chat", json={"message": "hi"})
    assert reply.status_code == 400
    assert "needs 9000 tokens" in reply.json()["error"]["message"]
    assert len(faulty.received) == before + 1


def test_when_no_upstream_answers_the_client_gets_503(faulty: FaultyServer) -> None:
    with client_over(f"{faulty.url}/error500", "http://127.0.0.1:9") as client:
        for path, body in (("/chat", {"message": "hi"}), ("/v1/chat/completions", MESSAGE)):
            reply = client.post(path, json=body)
            assert reply.status_code == 503
            assert reply.json()["error"]["code"] == "model_unavailable"
            assert "Traceback" not in reply.text


def test_the_upstream_key_is_sent(faulty: FaultyServer) -> None:
    engine = OpenAIUpstreamEngine([f"{faulty.url}/rejects"], model="m", api_key="secret-123456")
    with TestClient(create_app(make_settings(), engine)) as client:
        client.post("/chat", json={"message": "hi"})
    assert faulty.received[-1]["authorization"] == "Bearer secret-123456"
    asyncio.run(engine.aclose())


def test_upstream_urls_are_normalised() -> None:
    assert api_base("http://h:8000/v1/") == "http://h:8000"
    assert api_base("https://x.ngrok-free.app") == "https://x.ngrok-free.app"
    with pytest.raises(ValueError, match="an upstream is an http"):
        api_base("h:8000")


def test_least_outstanding_prefers_the_idle_and_takes_turns_on_ties() -> None:
    pool = UpstreamPool(["http://a", "http://b", "http://c"], "least-outstanding")
    firsts = [next(pool.candidates()).base for _ in range(3)]
    assert sorted(firsts) == ["http://a", "http://b", "http://c"]  # ties rotate
    pool.upstreams[0].outstanding = 2
    pool.upstreams[1].outstanding = 1
    assert next(pool.candidates()).base == "http://c"
    pool.upstreams[2].mark(False, "test")
    order = [u.base for u in pool.candidates()]
    assert order[-1] == "http://c"  # a server marked down is tried last, not never
    assert order[0] == "http://b"


def test_the_settings_wire_the_engine() -> None:
    settings = make_settings(
        engine="openai", upstreams="http://a:1/v1, http://b:2", allow_insecure_upstream=True
    )
    assert settings.upstreams == ["http://a:1", "http://b:2"]


@pytest.mark.parametrize("fault", sorted(ODD_EVENTS))
def test_an_upstream_stream_not_shaped_like_openais_is_skipped(
    faulty: FaultyServer, healthy: ServerProcess, fault: str
) -> None:
    streamed = faulty_first(faulty, fault, healthy, {**MESSAGE, "stream": True})
    assert streamed.status_code == 200
    assert streamed_text(streamed.text) == "You said: one two"


def test_credentials_in_an_upstream_url_stay_out_of_logs_and_errors(
    healthy: ServerProcess, caplog: pytest.LogCaptureFixture
) -> None:
    down = f"http://student:hunter2@127.0.0.1:{free_port()}"
    with client_over(down, healthy.url) as client:
        assert client.post("/chat", json={"message": "hi"}).status_code == 200
    with client_over(down) as client:
        reply = client.post("/chat", json={"message": "hi"})
    assert reply.status_code == 503
    assert "***@127.0.0.1" in caplog.text  # the logs still say which server
    assert "hunter2" not in caplog.text + reply.text


def test_more_streams_than_httpx_pools_by_default_all_get_through(faulty: FaultyServer) -> None:
    """httpx pools 100 connections unless told otherwise; our admission control is the limit."""
    clients = 120
    faulty.barrier = threading.Barrier(clients)
    engine = OpenAIUpstreamEngine([f"{faulty.url}/together"], model="m", health_interval=600)

    async def all_at_once() -> list[str]:
        request = GenerationRequest(engine.render_chat([Message("user", "hi")]), SamplingParams(8))
        answers = await asyncio.gather(*(engine.complete(request) for _ in range(clients)))
        await engine.aclose()
        return [answer.text for answer in answers]

    assert asyncio.run(all_at_once()) == ["together"] * clients


def test_a_server_that_refuses_our_key_stays_down_between_requests(
    tmp_path: Path,
) -> None:
    """Its /health is open, so a health check by /health alone called it up after every request
    had marked it down: the log flapped between the two."""
    keyed = ServerProcess(["--engine", "fake", "--api-key", "right-key"], tmp_path / "keyed.log")
    try:
        wrong = OpenAIUpstreamEngine(
            [keyed.url], model="fake-model", api_key="wrong-key", health_interval=600
        )
        right = OpenAIUpstreamEngine(
            [keyed.url], model="fake-model", api_key="right-key", health_interval=600
        )
        [upstream] = wrong.pool.upstreams
        assert wrong._probe(upstream) == "answered 401: it wants a key, pass --upstream-api-key"
        assert right._probe(right.pool.upstreams[0]) is None
        asyncio.run(wrong.aclose())
        asyncio.run(right.aclose())
    finally:
        keyed.stop()


def test_a_stop_sequence_with_a_lone_surrogate_is_sent_on_cleaned(healthy: ServerProcess) -> None:
    body = b'{"messages": [{"role": "user", "content": "one two"}], "stop": ["\\ud800"]}'
    with client_over(healthy.url) as client:
        reply = client.post(
            "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
        )
    assert reply.status_code == 200  # was a 500: the JSON for the upstream could not be encoded
    assert reply.json()["choices"][0]["message"]["content"] == "You said: one two"
