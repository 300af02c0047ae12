"""The local API Gateway: what it passes to the gateway server, and the config.js it serves."""

import json
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from simplechat.stack.app import MAX_EVENT_BYTES, config_js, create_stack_app
from simplechat.stack.cognito import PASSWORD_POLICY, UserPool
from simplechat.stack.local_gateway import request_context
from tests.support.servers import LocalServer


def test_the_request_context_is_api_gateways_with_cognito_claims_as_strings() -> None:
    context = request_context("/chat/cancel", "POST", {"sub": "abc", "exp": 123})
    assert context["resourcePath"] == "/chat/cancel"
    assert context["httpMethod"] == "POST"
    assert context["requestId"]
    assert context["authorizer"]["claims"] == {"sub": "abc", "exp": "123"}
    assert "authorizer" not in request_context("/chat", "POST", None)


class RecordingGateway(LocalServer):
    """Stands in for the gateway server: answers every request with what it received."""

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                recorder.received.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "headers": dict(self.headers),
                        "body": body,
                    }
                )
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_PATCH = do_DELETE = do_POST

        super().__init__(Handler)


def stack_app(gateway: RecordingGateway, web_dir: Path) -> FastAPI:
    # TestClient's requests name the host "testserver".
    return create_stack_app(
        llm_app=None,
        gateway_url=gateway.url,
        web_dir=web_dir,
        adapter_secret="adapter-secret",
        allowed_hosts=("testserver",),
    )


@pytest.fixture
def recording_gateway() -> Iterator[RecordingGateway]:
    server = RecordingGateway()
    yield server
    server.stop()


def test_chat_and_cancel_reach_the_gateway_with_the_request_context(
    tmp_path: Path, recording_gateway: RecordingGateway
) -> None:
    app = stack_app(recording_gateway, tmp_path)
    with TestClient(app) as client:
        assert client.post("/api/chat", content=b'{"message": "hi"}').text == '{"message": "hi"}'
        assert client.post("/api/chat/cancel", content=b'{"id": "x"}').status_code == 200
        assert client.post("/api/chat/other", content=b"{}").status_code == 403
    paths = [r["path"] for r in recording_gateway.received]
    assert paths == ["/chat", "/chat/cancel"]
    context = json.loads(recording_gateway.received[1]["headers"]["x-amzn-request-context"])
    assert context["resourcePath"] == "/chat/cancel"


def test_the_conversation_routes_reach_the_gateway_with_their_query(
    tmp_path: Path, recording_gateway: RecordingGateway
) -> None:
    app = stack_app(recording_gateway, tmp_path)
    conversation = "/api/conversations/" + "a" * 32
    with TestClient(app) as client:
        assert client.get("/api/conversations?q=%E4%BA%AC&limit=5").status_code == 200
        assert client.post("/api/conversations", content=b"{}").status_code == 200
        assert client.patch(conversation, content=b'{"title": "t"}').status_code == 200
        assert client.delete(conversation).status_code == 200
        assert client.post(conversation + "/title").status_code == 200
        assert client.get("/api/presets").status_code == 200
        assert client.patch("/api/presets/" + "b" * 32, content=b"{}").status_code == 200
        # As API Gateway: no other resource under /conversations/{id}, none under presets.
        assert client.get(conversation + "/messages").status_code == 403
        assert client.post(conversation + "/title/x").status_code == 403
        assert client.get("/api/presets/" + "b" * 32 + "/x").status_code == 403
    seen = [(r["method"], r["path"]) for r in recording_gateway.received]
    assert seen == [
        ("GET", "/conversations?q=%E4%BA%AC&limit=5"),
        ("POST", "/conversations"),
        ("PATCH", conversation.removeprefix("/api")),
        ("DELETE", conversation.removeprefix("/api")),
        ("POST", conversation.removeprefix("/api") + "/title"),
        ("GET", "/presets"),
        ("PATCH", "/presets/" + "b" * 32),
    ]


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
            "endpoint": "/cognito/",  # the stack's own path, never moto's port
            "region": "ap-northeast-1",
            "userPoolId": "pool_1",
            "clientId": "client-1",
            "signUp": True,  # the local pool lets anyone sign up
            "mfa": "optional",
            # The pool's own policy (cognito.PASSWORD_POLICY), in the names the UI reads.
            "passwordPolicy": {
                "minLength": PASSWORD_POLICY["MinimumLength"],
                "requireLowercase": PASSWORD_POLICY["RequireLowercase"],
                "requireUppercase": PASSWORD_POLICY["RequireUppercase"],
                "requireDigits": PASSWORD_POLICY["RequireNumbers"],
                "requireSymbols": PASSWORD_POLICY["RequireSymbols"],
            },
        },
    }


