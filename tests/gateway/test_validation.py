"""The web UI's request is checked before any upstream call: each problem a clear 400."""

from typing import Any

import pytest

from tests.support.lambda_events import call, make_gateway, with_body
from tests.support.upstreams import FaultyServer

LIMITS = {
    "MAX_MESSAGE_CHARS": "50",
    "MAX_HISTORY_MESSAGES": "3",
    "MAX_HISTORY_CHARS": "100",
    "MAX_BODY_BYTES": "2000",
}


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("", "The request body is empty"),
        ("[1, 2]", "must be a JSON object"),
        ({}, "'message' is required"),
        ({"message": None}, "'message' is required"),
        ({"message": 12}, "must be a string"),
        ({"message": "  \n "}, "'message' must not be empty"),
        ({"message": "x" * 51}, "The message is 51 characters; the limit is 50"),
        ({"message": "hi", "conversationHistory": {"role": "user"}}, "must be a list"),
        (
            {"message": "hi", "conversationHistory": ["hello"]},
            "conversationHistory[0] must be an object",
        ),
        (
            {"message": "hi", "conversationHistory": [{"role": "bot", "content": "x"}]},
            "conversationHistory[0].role must be one of user, assistant, system",
        ),
        (
            {"message": "hi", "conversationHistory": [{"role": "user", "content": ["x"]}]},
            "conversationHistory[0].content must be a string",
        ),
        (
            {"message": "hi", "conversationHistory": [{"role": "user", "content": "x"}] * 4},
            "has 4 messages; the limit is 3",
        ),
        (
            {"message": "hi", "conversationHistory": [{"role": "user", "content": "x" * 101}]},
            "101 characters long; the limit is 100",
        ),
        # Valid JSON, but a lone surrogate is no character: it cannot be sent on as UTF-8.
        ('{"message": "hi \\ud800"}', "'message' contains an unpaired surrogate"),
        (
            '{"message": "hi", "conversationHistory": [{"role": "user", "content": "\\udfff"}]}',
            "conversationHistory[0].content contains an unpaired surrogate",
        ),
        ("[" * 1500, "nested too deeply"),  # deeper than Python's JSON parser recurses
    ],
)
def test_bad_requests_are_400_and_never_reach_the_model(
    faulty: FaultyServer, payload: Any, message: str
) -> None:
    before = len(faulty.received)
    gateway = make_gateway(UPSTREAM_URL=faulty.url + "/says-ok", **LIMITS)
    status, body, headers = call(gateway, with_body(payload))
    assert status == 400
    assert body["success"] is False
    assert message in body["error"]
    assert headers["Access-Control-Allow-Origin"] == "*"
    assert len(faulty.received) == before


def test_a_number_too_long_to_read_is_a_400_not_a_crash(faulty: FaultyServer) -> None:
    gateway = make_gateway(UPSTREAM_URL=faulty.url + "/says-ok")
    status, body, _ = call(gateway, with_body('{"message": "hi", "n": ' + "7" * 5000 + "}"))
    assert status == 400
    assert "not valid JSON" in body["error"]


def test_too_large_body_is_a_413(faulty: FaultyServer) -> None:
    gateway = make_gateway(UPSTREAM_URL=faulty.url, **LIMITS)
    status, body, _ = call(gateway, with_body({"message": "hi", "pad": "x" * 3000}))
    assert status == 413
    assert "limit is 2000" in body["error"]


def test_missing_upstream_is_a_503_that_names_the_setting() -> None:
    status, body, _ = call(make_gateway(), with_body({"message": "hi"}))
    assert status == 503
    assert "UPSTREAM_URL" in body["error"]


def test_misconfiguration_is_reported_not_crashed() -> None:
    gateway = make_gateway(
        UPSTREAM_URL="http://127.0.0.1:9", UPSTREAM_PROTOCOL="grpc", TIME_BUDGET_SECONDS="soon"
    )
    status, body, _ = call(gateway, with_body({"message": "hi"}))
    assert status == 503
    assert "UPSTREAM_PROTOCOL must be one of chat, generate, openai" in body["error"]
    assert "TIME_BUDGET_SECONDS must be a number" in body["error"]
