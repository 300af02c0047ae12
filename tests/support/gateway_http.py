"""The gateway server as the Lambda Web Adapter drives it, and a client for it: API Gateway's
request context in `x-amzn-request-context`, streamed answers read as they arrive."""

from __future__ import annotations

import http.client
import json
from typing import Any

from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread

from tests.support.sse import Received

KEY = "gateway-key-0123"
ORIGIN = "https://d111111abcdef8.cloudfront.net"
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
