"""The three upstream protocols against our real server, and what each sends on the wire."""

import json

import pytest
from chat_gateway.chat_request import ChatInput
from chat_gateway.upstream import endpoint, render_prompt, shown_url

from tests.support.lambda_events import call, make_gateway, with_body
from tests.support.processes import ServerProcess
from tests.support.upstreams import FaultyServer

SECRET = {
    "message": "What is the secret word? Answer with the word only.",
    "conversationHistory": [
        {"role": "user", "content": "The secret word is pineapple. Remember it."},
        {"role": "assistant", "content": "OK, I will remember the secret word."},
    ],
}


@pytest.mark.real_model
@pytest.mark.parametrize("protocol", ["chat", "generate", "openai"])
def test_each_protocol_gets_an_answer_from_the_real_server(
    model_server: ServerProcess, protocol: str
) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=model_server.url, UPSTREAM_PROTOCOL=protocol, MAX_TOKENS="24"
    )
    status, body, _ = call(gateway, with_body({"message": "What is the capital city of Japan?"}))
    assert status == 200, body
    assert body["response"].strip()
    assert "<|im_" not in body["response"]


@pytest.mark.real_model
@pytest.mark.parametrize("protocol", ["chat", "openai"])
def test_history_reaches_the_models_prompt(
    model_server: ServerProcess, protocol: str, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=model_server.url, UPSTREAM_PROTOCOL=protocol, MAX_TOKENS="8"
    )
    call(gateway, with_body({"message": SECRET["message"]}))
    alone = json.loads(capsys.readouterr().out.splitlines()[-1])
    status, body, _ = call(gateway, with_body(SECRET))
    with_history = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert status == 200
    assert body["conversationHistory"][:2] == SECRET["conversationHistory"]
    # The model server counted the earlier turns in its prompt (about 12 tokens each).
    assert with_history["promptTokens"] >= alone["promptTokens"] + 20


@pytest.mark.parametrize(
    ("base", "protocol", "url"),
    [
        ("https://x.ngrok.app", "chat", "https://x.ngrok.app/chat"),
        ("https://x.ngrok.app/", "chat", "https://x.ngrok.app/chat"),
        ("https://x.ngrok.app/chat", "chat", "https://x.ngrok.app/chat"),
        ("https://x.ngrok.app/generate", "generate", "https://x.ngrok.app/generate"),
        ("https://x.ngrok.app/chat", "generate", "https://x.ngrok.app/generate"),
        ("http://10.0.0.5:8000/v1", "openai", "http://10.0.0.5:8000/v1/chat/completions"),
        ("http://h:1/prefix", "chat", "http://h:1/prefix/chat"),
        ("https://x.app/chat?token=t", "chat", "https://x.app/chat?token=t"),
        ("https://x.app/?token=t", "generate", "https://x.app/generate?token=t"),
    ],
)
def test_base_urls_pasted_with_a_path_still_work(base: str, protocol: str, url: str) -> None:
    assert endpoint(base, protocol) == url


def test_chat_protocol_sends_the_seed_shape_with_the_system_prompt(faulty: FaultyServer) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=faulty.url + "/says-hello", SYSTEM_PROMPT="Answer in Japanese."
    )
    status, body, _ = call(gateway, with_body(SECRET))
    assert (status, body["response"]) == (200, "hello")
    sent = faulty.received[-1]
    assert sent["path"] == "/says-hello/chat"
    assert sent["body"] == {
        "max_tokens": 512,
        "message": SECRET["message"],
        "conversationHistory": [
            {"role": "system", "content": "Answer in Japanese."},
            *SECRET["conversationHistory"],
        ],
    }
    assert sent["authorization"] is None


def test_generate_protocol_renders_history_into_the_prompt(faulty: FaultyServer) -> None:
    faulty.received.clear()
    gateway = make_gateway(
        UPSTREAM_URL=faulty.url + "/says-x", UPSTREAM_PROTOCOL="generate", MAX_TOKENS="99"
    )
    call(gateway, with_body(SECRET))
    sent = faulty.received[-1]["body"]
    assert sent["max_new_tokens"] == 99
    assert sent["prompt"] == (
        "User: The secret word is pineapple. Remember it.\n"
        "Assistant: OK, I will remember the secret word.\n"
        "User: What is the secret word? Answer with the word only."
    )


def test_generate_prompt_without_history_is_just_the_message() -> None:
    assert render_prompt(ChatInput("Hello", []), "") == "Hello"


def test_openai_protocol_sends_messages_model_and_key(faulty: FaultyServer) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=faulty.url + "/v1",
        UPSTREAM_PROTOCOL="openai",
        UPSTREAM_MODEL="my-model",
        UPSTREAM_API_KEY="k-123456789",
    )
    call(gateway, with_body({"message": "hi"}))
    sent = faulty.received[-1]
    assert sent["path"] == "/v1/chat/completions"
    assert sent["body"]["model"] == "my-model"
    assert sent["body"]["messages"] == [{"role": "user", "content": "hi"}]
    assert sent["body"]["stream"] is False
    assert sent["authorization"] == "Bearer k-123456789"


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        (
            "https://u:p@a1b2c3d4e5f6.ngrok-free.app/chat?token=t#x",
            "https://a1b2….ngrok-free.app/chat",
        ),
        ("http://127.0.0.1:8000/llm/chat", "http://127.0.0.1:8000/llm/chat"),
        ("http://[::1]:8000/chat", "http://[::1]:8000/chat"),
        (
            "https://my-box.example.org/v1/chat/completions",
            "https://my-box.example.org/v1/chat/completions",
        ),
    ],
)
def test_a_url_in_an_error_keeps_no_secret(url: str, shown: str) -> None:
    assert shown_url(url) == shown
