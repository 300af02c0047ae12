"""OpenAI-compatible /v1 on the fake engine: shapes, streaming events, OpenAI-style errors."""

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.support.sse import stream_events


def chat(**overrides: Any) -> dict[str, Any]:
    return {
        "model": "fake-model",
        "messages": [{"role": "user", "content": "one two"}],
        **overrides,
    }


def sse_events(text: str) -> list[Any]:
    events = stream_events(text)
    assert events[-1] == "[DONE]"
    assert all(isinstance(e, dict) for e in events[:-1]), events
    return events[:-1]


def test_models_lists_the_served_model(client: TestClient) -> None:
    body = client.get("/v1/models").json()
    assert body["object"] == "list"
    assert [m["id"] for m in body["data"]] == ["fake-model"]


def test_chat_completion(client: TestClient) -> None:
    body = client.post("/v1/chat/completions", json=chat()).json()
    assert body["object"] == "chat.completion"
    assert body["id"].startswith("chatcmpl-")
    assert body["model"] == "fake-model"
    assert body["choices"][0]["message"] == {"role": "assistant", "content": "You said: one two"}
    assert body["choices"][0]["finish_reason"] == "stop"
    assert body["usage"]["completion_tokens"] == 4


def test_model_may_be_left_out(client: TestClient) -> None:
    reply = client.post(
        "/v1/chat/completions", json={"messages": [{"role": "user", "content": "x"}]}
    )
    assert reply.status_code == 200


def test_content_parts_and_developer_role_are_understood(client: TestClient) -> None:
    messages = [
        {"role": "developer", "content": "Be brief."},
        {
            "role": "user",
            "content": [{"type": "text", "text": "alpha "}, {"type": "text", "text": "beta"}],
        },
    ]
    body = client.post("/v1/chat/completions", json=chat(messages=messages)).json()
    assert body["choices"][0]["message"]["content"] == "You said: alpha beta"


@pytest.mark.parametrize("limit", ["max_tokens", "max_completion_tokens"])
def test_token_limit(client: TestClient, limit: str) -> None:
    body = client.post("/v1/chat/completions", json=chat(**{limit: 2})).json()
    assert body["choices"][0]["message"]["content"] == "You said:"
    assert body["choices"][0]["finish_reason"] == "length"


@pytest.mark.parametrize(("stop", "text"), [(" two", "You said: one"), (["zzz", "said"], "You ")])
def test_stop_sequences(client: TestClient, stop: Any, text: str) -> None:
    body = client.post("/v1/chat/completions", json=chat(stop=stop)).json()
    assert body["choices"][0]["message"]["content"] == text
    assert body["choices"][0]["finish_reason"] == "stop"


def test_streaming_chat_sends_role_then_deltas_then_finish(client: TestClient) -> None:
    reply = client.post("/v1/chat/completions", json=chat(stream=True))
    assert reply.status_code == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    events = sse_events(reply.text)
    assert events[0]["choices"][0]["delta"] == {"role": "assistant", "content": ""}
    text = "".join(e["choices"][0]["delta"].get("content", "") for e in events)
    assert text == "You said: one two"
    assert events[-1]["choices"][0]["finish_reason"] == "stop"
    assert all(e["object"] == "chat.completion.chunk" for e in events)
    assert len({e["id"] for e in events}) == 1
    assert all("usage" not in e for e in events)


def test_streaming_usage_comes_last_when_asked(client: TestClient) -> None:
    reply = client.post(
        "/v1/chat/completions", json=chat(stream=True, stream_options={"include_usage": True})
    )
    events = sse_events(reply.text)
    assert events[-1]["choices"] == []
    assert events[-1]["usage"]["completion_tokens"] == 4
    assert all(e["usage"] is None for e in events[:-1])


def test_text_completion_continues_the_raw_prompt(client: TestClient) -> None:
    body = client.post(
        "/v1/completions",
        json={"model": "fake-model", "prompt": "User: red green", "max_tokens": 10},
    ).json()
    assert body["object"] == "text_completion"
    assert body["choices"][0]["text"] == "You said: red green"
    assert body["usage"]["prompt_tokens"] == 3


def test_text_completion_defaults_to_16_tokens(client: TestClient) -> None:
    body = client.post("/v1/completions", json={"prompt": "User: " + "w " * 30}).json()
    assert body["usage"]["completion_tokens"] == 16
    assert body["choices"][0]["finish_reason"] == "length"


