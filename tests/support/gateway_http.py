"""The gateway server as the Lambda Web Adapter drives it, and a client for it: API Gateway's
request context in `x-amzn-request-context`, streamed answers read as they arrive."""

from __future__ import annotations

import http.client
import json
from pathlib import Path
from typing import Any

from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread

from tests.support.sse import Received

KEY = "gateway-key-0123"
ORIGIN = "https://d111111abcdef8.cloudfront.net"
UNKNOWN_ID = "0" * 32  # a well-formed conversation id that no one has
#: Every read of a test's connection to the gateway ends within this (a hang fails, not stalls).
READ_SECONDS = 30


def context_header(sub: str) -> str:
    return json.dumps({"requestId": f"req-{sub}", "authorizer": {"claims": {"sub": sub}}})


def post(
    server: GatewayServer,
    path: str,
    body: dict[str, Any],
    *,
    sub: str = "alice",
    stream: bool = True,
) -> tuple[http.client.HTTPConnection, Received]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=READ_SECONDS)
    headers = {
        "Content-Type": "application/json",
        "Origin": ORIGIN,
        "x-amzn-request-context": context_header(sub),
    }
    if stream:
        headers["Accept"] = "text/event-stream"
    conn.request("POST", path, json.dumps(body), headers)
    return conn, Received(conn.getresponse())


def gateway_server(url: str, protocol: str = "chat", **env: str) -> GatewayServer:
    """The gateway in front of `url`, on a free port of 127.0.0.1; `env` adds or overrides."""
    settings = {
        "UPSTREAM_URL": url,
        "UPSTREAM_PROTOCOL": protocol,
        "UPSTREAM_API_KEY": KEY,
        "ALLOWED_ORIGINS": ORIGIN,
        "TIME_BUDGET_SECONDS": "60",
        **env,
    }
    return start_in_thread(Gateway(Config.from_env(settings)))


class Client:
    """One user of the API, as the adapter passes their Cognito sub on."""

    def __init__(self, server: GatewayServer, sub: str) -> None:
        self.server, self.sub = server, sub

    def call(
        self, method: str, path: str, body: Any = None, *, stream: bool = False
    ) -> tuple[int, Any, dict[str, str]]:
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=READ_SECONDS)
        headers = {"Origin": ORIGIN, "x-amzn-request-context": context_header(self.sub)}
        if stream:
            headers["Accept"] = "text/event-stream"
        data = None if body is None else (body if isinstance(body, str) else json.dumps(body))
        if data is not None:
            headers["Content-Type"] = "application/json"
        conn.request(method, path, data, headers)
        reply = conn.getresponse()
        try:
            if stream and reply.status == 200:
                received = Received(reply)
                list(received.next_events())
                return reply.status, received.data(), dict(reply.getheaders())
            raw = reply.read()
            return reply.status, json.loads(raw) if raw else None, dict(reply.getheaders())
        finally:
            conn.close()

    def stopped(self, body: dict[str, Any], *, after_a_word: bool = True) -> dict[str, Any]:
        """Streams `body`'s answer and stops it (after its first word, or before any); the
        `done` event."""
        conn = http.client.HTTPConnection("127.0.0.1", self.server.port, timeout=READ_SECONDS)
        headers = {
            "Accept": "text/event-stream",
            "Content-Type": "application/json",
            "x-amzn-request-context": context_header(self.sub),
        }
        conn.request("POST", "/chat", json.dumps(body), headers)
        received = Received(conn.getresponse())
        events = received.next_events()
        generation = next(e for e in events if isinstance(e, dict) and "id" in e)["id"]
        if after_a_word:
            next(e for e in events if isinstance(e, dict) and "delta" in e)
        status, cancelled, _ = self.call("POST", "/chat/cancel", {"id": generation})
        assert status == 200 and cancelled["cancelled"] is True
        list(events)
        conn.close()
        done: dict[str, Any] = received.data()[-1]
        assert done["stopped"] is True
        return done

    def new(self, title: str | None = None) -> dict[str, Any]:
        status, body, _ = self.call(
            "POST", "/conversations", {} if title is None else {"title": title}
        )
        assert status == 201, body
        return dict(body)

    def chat(self, conversation_id: str, message: str, **fields: Any) -> dict[str, Any]:
        body = {"message": message, "conversationId": conversation_id, **fields}
        status, reply, _ = self.call("POST", "/chat", body)
        assert status == 200, reply
        return dict(reply)

    def messages(self, conversation_id: str) -> list[tuple[str, str]]:
        status, body, _ = self.call("GET", f"/conversations/{conversation_id}")
        assert status == 200, body
        return [(m["role"], m["content"]) for m in body["messages"]]


def start_gateway(upstream_url: str, db: Path | None) -> GatewayServer:
    env = {
        "UPSTREAM_URL": upstream_url,
        "UPSTREAM_API_KEY": KEY,
        "ALLOWED_ORIGINS": ORIGIN,
        "TIME_BUDGET_SECONDS": "60",
        "MAX_HISTORY_MESSAGES": "6",
    }
    if db is not None:
        env["CONVERSATIONS_DB"] = str(db)
    return start_in_thread(Gateway(Config.from_env(env)))
