"""The seed's /chat and the course's /generate on the fake engine: contracts and error paths."""

from typing import Any

import pytest
from fastapi.testclient import TestClient


def test_chat_answers_with_the_assistant_text_only(client: TestClient) -> None:
    reply = client.post("/chat", json={"message": "hello there", "conversationHistory": []})
    assert reply.status_code == 200
    body = reply.json()
    assert body["response"] == "You said: hello there"
    assert body["model"] == "fake-model"
    assert body["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 4
    assert body["usage"]["total_tokens"] == body["usage"]["prompt_tokens"] + 4
    assert body["response_time"] >= 0


def test_chat_without_history_is_accepted(client: TestClient) -> None:
    assert client.post("/chat", json={"message": "hi"}).json()["response"] == "You said: hi"


def test_chat_history_reaches_the_prompt(client: TestClient) -> None:
    history = [
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "My name is Taro."},
        {"role": "assistant", "content": "Hello Taro."},
    ]
    alone = client.post("/chat", json={"message": "Who am I?"}).json()
    with_history = client.post(
        "/chat", json={"message": "Who am I?", "conversationHistory": history}
    ).json()
    # Every word of the history is in the prompt: 2 + 4 + 2 words, plus the two role labels.
    assert with_history["usage"]["prompt_tokens"] == alone["usage"]["prompt_tokens"] + 10
    assert with_history["response"] == "You said: Who am I?"


def test_chat_ignores_unknown_fields_like_the_seed_server(client: TestClient) -> None:
    reply = client.post("/chat", json={"message": "hi", "sessionId": "abc"})
    assert reply.status_code == 200


def test_chat_max_tokens_limits_the_answer(client: TestClient) -> None:
    body = client.post("/chat", json={"message": "a b c d e", "max_tokens": 3}).json()
    assert body["response"] == "You said: a"
    assert body["finish_reason"] == "length"


def test_generate_follows_the_course_contract(client: TestClient) -> None:
    reply = client.post("/generate", json={"prompt": "tell me a joke"})
    assert reply.status_code == 200
    body = reply.json()
    assert body["generated_text"] == "You said: tell me a joke"
    assert isinstance(body["response_time"], float)


def test_generate_max_new_tokens(client: TestClient) -> None:
    body = client.post(
        "/generate",
        json={"prompt": "a b c d", "max_new_tokens": 2, "do_sample": False, "temperature": 0.7},
    ).json()
    assert body["generated_text"] == "You said:"
    assert body["usage"]["completion_tokens"] == 2


BAD_CHAT_BODIES: list[tuple[Any, str, str | None]] = [
    ({}, "'message' is required", "message"),
    ({"message": ""}, "'message' must not be empty", "message"),
    ({"message": "   \n"}, "'message' must not be empty", "message"),
    ({"message": 42}, "'message'", "message"),
    (
        {"message": "hi", "conversationHistory": "nope"},
        "conversationHistory",
        "conversationHistory",
    ),
    (
        {"message": "hi", "conversationHistory": [{"role": "robot", "content": "x"}]},
        "'user', 'assistant' or 'system'",
        "conversationHistory.0.role",
    ),
    (
        {"message": "hi", "conversationHistory": [{"role": "user"}]},
        "required",
        "conversationHistory.0.content",
    ),
    ({"message": "hi", "temperature": 5}, "less than or equal to 2", "temperature"),
    ({"message": "hi", "max_tokens": 0}, "greater than or equal to 1", "max_tokens"),
    ({"message": "x" * 100_001}, "at most 100000 characters", "message"),
    (
        {"message": "hi", "conversationHistory": [{"role": "user", "content": "x"}] * 513},
        "at most 512 items",
        "conversationHistory",
    ),
    (["hi"], "must be a JSON object", None),
]


@pytest.mark.parametrize(("body", "message", "param"), BAD_CHAT_BODIES)
def test_bad_chat_bodies_get_a_400_that_says_what_to_fix(
    client: TestClient, body: Any, message: str, param: str | None
) -> None:
    reply = client.post("/chat", json=body)
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert message in error["message"]
    assert error["param"] == param
    assert error["type"] == "invalid_request_error"


def test_invalid_json_is_a_400(client: TestClient) -> None:
    reply = client.post("/chat", content=b"{not json", headers={"content-type": "application/json"})
    assert reply.status_code == 400
    assert "not valid JSON" in reply.json()["error"]["message"]


def test_a_form_encoded_body_is_a_400_that_says_to_send_json(client: TestClient) -> None:
    reply = client.post("/chat", data={"message": "hi"})  # message=hi
    assert reply.status_code == 400
    assert "Content-Type: application/json" in reply.json()["error"]["message"]


