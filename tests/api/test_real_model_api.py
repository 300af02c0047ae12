"""The HTTP API over both real engines with the bundled model: /chat, /generate, streaming."""

import copy
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from simplechat.api.app import create_app
from simplechat.engines.base import Engine
from simplechat.engines.hf_prompts import HfChatPrompts
from tests.support.settings import make_settings
from tests.support.sse import stream_data

pytestmark = pytest.mark.real_model

SECRET_HISTORY = [
    {"role": "user", "content": "The secret word is pineapple. Remember it."},
    {"role": "assistant", "content": "OK, I will remember the secret word."},
]
QUESTION = "What is the secret word? Answer with the word only."


@pytest.fixture
def real_client(real_engine: Engine) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(), real_engine)) as client:
        yield client


def test_chat_uses_the_conversation_history(real_client: TestClient) -> None:
    with_history = real_client.post(
        "/chat",
        json={
            "message": QUESTION,
            "conversationHistory": SECRET_HISTORY,
            "temperature": 0,
            "max_tokens": 24,
        },
    ).json()
    without = real_client.post(
        "/chat", json={"message": QUESTION, "temperature": 0, "max_tokens": 24}
    ).json()
    # The fact exists only in an earlier turn: the model can only know it through the history.
    assert "pineapple" in with_history["response"].lower()
    assert "pineapple" not in without["response"].lower()
    assert with_history["usage"]["prompt_tokens"] > without["usage"]["prompt_tokens"] + 20


def test_generate_answers_the_prompt(real_client: TestClient) -> None:
    body = real_client.post(
        "/generate",
        json={
            "prompt": "What is the capital city of Japan?",
            "do_sample": False,
            "max_new_tokens": 24,
        },
    ).json()
    assert "Tokyo" in body["generated_text"]
    assert "<|im_start|>" not in body["generated_text"]  # only the assistant's new text
    assert "capital city of Japan?" not in body["generated_text"]


def test_openai_streaming_yields_the_same_text_as_non_streaming(real_client: TestClient) -> None:
    request = {
        "messages": [{"role": "user", "content": "What is the capital city of Japan?"}],
        "temperature": 0,
        "max_tokens": 24,
    }
    whole = real_client.post("/v1/chat/completions", json=request).json()
    streamed = real_client.post(
        "/v1/chat/completions",
        json={**request, "stream": True, "stream_options": {"include_usage": True}},
    )
    events = stream_data(streamed.text)
    deltas = [e["choices"][0]["delta"].get("content", "") for e in events if e["choices"]]
    assert len([d for d in deltas if d]) > 3  # really token by token
    assert "".join(deltas) == whole["choices"][0]["message"]["content"]
    assert events[-1]["usage"] == whole["usage"]


STRICT_TEMPLATE = (
    "{% if messages[0].role != 'user' %}"
    "{{ raise_exception('Conversation roles must start with user') }}{% endif %}"
    "{% for m in messages %}<|im_start|>{{ m.role }}\n{{ m.content }}<|im_end|>\n{% endfor %}"
    "<|im_start|>assistant\n"
)


def test_a_chat_template_refusal_is_a_400_naming_the_rule(
    transformers_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Templates such as Mistral's or Gemma's raise for conversations they do not accept."""
    tokenizer = copy.deepcopy(transformers_engine._tokenizer)  # type: ignore[attr-defined]
    tokenizer.chat_template = STRICT_TEMPLATE
    monkeypatch.setattr(transformers_engine, "_prompts", HfChatPrompts(tokenizer))
    with TestClient(create_app(make_settings(), transformers_engine)) as client:
        refused = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "assistant", "content": "Hello!"}], "max_tokens": 4},
        )
        accepted = client.post(
            "/v1/chat/completions",
            json={"messages": [{"role": "user", "content": "Hello!"}], "max_tokens": 4},
        )
    assert refused.status_code == 400
    error = refused.json()["error"]
    assert "Conversation roles must start with user" in error["message"]
    assert error["param"] == "messages"
    assert accepted.status_code == 200


def test_an_empty_completion_prompt_is_a_400(real_client: TestClient) -> None:
    reply = real_client.post("/v1/completions", json={"prompt": "", "max_tokens": 4})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == "prompt"
    assert "empty" in reply.json()["error"]["message"]
    answered = real_client.post("/v1/completions", json={"prompt": "Once", "max_tokens": 4})
    assert answered.status_code == 200


def test_a_near_zero_temperature_decodes_greedily(real_client: TestClient) -> None:
    def answer(temperature: float) -> Any:
        body = {
            "messages": [{"role": "user", "content": "Name a colour."}],
            "temperature": temperature,
            "max_tokens": 12,
        }
        return real_client.post("/v1/chat/completions", json=body)

    tiny = answer(1e-38)  # once, it failed every request in the transformers engine's batch
    assert tiny.status_code == 200
    content = tiny.json()["choices"][0]["message"]["content"]
    assert content == answer(0).json()["choices"][0]["message"]["content"]
