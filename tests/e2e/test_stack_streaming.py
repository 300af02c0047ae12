"""Streaming and Stop through the whole local stack, signed in as two Cognito users: the local API
Gateway's authorizer, the real gateway server, and the bundled model."""

from __future__ import annotations

import http.client
import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support.browser import (
    DEMO_PASSWORD,
    DEMO_USER,
    cognito_client,
    runtime_config,
    start_stack,
)
from tests.support.cognito import password_sign_in
from tests.support.processes import ServerProcess
from tests.support.sse import data_events as events

pytestmark = pytest.mark.real_model

OTHER_USER, OTHER_PASSWORD = "other@example.com", "Other-password-2026"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_stack(
        tmp_path_factory.mktemp("streaming-stack"),
        "--auth", "cognito", "--demo-user", DEMO_USER, "--demo-password", DEMO_PASSWORD,
        "--default-max-tokens", "1000",
    )  # fmt: skip
    yield server
    server.stop()


@pytest.fixture(scope="module")
def tokens(stack: ServerProcess) -> dict[str, str]:
    """An ID token for each of two users of the stack's user pool."""
    auth = runtime_config(stack)["auth"]
    cognito = cognito_client(stack, admin=True)
    cognito.admin_create_user(
        UserPoolId=auth["userPoolId"], Username=OTHER_USER, MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(
        UserPoolId=auth["userPoolId"], Username=OTHER_USER, Password=OTHER_PASSWORD, Permanent=True
    )

    def id_token(user: str, password: str) -> str:
        return password_sign_in(cognito, auth["clientId"], user, password)["IdToken"]

    return {
        "first": id_token(DEMO_USER, DEMO_PASSWORD),
        "second": id_token(OTHER_USER, OTHER_PASSWORD),
    }


def post(
    stack: ServerProcess, path: str, body: dict[str, Any], token: str | None, stream: bool = False
) -> http.client.HTTPResponse:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token  # the raw ID token, as the course's UI sends it
    if stream:
        headers["Accept"] = "text/event-stream"
    conn.request("POST", path, json.dumps(body), headers)
    return conn.getresponse()


def test_only_the_user_who_started_an_answer_can_stop_it(
    stack: ServerProcess, tokens: dict[str, str]
) -> None:
    reply = post(
        stack,
        "/api/chat",
        {"message": "Write a very long story about the sea."},
        tokens["first"],
        stream=True,
    )
    assert reply.status == 200
    stream = events(reply)
    generation_id = next(stream)["id"]
    first_delta = next(stream)
    assert "delta" in first_delta
    unsigned = post(stack, "/api/chat/cancel", {"id": generation_id}, None)
    assert unsigned.status == 401
    other = post(stack, "/api/chat/cancel", {"id": generation_id}, tokens["second"])
    assert other.status == 404
    assert json.loads(other.read())["success"] is False
    owner = post(stack, "/api/chat/cancel", {"id": generation_id}, tokens["first"])
    assert owner.status == 200
    assert json.loads(owner.read())["cancelled"] is True
    rest = list(stream)
    done = rest[-1]
    assert done["done"] is True and done["stopped"] is True
    assert done["response"] == first_delta["delta"] + "".join(e["delta"] for e in rest[:-1])
    assert done["usage"]["completion_tokens"] < 1000
