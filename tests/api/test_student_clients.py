"""Clients in the shapes the course's students wrote them, over real HTTP, unchanged.

Each is our own minimal rewrite of a pattern seen in students' `lambda/index.py` files: urllib
(so `Connection: close`), the course's API Gateway proxy event in and out.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server

COURSE_EVENT = {"body": json.dumps({"message": "hello there", "conversationHistory": []})}


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with live_server(FakeEngine(context_length=2048), max_body_bytes=1 << 20) as url:
        yield url


def passthrough_lambda(url: str, event: dict[str, Any]) -> dict[str, Any]:
    """Forwards the UI's body to /chat and hands the model server's JSON straight back."""
    body = json.loads(event["body"])
    payload = {"message": body["message"], "conversationHistory": body["conversationHistory"]}
    request = urllib.request.Request(
        url + "/chat",
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        return {"statusCode": 200, "body": response.read().decode("utf-8")}


def generate_lambda(url: str, event: dict[str, Any]) -> dict[str, Any]:
    """Calls /generate with the course's usual options and reads `response`, as for /chat."""
    body = json.loads(event["body"])
    payload = {"prompt": body["message"], "max_new_tokens": 512, "temperature": 0.7}
    request = urllib.request.Request(
        url + "/generate",
        data=json.dumps(payload).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request) as response:
        answer = json.loads(response.read())
    text = answer.get("response", "Sorry, no answer.")  # the student's own fallback
    return {"statusCode": 200, "body": json.dumps({"success": True, "response": text})}


def headerless_lambda(url: str, event: dict[str, Any]) -> dict[str, Any]:
    """Posts JSON with urllib's defaults: no headers, so `application/x-www-form-urlencoded`."""
    body = json.loads(event["body"])
    data = json.dumps({"message": body["message"]}).encode("utf-8")
    with urllib.request.urlopen(urllib.request.Request(url + "/chat", data=data)) as response:
        answer = json.loads(response.read())
    return {
        "statusCode": 200,
        "body": json.dumps({"success": True, "response": answer["response"]}),
    }


def course_ui_reads(result: dict[str, Any]) -> str:
    """What the course's web UI does with the Lambda's answer: success, else its error text."""
    data = json.loads(result["body"])
    return data["response"] if data.get("success") else "応答の取得に失敗しました"


def test_a_passthrough_lambda_satisfies_the_course_ui(server: str) -> None:
    assert course_ui_reads(passthrough_lambda(server, COURSE_EVENT)) == "You said: hello there"


def test_a_lambda_reading_response_from_generate_gets_the_answer(server: str) -> None:
    assert course_ui_reads(generate_lambda(server, COURSE_EVENT)) == "You said: hello there"


def test_max_new_tokens_512_beside_a_long_prompt_is_answered(server: str) -> None:
    long_prompt = " ".join(f"w{i}" for i in range(1800))  # leaves ~246 of the 2048 tokens
    event = {"body": json.dumps({"message": long_prompt, "conversationHistory": []})}
    assert course_ui_reads(generate_lambda(server, event)).startswith("You said: w0 w1 w2")


def test_a_lambda_that_sends_no_content_type_is_answered(server: str) -> None:
    assert course_ui_reads(headerless_lambda(server, COURSE_EVENT)) == "You said: hello there"


def test_a_12_mb_upload_reads_the_413(server: str) -> None:
    event = {"body": json.dumps({"message": "x" * (12 << 20), "conversationHistory": []})}
    with pytest.raises(urllib.error.HTTPError) as refused:
        passthrough_lambda(server, event)
    assert refused.value.code == 413  # not ConnectionResetError: the answer was read
    assert "larger than" in json.loads(refused.value.read())["error"]["message"]
