"""Invoking the gateway as Lambda does: the proxy events of tests/gateway/events, a context."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from chat_gateway.config import Config
from chat_gateway.handler import Gateway

EVENTS = Path(__file__).parents[1] / "gateway" / "events"
ORIGIN = "https://d111111abcdef8.cloudfront.net"


def load_event(name: str, **changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = json.loads((EVENTS / f"{name}.json").read_text())
    event.update(changes)
    return event


def with_body(payload: Any, name: str = "rest_v1_cognito") -> dict[str, Any]:
    body = payload if isinstance(payload, str) else json.dumps(payload)
    return load_event(name, body=body)


class LambdaContext:
    """The part of the Lambda context object the gateway reads."""

    def __init__(self, remaining_ms: int = 30_000) -> None:
        self.remaining_ms = remaining_ms
        self.aws_request_id = "lambda-request-id"

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


def make_gateway(**env: str) -> Gateway:
    return Gateway(Config.from_env(env))


def call(
    gateway: Gateway, event: dict[str, Any], remaining_ms: int = 30_000
) -> tuple[int, dict[str, Any], dict[str, str]]:
    """Invoke like Lambda does; return status, parsed body and headers."""
    response = gateway.handle(event, LambdaContext(remaining_ms))
    body = json.loads(response["body"]) if response["body"] else {}
    return response["statusCode"], body, response["headers"]