def test_a_body_over_api_gateways_limit_is_a_413_even_when_sent_chunked(
    tmp_path: Path, recording_gateway: RecordingGateway
) -> None:
    app = stack_app(recording_gateway, tmp_path)
    client = TestClient(app)

    def chunks(total: int) -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(total // 65536):
            yield b"x" * 65536

    too_long = client.post("/api/chat", content=chunks(MAX_EVENT_BYTES + 65536))
    assert too_long.status_code == 413
    assert too_long.json() == {"message": "Request Too Long"}
    declared = client.post("/api/chat", content=b"x" * (MAX_EVENT_BYTES + 1))
    assert declared.status_code == 413
    assert recording_gateway.received == []  # the Lambda never saw either
    fits = client.post("/api/chat", content=iter([b'{"message": ', b'"hi"}']))
    assert fits.status_code == 200
    assert fits.text == '{"message": "hi"}'


def test_the_gateway_gets_the_adapter_secret_and_never_a_browsers_context(
    tmp_path: Path, recording_gateway: RecordingGateway
) -> None:
    """A client's own x-amzn-request-context or secret header never reaches the gateway."""
    forged = json.dumps({"authorizer": {"claims": {"sub": "someone-else"}}})
    with TestClient(stack_app(recording_gateway, tmp_path)) as client:
        client.post(
            "/api/chat",
            content=b"{}",
            headers={
                "x-amzn-request-context": forged,
                "x-simplechat-adapter-secret": "a-guess",
                "x-simplechat-metrics-users": "1",
            },
        )
    headers = {k.lower(): v for k, v in recording_gateway.received[0]["headers"].items()}
    assert headers["x-simplechat-adapter-secret"] == "adapter-secret"
    assert "x-simplechat-metrics-users" not in headers
    assert "authorizer" not in json.loads(headers["x-amzn-request-context"])


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8000", "127.0.0.1.evil.example"])
def test_a_host_the_stack_does_not_serve_is_refused(
    tmp_path: Path, recording_gateway: RecordingGateway, host: str
) -> None:
    """DNS rebinding: a hostile name that resolves to 127.0.0.1 names itself in Host."""
    with TestClient(stack_app(recording_gateway, tmp_path)) as client:
        reply = client.get("/api/conversations", headers={"host": host})
        assert reply.status_code == 400
        assert "--allowed-host" in reply.json()["message"]
        assert client.post("/api/chat", content=b"{}", headers={"host": host}).status_code == 400
    assert recording_gateway.received == []


@pytest.mark.parametrize("host", ["127.0.0.1:8000", "localhost:8000", "[::1]:8000", "10.0.0.5"])
def test_ip_addresses_and_localhost_are_served(
    tmp_path: Path, recording_gateway: RecordingGateway, host: str
) -> None:
    with TestClient(stack_app(recording_gateway, tmp_path)) as client:
        assert client.get("/api/conversations", headers={"host": host}).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {"origin": "http://evil.example"},
        {"origin": "null"},
        {"origin": "http://testserver:9999"},  # another port is another origin
        {"sec-fetch-site": "cross-site"},
        {"sec-fetch-site": "same-site"},  # e.g. another port of localhost
    ],
)
@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/api/conversations"),
        ("DELETE", "/api/conversations/" + "a" * 32),
        ("POST", "/api/chat"),
        ("GET", "/metrics"),
    ],
)
def test_a_request_from_another_origin_is_refused_before_the_gateway(
    tmp_path: Path,
    recording_gateway: RecordingGateway,
    headers: dict[str, str],
    method: str,
    path: str,
) -> None:
    with TestClient(stack_app(recording_gateway, tmp_path)) as client:
        reply = client.request(method, path, headers=headers, content=b"{}")
    assert reply.status_code == 403
    assert "other websites" in reply.json()["message"]
    assert recording_gateway.received == []


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, urllib, the course's Lambdas: no browser headers at all
        {"origin": "http://testserver"},
        {"sec-fetch-site": "same-origin"},
        {"sec-fetch-site": "none"},  # typed in the address bar
    ],
)
def test_the_stacks_own_page_and_programs_are_answered(
    tmp_path: Path, recording_gateway: RecordingGateway, headers: dict[str, str]
) -> None:
    with TestClient(stack_app(recording_gateway, tmp_path)) as client:
        assert client.get("/api/conversations", headers=headers).status_code == 200


def test_per_user_metrics_only_for_the_operators_key(
    tmp_path: Path, recording_gateway: RecordingGateway
) -> None:
    app = create_stack_app(
        llm_app=None,
        gateway_url=recording_gateway.url,
        web_dir=tmp_path,
        adapter_secret="adapter-secret",
        allowed_hosts=("testserver",),
        operator_keys=("operator-key",),
    )
    with TestClient(app) as client:
        client.get("/metrics")
        client.get("/metrics", headers={"authorization": "Bearer a-guess"})
        client.get("/metrics", headers={"authorization": "Bearer operator-key"})
    asked = [
        {k.lower(): v for k, v in r["headers"].items()}.get("x-simplechat-metrics-users")
        for r in recording_gateway.received
    ]
    assert asked == [None, None, "1"]
