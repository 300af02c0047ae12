"""Stored conversations through the whole local stack: the local Cognito and its authorizer, the
real gateway server with its SQLite store, the bundled model; and a restart of the stack."""

from __future__ import annotations

import base64
import http.client
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import DEMO_PASSWORD, DEMO_USER, cognito_client, runtime_config
from tests.support.processes import ServerProcess
from tests.support.sse import data_events as events

pytestmark = pytest.mark.real_model

OTHER_USER, OTHER_PASSWORD = "other@example.com", "Other-password-2026"


def start(tmp: Path, data: Path) -> ServerProcess:
    return ServerProcess(
        [
            "--auth", "cognito", "--demo-user", DEMO_USER, "--demo-password", DEMO_PASSWORD,
            "--default-max-tokens", "24", "--data-dir", str(data),
        ],
        tmp / "stack.log",
        command="stack",
        health_path="/llm/health",
    )  # fmt: skip


def id_token(stack: ServerProcess, user: str, password: str, *, create: bool = False) -> str:
    auth = runtime_config(stack)["auth"]
    cognito = cognito_client(stack, admin=True)
    if create:
        cognito.admin_create_user(
            UserPoolId=auth["userPoolId"], Username=user, MessageAction="SUPPRESS"
        )
        cognito.admin_set_user_password(
            UserPoolId=auth["userPoolId"], Username=user, Password=password, Permanent=True
        )
    reply = cognito.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=auth["clientId"],
        AuthParameters={"USERNAME": user, "PASSWORD": password},
    )
    token: str = reply["AuthenticationResult"]["IdToken"]
    return token


def call(
    stack: ServerProcess,
    method: str,
    path: str,
    token: str | None,
    body: Any = None,
    *,
    stream: bool = False,
) -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=120)
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    if stream:
        headers["Accept"] = "text/event-stream"
    conn.request(method, "/api" + path, None if body is None else json.dumps(body), headers)
    reply = conn.getresponse()
    try:
        if stream and reply.status == 200:
            return 200, list(events(reply))
        raw = reply.read()
        return reply.status, json.loads(raw) if raw else None
    finally:
        conn.close()


def test_a_second_user_gets_404_for_the_first_users_conversation_on_every_route(
    tmp_path: Path,
) -> None:
    stack = start(tmp_path, tmp_path / "data")
    try:
        first = id_token(stack, DEMO_USER, DEMO_PASSWORD)
        second = id_token(stack, OTHER_USER, OTHER_PASSWORD, create=True)
        status, created = call(stack, "POST", "/conversations", first, {"title": "first's"})
        assert status == 201
        path = f"/conversations/{created['id']}"
        status, reply = call(
            stack, "POST", "/chat", first, {"message": "Hello", "conversationId": created["id"]}
        )
        assert status == 200 and reply["conversationId"] == created["id"]

        for method, route, body, stream in [
            ("GET", path, None, False),
            ("PATCH", path, {"title": "taken"}, False),
            ("DELETE", path, None, False),
            ("POST", "/chat", {"message": "hi", "conversationId": created["id"]}, False),
            ("POST", "/chat", {"message": "hi", "conversationId": created["id"]}, True),
        ]:
            status, reply = call(stack, method, route, second, body, stream=stream)
            assert status == 404 and reply["success"] is False, (method, route, reply)
        assert call(stack, "GET", "/conversations", second)[1]["conversations"] == []
        # The first user's token with a request context that claims to be the second: the
        # stack makes the context from the token it checked, so this is still the first user.
        second_sub = json.loads(base64.urlsafe_b64decode(second.split(".")[1] + "=="))["sub"]
        forged = json.dumps({"authorizer": {"claims": {"sub": second_sub}}})
        conn = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        conn.request(
            "GET",
            "/api/conversations",
            headers={"Authorization": first, "x-amzn-request-context": forged},
        )
        listed = json.loads(conn.getresponse().read())["conversations"]
        conn.close()
        assert [c["id"] for c in listed] == [created["id"]]
        # No token: the local authorizer refuses before the gateway, as API Gateway does.
        assert call(stack, "GET", "/conversations", None)[0] == 401
        assert call(stack, "GET", path, None)[0] == 401
        status, mine = call(stack, "GET", path, first)
        assert status == 200 and mine["title"] == "first's" and len(mine["messages"]) == 2
    finally:
        stack.stop()


def test_conversations_survive_a_restart_of_the_stack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stack = start(tmp_path, data)
    try:
        token = id_token(stack, DEMO_USER, DEMO_PASSWORD)
        created = call(stack, "POST", "/conversations", token)[1]
        status, streamed = call(
            stack,
            "POST",
            "/chat",
            token,
            {"message": "My name is Hanako. 日本語で答えて。", "conversationId": created["id"]},
            stream=True,
        )
        assert status == 200 and streamed[-1]["success"] is True
        first_answer = streamed[-1]["response"]
        assert first_answer
    finally:
        assert stack.stop() == 0
    assert (data / "conversations.sqlite3").is_file()

    (tmp_path / "again").mkdir()
    again = start(tmp_path / "again", data)
    try:
        # A new local pool (moto keeps nothing), the same user: the same sub, the same data.
        token = id_token(again, DEMO_USER, DEMO_PASSWORD)
        listed = call(again, "GET", "/conversations", token)[1]["conversations"]
        assert [c["id"] for c in listed] == [created["id"]]
        assert listed[0]["title"] == "My name is Hanako. 日本語で答えて。"
        status, reply = call(
            again,
            "POST",
            "/chat",
            token,
            {"message": "What is my name?", "conversationId": created["id"]},
        )
        assert status == 200
        assert [turn["content"] for turn in reply["conversationHistory"]][:2] == [
            "My name is Hanako. 日本語で答えて。",
            first_answer,
        ]
        status, read = call(again, "GET", f"/conversations/{created['id']}", token)
        assert len(read["messages"]) == 4
    finally:
        again.stop()
