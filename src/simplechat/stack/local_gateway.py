"""API Gateway and the Lambda Web Adapter, locally: the real gateway server, fed as on AWS."""

from __future__ import annotations

import importlib
import os
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

#: The header that shows the gateway server a request came through the stack (ADAPTER_SECRET).
ADAPTER_SECRET_HEADER = "x-simplechat-adapter-secret"
#: Asks the gateway's /metrics for per-user series (the stack sends it for the operator only).
METRICS_USERS_HEADER = "x-simplechat-metrics-users"


class RunningGateway(Protocol):
    """What the stack needs of chat_gateway.server.GatewayServer."""

    @property
    def port(self) -> int: ...

    def shutdown(self) -> None: ...


def start_gateway(gateway_dir: Path, env: Mapping[str, str]) -> RunningGateway:
    """The deployed gateway code (gateway/chat_gateway), configured from this environment plus
    `env`, serving HTTP on a free loopback port as it does inside the Lambda behind the adapter."""
    if str(gateway_dir) not in sys.path:
        sys.path.insert(0, str(gateway_dir))
    config = importlib.import_module("chat_gateway.config")
    handler = importlib.import_module("chat_gateway.handler")
    server = importlib.import_module("chat_gateway.server")
    # Not put in os.environ: child processes would inherit the adapter secret and the key.
    gateway = handler.Gateway(config.Config.from_env({**os.environ, **env}))
    running: RunningGateway = server.start_in_thread(gateway)
    return running


def request_context(path: str, method: str, claims: Mapping[str, Any] | None) -> dict[str, Any]:
    """API Gateway's `requestContext` for a REST API, as the adapter passes it on in the
    `x-amzn-request-context` header; a Cognito authorizer's claims are strings."""
    context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "local",
        "resourcePath": path,
        "httpMethod": method,
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims is not None:
        context["authorizer"] = {"claims": {k: str(v) for k, v in claims.items()}}
    return context
