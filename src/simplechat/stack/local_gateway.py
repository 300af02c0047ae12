"""API Gateway, locally: an HTTP request becomes a REST proxy event for the real Lambda."""

from __future__ import annotations

import base64
import importlib.util
import os
import sys
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

LambdaHandler = Callable[[dict[str, Any], Any], dict[str, Any]]


class LocalLambdaContext:
    """The Lambda context the handler reads: its request id and remaining time."""

    def __init__(self, timeout_seconds: float) -> None:
        self.aws_request_id = str(uuid.uuid4())
        self.function_name = "simplechat-local-gateway"
        self._deadline = time.monotonic() + timeout_seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def load_lambda_handler(gateway_dir: Path, env: Mapping[str, str]) -> LambdaHandler:
    """Import the deployed entry point, `index.lambda_handler`, with its environment set first."""
    os.environ.update(env)
    if str(gateway_dir) not in sys.path:
        sys.path.insert(0, str(gateway_dir))
    spec = importlib.util.spec_from_file_location(
        "simplechat_gateway_index", gateway_dir / "index.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    handler: LambdaHandler = module.lambda_handler
    return handler


def rest_event(
    *,
    method: str,
    path: str,
    headers: Mapping[str, str],
    query: Mapping[str, str],
    body: bytes,
    claims: Mapping[str, Any] | None,
) -> dict[str, Any]:
    """An API Gateway REST API (v1) proxy event, as a Cognito-authorized route sends it."""
    try:
        text, encoded = body.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(body).decode("ascii"), True
    context: dict[str, Any] = {
        "requestId": str(uuid.uuid4()),
        "stage": "local",
        "resourcePath": path,
        "httpMethod": method,
        "identity": {"sourceIp": "127.0.0.1"},
    }
    if claims is not None:
        # API Gateway hands Cognito claims to the Lambda as strings.
        context["authorizer"] = {"claims": {k: str(v) for k, v in claims.items()}}
    return {
        "resource": path,
        "path": path,
        "httpMethod": method,
        "headers": dict(headers),
        "multiValueHeaders": {k: [v] for k, v in headers.items()},
        "queryStringParameters": dict(query) or None,
        "requestContext": context,
        "body": text if body else None,
        "isBase64Encoded": encoded,
    }