def test_streaming_text_completion(client: TestClient) -> None:
    reply = client.post(
        "/v1/completions",
        json={"prompt": ["User: a b"], "stream": True, "stream_options": {"include_usage": True}},
    )
    events = sse_events(reply.text)
    assert "".join(e["choices"][0]["text"] for e in events if e["choices"]) == "You said: a b"
    assert events[-2]["choices"][0]["finish_reason"] == "stop"
    assert events[-1]["usage"]["total_tokens"] == 3 + 4


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/v1/completions"])
def test_any_model_name_is_answered_by_the_served_model(client: TestClient, route: str) -> None:
    # "gpt-4o-mini", copied from OpenAI's tutorials: one model is served, and it answers.
    body = chat(model="gpt-4o-mini") if "chat" in route else {"model": "gpt-4o-mini", "prompt": "x"}
    reply = client.post(route, json=body)
    assert reply.status_code == 200
    assert reply.json()["model"] == "fake-model"


BAD_CHAT_REQUESTS: list[tuple[dict[str, Any], str, str | None]] = [
    ({"messages": []}, "at least 1 item", "messages"),
    ({"messages": [{"role": "tool", "content": "x"}]}, "Input should be", "messages.0.role"),
    ({"n": 2}, "only n=1 is supported", "n"),
    ({"temperature": -1}, "greater than or equal to 0", "temperature"),
    ({"top_p": 1.5}, "less than or equal to 1", "top_p"),
    ({"max_tokens": 0}, "greater than or equal to 1", "max_tokens"),
    ({"stop": ["a", "b", "c", "d", "e"]}, "at most 4 stop sequences", "stop"),
    ({"tools": [{"type": "function"}]}, "tools (function calling) are not supported", None),
    ({"logprobs": True}, "logprobs and top_logprobs are not supported", None),
    ({"top_logprobs": 3}, "top_logprobs are not supported", None),
    ({"messages": [{"role": "user", "content": 5}]}, "valid string", "messages.0.content"),
    ({"stop": "x" * 65}, "at most 64 characters", "stop"),
    ({"messages": [{"role": "user", "content": "x" * 100_001}]}, "at most 100000 characters", None),
    ({"messages": [{"role": "user", "content": "x"}] * 513}, "at most 512 items", "messages"),
    ({"response_format": {"type": "json_object"}}, "response_format", None),
    (
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {}}]}]},
        "only text content parts",
        "messages.0.content",
    ),
]


@pytest.mark.parametrize(("overrides", "message", "param"), BAD_CHAT_REQUESTS)
def test_bad_chat_requests_get_an_openai_400(
    client: TestClient, overrides: dict[str, Any], message: str, param: str | None
) -> None:
    reply = client.post("/v1/chat/completions", json=chat(**overrides))
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert message in error["message"]
    assert error["type"] == "invalid_request_error"
    assert set(error) == {"message", "type", "param", "code"}
    if param is not None:
        assert error["param"] == param


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"prompt": ["a", "b"]}, "prompt must be one string"),
        ({"prompt": [1, 2, 3]}, "prompt"),
        ({"prompt": "x", "echo": True}, "echo is not supported"),
        ({"prompt": "x", "suffix": "y"}, "suffix is not supported"),
        ({}, "'prompt' is required"),
    ],
)
def test_bad_completion_requests_get_a_400(
    client: TestClient, body: dict[str, Any], message: str
) -> None:
    reply = client.post("/v1/completions", json=body)
    assert reply.status_code == 400
    assert message in reply.json()["error"]["message"]


def test_context_overflow_is_a_400_before_the_stream_starts(client: TestClient) -> None:
    messages = [{"role": "user", "content": "w " * 2000}]
    reply = client.post(
        "/v1/chat/completions", json=chat(messages=messages, max_tokens=100, stream=True)
    )
    assert reply.status_code == 400
    assert reply.json()["error"]["code"] == "context_length_exceeded"


def test_a_rule_about_the_whole_request_is_said_as_it_is(client: TestClient) -> None:
    error = client.post("/v1/chat/completions", json=chat(tools=[{"type": "function"}])).json()
    assert error["error"]["message"] == "tools (function calling) are not supported by this server."
    assert error["error"]["param"] is None  # not "the body must be a JSON object": it is one
    not_object = client.post("/v1/chat/completions", json=[chat()]).json()
    assert "must be a JSON object" in not_object["error"]["message"]


def test_null_means_the_default_as_in_openais_api(client: TestClient) -> None:
    reply = client.post("/v1/chat/completions", json=chat(n=None, stream=None, ignore_eos=None))
    assert reply.status_code == 200
    assert reply.json()["object"] == "chat.completion"  # not streamed
    body = {"prompt": "one two", "max_tokens": None, "echo": None, "stream": None, "n": None}
    reply = client.post("/v1/completions", json=body)
    assert reply.status_code == 200
    assert reply.json()["choices"][0]["text"] == "You said: one two"


def test_a_model_name_with_a_lone_surrogate_is_no_crash(client: TestClient) -> None:
    body = b'{"model": "\\ud800x", "messages": [{"role": "user", "content": "hi"}]}'
    reply = client.post(
        "/v1/chat/completions", content=body, headers={"content-type": "application/json"}
    )
    assert reply.status_code == 200
    assert reply.json()["model"] == "fake-model"
