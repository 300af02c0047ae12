"""Overload, oversized bodies and departed clients: refused or stopped, and the server goes on."""

import json
import socket
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server, raw_json_post, wait_until
from tests.support.settings import make_settings


def test_oversized_body_is_a_413_naming_the_limit() -> None:
    client = TestClient(create_app(make_settings(max_body_bytes=2048), FakeEngine()))
    reply = client.post("/chat", json={"message": "x" * 5000})
    assert reply.status_code == 413
    assert "larger than 2048 bytes" in reply.json()["error"]["message"]
    assert client.post("/chat", json={"message": "small"}).status_code == 200


def test_oversized_body_without_content_length_is_a_413() -> None:
    client = TestClient(create_app(make_settings(max_body_bytes=2048), FakeEngine()))

    def chunks() -> Iterator[bytes]:
        yield b'{"message": "'
        for _ in range(10):
            yield b"y" * 500
        yield b'"}'

    reply = client.post("/chat", content=chunks(), headers={"content-type": "application/json"})
    assert reply.status_code == 413
    small = client.post(
        "/chat", content=iter([b'{"message": "hi"}']), headers={"content-type": "application/json"}
    )
    assert small.status_code == 200


def test_past_capacity_requests_get_429_with_retry_after_and_admitted_ones_finish() -> None:
    engine = FakeEngine()
    client = TestClient(create_app(make_settings(max_batch=1, max_queue=1), engine))
    body = {"messages": [{"role": "user", "content": "one two three"}], "stream": True}
    with client.stream("POST", "/v1/chat/completions", json=body) as first:
        with client.stream("POST", "/v1/chat/completions", json=body) as second:
            refused = client.post("/chat", json={"message": "hi"})
            assert refused.status_code == 429
            assert refused.headers["retry-after"] == "2"
            assert refused.json()["error"]["type"] == "rate_limit_error"
            assert "busy" in refused.json()["error"]["message"]
            assert "[DONE]" in "".join(second.iter_text())
        assert first.status_code == 200
        assert "[DONE]" in "".join(first.iter_text())
    # Both admitted streams are done: there is room again.
    assert client.post("/chat", json={"message": "hi"}).status_code == 200


@pytest.fixture
def live_fake() -> Iterator[tuple[str, FakeEngine]]:
    """A real uvicorn server on 127.0.0.1 over a slow fake engine (0.05 s per token)."""
    engine = FakeEngine(token_delay=0.05)
    with live_server(engine) as url:
        yield url.removeprefix("http://"), engine


@pytest.mark.parametrize("path", ["/chat", "/generate"])
def test_a_client_that_leaves_stops_its_generation(
    live_fake: tuple[str, FakeEngine], path: str
) -> None:
    address, engine = live_fake
    host, port = address.split(":")
    field = "message" if path == "/chat" else "prompt"
    body = json.dumps({field: " ".join(["word"] * 200)}).encode()
    with socket.create_connection((host, int(port))) as sock:
        sock.sendall(raw_json_post(f"http://{address}", path, body))
        time.sleep(0.5)  # generating: ~200 tokens at 0.05 s would take 10 s
    assert wait_until(lambda: engine.cancelled == 1)


def test_a_runaway_request_ends_cleanly_at_the_time_limit() -> None:
    engine = FakeEngine(token_delay=0.05)
    client = TestClient(create_app(make_settings(request_time_limit=0.3), engine))
    body = client.post("/chat", json={"message": " ".join(["word"] * 200)}).json()
    assert body["finish_reason"] == "length"
    assert 0 < body["usage"]["completion_tokens"] < 20  # stopped after ~0.3 s, not 10 s
    assert engine.cancelled == 1  # the engine stopped generating
    events = client.post(
        "/v1/chat/completions",
        json={"messages": [{"role": "user", "content": "w " * 200}], "stream": True},
    ).text
    assert '"finish_reason": "length"' in events
    assert events.rstrip().endswith("data: [DONE]")
