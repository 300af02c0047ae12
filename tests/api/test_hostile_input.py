# ruff: noqa: E501 -- a table of hostile requests reads best with one request per line
"""Hostile requests on a live server: each gets a clear 4xx (never a 5xx or a hang), and the
server answers a normal request right after."""

import httpx
import pytest

from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server

KEY = "sk-hostile-suite-123"
AUTH = {"Authorization": f"Bearer {KEY}"}
JSON = {"Content-Type": "application/json", **AUTH}

HOSTILE: list[tuple[str, str, dict[str, str], bytes, int, str]] = [
    ("no key", "/chat", {"Content-Type": "application/json"}, b'{"message": "hi"}', 401, "Missing API key"),
    ("wrong key", "/chat", {"Authorization": "Bearer nope-nope-nope"}, b'{"message": "hi"}', 401, "Invalid API key"),
    ("huge key", "/chat", {"Authorization": "Bearer " + "k" * 6000}, b"{}", 401, "Invalid API key"),
    ("not JSON", "/chat", JSON, b"{{{", 400, "not valid JSON"),
    ("JSON array", "/chat", JSON, b"[1, 2]", 400, "must be a JSON object"),
    ("deep nesting", "/chat", JSON, b'{"message": ' + b"[" * 5000 + b"]" * 5000 + b"}", 400, "message"),
    ("lone surrogate", "/chat", JSON, b'{"message": "\\ud800"}', 400, "message"),
    ("empty message", "/generate", JSON, b'{"prompt": "   "}', 400, "must not be empty"),
    ("oversized body", "/chat", JSON, b'{"message": "' + b"x" * 70_000 + b'"}', 413, "larger than"),
    ("huge max_tokens", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "user", "content": "hi"}], "max_tokens": 100000000}', 400, "context"),
    ("seed beyond 64 bits", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "user", "content": "hi"}], "seed": 100000000000000000000000000000}', 400, "seed"),
    ("empty prompt", "/v1/completions", JSON, b'{"prompt": ""}', 400, "The prompt is empty"),
    ("n=5", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "user", "content": "hi"}], "n": 5}', 400, "only n=1"),
    ("tool role", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "tool", "content": "x"}]}', 400, "role"),
    ("template injection", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "user", "content": "hi"}], "chat_template": "{{ 7*7 }}"}', 200, "You said: hi"),
    ("remote URL content", "/v1/chat/completions", JSON,
     b'{"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://127.0.0.1:9/x"}}]}]}',
     400, "only text content"),
    ("unknown route", "/v1/embeddings", JSON, b"{}", 404, "There is no /v1/embeddings"),
    ("wrong method", "/chat", AUTH, b"", 405, "not allowed"),
]  # fmt: skip


@pytest.fixture(scope="module")
def url() -> object:
    with live_server(FakeEngine(), api_key=[KEY], max_body_bytes=65_536) as base:
        yield base


@pytest.mark.parametrize(
    ("path", "headers", "body", "status", "message"),
    [case[1:] for case in HOSTILE],
    ids=[case[0] for case in HOSTILE],
)
def test_hostile_request_gets_a_clear_answer_and_the_server_goes_on(
    url: str, path: str, headers: dict[str, str], body: bytes, status: int, message: str
) -> None:
    method = "GET" if status == 405 else "POST"
    reply = httpx.request(method, url + path, headers=headers, content=body, timeout=10)
    assert reply.status_code == status
    assert message in reply.text
    assert KEY not in reply.text
    normal = httpx.post(url + "/chat", headers=AUTH, json={"message": "still here"}, timeout=10)
    assert normal.json()["response"] == "You said: still here"