@pytest.mark.parametrize(
    "content_type",
    [
        None,  # a hand-written request without the header
        "application/x-www-form-urlencoded",  # urllib's data= without headers; curl -d
        "text/plain;charset=UTF-8",  # fetch() with a string body and no headers
    ],
)
def test_a_json_body_is_read_as_json_whatever_its_label(
    client: TestClient, content_type: str | None
) -> None:
    headers = {"content-type": content_type} if content_type else {}
    reply = client.post("/chat", content=b'{"message": "hi"}', headers=headers)
    assert reply.status_code == 200
    assert reply.json()["response"] == "You said: hi"


@pytest.mark.parametrize(
    ("body", "param"),
    [
        ({"prompt": ""}, "prompt"),
        ({"prompt": "x", "max_new_tokens": 0}, "max_new_tokens"),
        ({"prompt": "x", "top_p": 0}, "top_p"),
        ({"prompt": "x", "do_sample": "maybe"}, "do_sample"),
    ],
)
def test_bad_generate_bodies_get_a_400(client: TestClient, body: Any, param: str) -> None:
    reply = client.post("/generate", json=body)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == param


@pytest.mark.parametrize(("route", "field"), [("/chat", "message"), ("/generate", "prompt")])
def test_a_prompt_beyond_the_context_is_a_400_naming_the_routes_own_field(
    client: TestClient, route: str, field: str
) -> None:
    reply = client.post(route, json={field: "word " * 2100, "max_tokens": 10})
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert error["code"] == "context_length_exceeded"
    assert error["param"] == field  # not the OpenAI API's "messages"
    assert "The prompt alone is 2102 tokens" in error["message"]
    assert "context is 2048 tokens" in error["message"]


def test_the_course_max_new_tokens_is_a_ceiling_that_fits_the_context(
    client: TestClient,
) -> None:
    # As a student's Lambda sends it: max_new_tokens 512 beside a prompt that leaves 40 tokens.
    words = " ".join(f"w{i}" for i in range(2006))  # 2006 words + the role label = 2008 tokens
    reply = client.post("/generate", json={"prompt": words, "max_new_tokens": 512})
    assert reply.status_code == 200
    body = reply.json()
    assert body["max_tokens"] == 2048 - body["usage"]["prompt_tokens"] == 40
    assert body["usage"]["completion_tokens"] == 40
    assert body["truncated"] is True and body["finish_reason"] == "length"
    assert body["generated_text"].startswith("You said: w0 w1")  # the prompt was not cut


def test_an_answer_that_ends_by_itself_is_not_truncated(client: TestClient) -> None:
    body = client.post("/generate", json={"prompt": "a b", "max_new_tokens": 512}).json()
    assert body["truncated"] is False and body["max_tokens"] == 512


def test_chat_says_success_as_the_course_web_ui_checks(client: TestClient) -> None:
    # Students pass this JSON straight back to the course's UI, which reads data.success.
    body = client.post("/chat", json={"message": "hi"}).json()
    assert body["success"] is True
    assert body["response"] == "You said: hi"


def test_generate_also_answers_in_response_as_chat_does(client: TestClient) -> None:
    # Lambdas written against the seed's /chat read `response`, also from /generate.
    body = client.post("/generate", json={"prompt": "tell me"}).json()
    assert body["response"] == body["generated_text"] == "You said: tell me"
    assert body["success"] is True


def test_default_max_tokens_shrinks_to_fit_the_context(client: TestClient) -> None:
    # 2040 prompt words leave 8 tokens of room: the default (512) must shrink, not fail.
    reply = client.post("/generate", json={"prompt": "w " * 2036, "max_new_tokens": 8})
    assert reply.status_code == 200
    reply = client.post("/chat", json={"message": "w " * 2036})
    assert reply.status_code == 200
    assert (
        reply.json()["usage"]["prompt_tokens"] + reply.json()["usage"]["completion_tokens"] <= 2048
    )


def test_lone_surrogates_are_a_clear_400_and_nul_is_just_text(client: TestClient) -> None:
    headers = {"content-type": "application/json"}
    lone = b'{"message": "hi \\ud800 there"}'
    reply = client.post("/chat", content=lone, headers=headers)
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "message"
    nul = b'{"message": "a\\u0000b \\u202eevil"}'
    reply = client.post("/chat", content=nul, headers=headers)
    assert reply.status_code == 200
    assert reply.json()["response"] == "You said: a\x00b \u202eevil"
