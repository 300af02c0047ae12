"""The local API Gateway: the events it builds and the config.js it serves."""

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from fastapi.testclient import TestClient

from simplechat.stack.app import MAX_EVENT_BYTES, config_js, create_stack_app
from simplechat.stack.cognito import UserPool
from simplechat.stack.local_gateway import LocalLambdaContext, rest_event


def test_rest_event_matches_api_gateways_proxy_shape() -> None:
    event = rest_event(
        method="POST",
        path="/chat",
        headers={"content-type": "application/json", "origin": "http://127.0.0.1:8000"},
        query={},
        body='{"message": "こんにちは"}'.encode(),
        claims={"sub": "abc", "exp": 123},
    )
    assert event["httpMethod"] == "POST"
    assert event["resource"] == event["path"] == "/chat"
    assert json.loads(event["body"]) == {"message": "こんにちは"}
    assert event["isBase64Encoded"] is False
    assert event["queryStringParameters"] is None
    assert event["requestContext"]["authorizer"]["claims"] == {"sub": "abc", "exp": "123"}
    assert event["multiValueHeaders"]["origin"] == ["http://127.0.0.1:8000"]


def test_binary_bodies_are_base64_like_api_gateway_sends_them() -> None:
    event = rest_event(
        method="POST", path="/chat", headers={}, query={}, body=b"\xff\xfe", claims=None
    )
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == b"\xff\xfe"
    assert "authorizer" not in event["requestContext"]


def test_context_counts_down() -> None:
    context = LocalLambdaContext(30)
    assert 29_000 < context.get_remaining_time_in_millis() <= 30_000


def test_config_js_without_and_with_cognito() -> None:
    assert '"type": "none"' in config_js(None, "auto")
    script = config_js(
        UserPool("http://127.0.0.1:5000", "ap-northeast-1", "pool_1", "client-1"), "ja"
    )
    settings = json.loads(script.split("=", 1)[1].rstrip().rstrip(";"))
    assert settings == {
        "apiEndpoint": "/api",
        "language": "ja",
        "auth": {
            "type": "cognito",
            "endpoint": "http://127.0.0.1:5000",
            "region": "ap-northeast-1",
            "userPoolId": "pool_1",
            "clientId": "client-1",
        },
    }


def test_a_body_over_api_gateways_limit_is_a_413_even_when_sent_chunked(tmp_path: Path) -> None:
    events: list[dict[str, Any]] = []

    def handler(event: dict[str, Any], context: object) -> dict[str, Any]:
        events.append(event)
        return {"statusCode": 200, "body": event["body"]}

    client = TestClient(create_stack_app(llm_app=None, lambda_handler=handler, web_dir=tmp_path))

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(total // 65536):
            yield b"x" * 65536

    too_long = client.post("/api/chat", content=chunks(MAX_EVENT_BYTES + 65536))
    assert too_long.status_code == 413
    assert too_long.json() == {"message": "Request Too Long"}
    declared = client.post("/api/chat", content=b"x" * (MAX_EVENT_BYTES + 1))
    assert declared.status_code == 413
    assert events == []  # the Lambda never saw either
    fits = client.post("/api/chat", content=iter([b'{"message": ', b'"hi"}']))
    assert fits.status_code == 200
    assert fits.text == '{"message": "hi"}'
