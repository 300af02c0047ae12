"""A request that names no signed-in user (a direct invoke, a console test-invoke) must not
become the shared user "local" where conversations or usage are kept (issue 35); a local stack
without sign-in says so with LOCAL_SINGLE_USER=true."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.store import Message

from tests.support.lambda_events import call, load_event, make_gateway, with_body
from tests.support.upstreams import FaultyServer


def without_claims(method: str, path: str, body: Any = None) -> dict[str, Any]:
    event = load_event("console_test_invoke", httpMethod=method, path=path, resource=path)
    event["body"] = None if body is None else json.dumps(body)
    return event


def test_a_console_test_invoke_with_a_store_is_a_401_and_reads_nothing(
    tmp_path: Path, faulty: FaultyServer
) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=faulty.url + "/says-hi", CONVERSATIONS_DB=str(tmp_path / "c.db")
    )
    assert gateway.store is not None
    kept = gateway.store.create("local", "the local user's")
    gateway.store.append("local", kept.id, [Message("user", "private")])
    asked = len(faulty.received)
    for method, path, body in (
        ("GET", "/conversations", None),
        ("GET", f"/conversations/{kept.id}", None),
        ("DELETE", f"/conversations/{kept.id}", None),
        ("GET", "/usage", None),
        ("POST", "/chat", {"message": "hi"}),
        ("POST", "/chat", {"message": "hi", "conversationId": kept.id}),
        ("POST", "/chat/cancel", {"id": "x"}),
    ):
        status, reply, headers = call(gateway, without_claims(method, path, body))
        assert status == 401, (method, path, reply)
        assert reply["success"] is False and reply["error"].startswith("Sign-in required")
        assert "Access-Control-Allow-Origin" in headers  # the browser can read why
    assert len(faulty.received) == asked  # the model was never asked
    assert gateway.store.get("local", kept.id)[1][0].content == "private"  # nothing deleted


@pytest.mark.parametrize("store", ["CONVERSATIONS_DB", "CONVERSATIONS_TABLE"])
def test_either_store_requires_a_sub(store: str, tmp_path: Path) -> None:
    value = str(tmp_path / "c.db") if store == "CONVERSATIONS_DB" else "conversations"
    # Refused before any store call: the DynamoDB table is never reached.
    gateway = make_gateway(UPSTREAM_URL="http://127.0.0.1:9", **{store: value})
    assert call(gateway, without_claims("GET", "/conversations"))[0] == 401


def test_a_signed_in_user_is_served_as_before(tmp_path: Path, faulty: FaultyServer) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=faulty.url + "/says-hi", CONVERSATIONS_DB=str(tmp_path / "c.db")
    )
    status, body, _ = call(gateway, with_body({"message": "hello"}))
    assert (status, body["response"]) == (200, "hi")


def test_the_local_stack_without_sign_in_is_the_one_local_user(
    tmp_path: Path, faulty: FaultyServer
) -> None:
    env = {
        "UPSTREAM_URL": faulty.url + "/says-hi",
        "CONVERSATIONS_DB": str(tmp_path / "c.db"),
        "LOCAL_SINGLE_USER": "true",
    }
    gateway = Gateway(Config.from_env(env))
    status, made, _ = call(gateway, without_claims("POST", "/conversations", {"title": "mine"}))
    assert status == 201, made
    status, listed, _ = call(gateway, without_claims("GET", "/conversations"))
    assert status == 200 and [c["id"] for c in listed["conversations"]] == [made["id"]]
    assert gateway.store is not None and gateway.store.get("local", made["id"])
    status, answer, _ = call(
        gateway, without_claims("POST", "/chat", {"message": "hi", "conversationId": made["id"]})
    )
    assert (status, answer["response"]) == (200, "hi")
    assert call(gateway, without_claims("GET", "/usage"))[0] == 200


def test_without_a_store_a_request_without_sub_is_answered(faulty: FaultyServer) -> None:
    # Nothing is kept per user: there is nobody to mix up (the course's stateless Lambda).
    gateway = make_gateway(UPSTREAM_URL=faulty.url + "/says-hi")
    status, body, _ = call(gateway, without_claims("POST", "/chat", {"message": "hi"}))
    assert (status, body["response"]) == (200, "hi")


def test_local_single_user_must_be_a_flag() -> None:
    config = Config.from_env({"LOCAL_SINGLE_USER": "maybe"})
    assert any("LOCAL_SINGLE_USER" in problem for problem in config.problems)
    assert Config.from_env({"LOCAL_SINGLE_USER": "1"}).local_single_user is True
    assert Config.from_env({}).local_single_user is False
