"""The gateway server's loopback port: with ADAPTER_SECRET set, a local process that forges the
`x-amzn-request-context` header without the secret acts as nobody; /metrics names users only
for the stack's operator (issue 35)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread

from tests.support.gateway_http import context_header
from tests.support.upstreams import FaultyServer

SECRET = "per-run-secret-9f2c"


@pytest.fixture
def server(faulty: FaultyServer, tmp_path: Path) -> Iterator[GatewayServer]:
    env = {
        "UPSTREAM_URL": faulty.url + "/counted",
        "CONVERSATIONS_DB": str(tmp_path / "c.db"),
        "ADAPTER_SECRET": SECRET,
    }
    running = start_in_thread(Gateway(Config.from_env(env)))
    yield running
    running.shutdown()


def send(
    server: GatewayServer,
    method: str,
    path: str,
    body: Any = None,
    *,
    sub: str | None = "bob",
    secret: str | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    sent = dict(headers or {})
    if sub is not None:
        sent["x-amzn-request-context"] = context_header(sub)
    if secret is not None:
        sent["x-simplechat-adapter-secret"] = secret
    data = None if body is None else json.dumps(body)
    if data is not None:
        sent["Content-Type"] = "application/json"
    conn.request(method, path, data, sent)
    reply = conn.getresponse()
    raw = reply.read()
    conn.close()
    if reply.headers.get("content-type", "").startswith("application/json"):
        return reply.status, json.loads(raw) if raw else None
    return reply.status, raw.decode()


def test_a_forged_context_without_the_secret_is_refused_before_it_is_read(
    server: GatewayServer,
) -> None:
    # bob's conversation, made through the stack (with the secret).
    status, made = send(server, "POST", "/conversations", {"title": "bob's"}, secret=SECRET)
    assert status == 201, made
    for secret in (None, "", "wrong", SECRET[:-1], SECRET + "x"):
        for method, path, body in (
            ("GET", "/conversations", None),
            ("GET", f"/conversations/{made['id']}", None),
            ("DELETE", f"/conversations/{made['id']}", None),
            ("GET", "/usage", None),
            ("POST", "/chat", {"message": "as bob"}),
            ("POST", "/chat/cancel", {"id": "x"}),
            ("OPTIONS", "/chat", None),
        ):
            status, reply = send(server, method, path, body, secret=secret)
            assert status == 403, (method, path, secret, reply)
            assert reply["success"] is False
            assert "secret" in reply["error"] and SECRET not in reply["error"]
    # Nothing was read or deleted for the forger; with the secret, bob is bob.
    status, listed = send(server, "GET", "/conversations", secret=SECRET)
    assert status == 200 and [c["id"] for c in listed["conversations"]] == [made["id"]]
    status, answer = send(server, "POST", "/chat", {"message": "hi"}, secret=SECRET)
    assert status == 200 and answer["response"] == "counted"


def test_health_needs_no_secret(server: GatewayServer) -> None:
    assert send(server, "GET", "/health", sub=None) == (200, {"status": "ok"})


def test_metrics_name_users_only_for_the_stack_that_asks_for_them(
    server: GatewayServer,
) -> None:
    assert send(server, "POST", "/chat", {"message": "hi"}, secret=SECRET)[0] == 200
    assert send(server, "GET", "/metrics", sub=None)[0] == 403
    status, plain = send(server, "GET", "/metrics", sub=None, secret=SECRET)
    assert status == 200
    assert "simplechat_gateway_tokens_total" in plain and "bob" not in plain
    users = {"x-simplechat-metrics-users": "1"}
    status, forged = send(server, "GET", "/metrics", sub=None, secret="wrong", headers=users)
    assert status == 403 and "bob" not in str(forged)
    status, named = send(server, "GET", "/metrics", sub=None, secret=SECRET, headers=users)
    assert status == 200 and 'user="bob"' in named


def test_without_a_secret_configured_metrics_never_name_users(
    faulty: FaultyServer, tmp_path: Path
) -> None:
    # AWS: the adapter is the only client and nothing routes to /metrics; no secret is set.
    env = {"UPSTREAM_URL": faulty.url + "/counted", "CONVERSATIONS_DB": str(tmp_path / "c")}
    running = start_in_thread(Gateway(Config.from_env(env)))
    try:
        assert send(running, "POST", "/chat", {"message": "hi"})[0] == 200
        users = {"x-simplechat-metrics-users": "1"}
        status, text = send(running, "GET", "/metrics", sub=None, headers=users)
        assert status == 200 and "bob" not in text
        assert 'simplechat_gateway_tokens_total{kind="completion"} 3' in text
    finally:
        running.shutdown()


def test_the_secret_is_not_in_the_configs_repr() -> None:
    config = Config.from_env({"ADAPTER_SECRET": SECRET})
    assert config.adapter_secret == SECRET and SECRET not in repr(config)
