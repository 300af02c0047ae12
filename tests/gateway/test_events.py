"""Every event shape API Gateway and Lambda send, against the real model server."""

import pytest
from chat_gateway.handler import Gateway

from tests.support.lambda_events import ORIGIN, call, load_event, make_gateway
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.real_model


@pytest.fixture
def gateway(model_server: ServerProcess) -> Gateway:
    return make_gateway(UPSTREAM_URL=model_server.url, MAX_TOKENS="24", ALLOWED_ORIGINS=ORIGIN)


def test_rest_v1_event_with_cognito_claims(
    gateway: Gateway, capsys: pytest.CaptureFixture[str]
) -> None:
    status, body, headers = call(gateway, load_event("rest_v1_cognito"))
    assert status == 200
    assert body["success"] is True
    assert body["response"].strip()
    assert body["conversationHistory"] == [
        {"role": "user", "content": "What is the capital city of Japan?"},
        {"role": "assistant", "content": body["response"]},
    ]
    assert headers["Access-Control-Allow-Origin"] == ORIGIN
    assert '"user": "7d3f1a2b-1111-2222-3333-444455556666"' in capsys.readouterr().out


def test_http_api_v2_event_keeps_the_history(gateway: Gateway) -> None:
    status, body, _ = call(gateway, load_event("http_v2"))
    assert status == 200
    history = body["conversationHistory"]
    assert history[:3] == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello! How can I help?"},
        {"role": "user", "content": "Hello"},
    ]
    assert history[3]["role"] == "assistant"


def test_function_url_event_with_base64_body(gateway: Gateway) -> None:
    status, body, _ = call(gateway, load_event("function_url"))
    assert status == 200
    assert body["conversationHistory"][0]["content"] == "Hello from a function URL"


def test_base64_body_with_japanese_text(gateway: Gateway) -> None:
    status, body, _ = call(gateway, load_event("rest_v1_base64"))
    assert status == 200
    assert body["conversationHistory"][0]["content"] == "日本の首都はどこですか？"


def test_options_preflight_answers_cors_without_calling_the_model(gateway: Gateway) -> None:
    response = gateway.handle(load_event("options_preflight"), None)
    assert response["statusCode"] == 204
    assert response["headers"]["Access-Control-Allow-Origin"] == ORIGIN
    assert "POST" in response["headers"]["Access-Control-Allow-Methods"]
    assert "Authorization" in response["headers"]["Access-Control-Allow-Headers"]


def test_malformed_body_is_a_400_with_cors(gateway: Gateway) -> None:
    status, body, headers = call(gateway, load_event("malformed_body"))
    assert status == 400
    assert body == {"success": False, "error": "The request body is not valid JSON."}
    assert headers["Access-Control-Allow-Origin"] == ORIGIN


def test_get_is_a_405(gateway: Gateway) -> None:
    status, body, headers = call(gateway, load_event("rest_v1_cognito", httpMethod="GET"))
    assert status == 405
    assert "POST" in body["error"]
    assert headers["Allow"] == "OPTIONS, POST"


@pytest.mark.parametrize("event", [None, [], "text", {"httpMethod": "POST", "body": 5}])
def test_events_that_are_not_http_are_a_400(gateway: Gateway, event) -> None:
    response = gateway.handle(event, None)
    assert response["statusCode"] == 400


def test_bad_base64_is_a_400(gateway: Gateway) -> None:
    status, body, _ = call(gateway, load_event("rest_v1_base64", body="***not base64***"))
    assert status == 400
    assert "base64" in body["error"]


def test_unlisted_origin_gets_no_allow_origin(gateway: Gateway) -> None:
    event = load_event("options_preflight")
    event["headers"]["origin"] = "https://evil.example"
    response = gateway.handle(event, None)
    assert "Access-Control-Allow-Origin" not in response["headers"]
