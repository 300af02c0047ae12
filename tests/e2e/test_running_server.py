"""A real server process with the bundled model, driven by the clients users really have."""

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import openai
import pytest

from tests.support.processes import ServerProcess

pytestmark = pytest.mark.real_model

API_KEY = "sk-e2e-secret-4f9a1c"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # Requests without max_tokens (the seed's) get 48 tokens: quick even on a busy machine.
    running = ServerProcess(
        ["--default-max-tokens", "48"], tmp_path_factory.mktemp("server") / "server.log"
    )
    yield running
    assert running.stop() == 0  # Ctrl-C shuts it down cleanly


@pytest.fixture(scope="module")
def keyed_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    running = ServerProcess(["--api-key", API_KEY], tmp_path_factory.mktemp("keyed") / "server.log")
    yield running
    running.stop()


def seed_lambda_call(base_url: str, message: str, history: list[dict[str, str]]) -> str:
    """Exactly what the course's lambda/index.py does: urllib, JSON, read `response`."""
    data = {"message": message, "conversationHistory": history}
    request = urllib.request.Request(
        base_url + "/chat",
        data=json.dumps(data).encode("utf-8"),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=25) as response:
        response_json = json.loads(response.read())
    answer: str = response_json.get("response", "")
    return answer


def test_the_seed_lambdas_request_gets_an_answer(server: ServerProcess) -> None:
    history = [
        {"role": "user", "content": "こんにちは"},
        {"role": "assistant", "content": "こんにちは！何かお手伝いできますか？"},
    ]
    answer = seed_lambda_call(server.url, "What is the capital city of Japan?", history)
    assert answer.strip()
    assert "<|im_end|>" not in answer


def test_seed_lambda_sees_a_clear_error_for_an_empty_message(server: ServerProcess) -> None:
    with pytest.raises(urllib.error.HTTPError) as failure:
        seed_lambda_call(server.url, "", [])
    assert failure.value.code == 400
    assert "must not be empty" in json.loads(failure.value.read())["error"]["message"]


def test_openai_sdk_chat(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    [model] = client.models.list().data
    completion = client.chat.completions.create(
        model=model.id,
        messages=[{"role": "user", "content": "What is the capital city of Japan?"}],
        temperature=0,
        max_tokens=24,
    )
    assert "Tokyo" in (completion.choices[0].message.content or "")
    assert completion.usage is not None and completion.usage.completion_tokens > 0


def test_openai_sdk_streaming(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    stream = client.chat.completions.create(
        model="SmolLM2-135M-Instruct.Q4_1",
        messages=[{"role": "user", "content": "What is the capital city of Japan?"}],
        temperature=0,
        max_tokens=24,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert "Tokyo" in text
    assert chunks[-1].usage is not None
    assert 0 < chunks[-1].usage.completion_tokens <= 24


def test_openai_sdk_text_completion(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused")
    completion = client.completions.create(
        model="SmolLM2-135M-Instruct.Q4_1", prompt="One, two, three,", max_tokens=8, temperature=0
    )
    assert completion.choices[0].text
    assert completion.choices[0].finish_reason in ("stop", "length")


def test_openai_sdk_sees_errors_as_exceptions(server: ServerProcess) -> None:
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.NotFoundError, match="no /v1/nothing here"):
        client.get("/nothing", cast_to=object)
    with pytest.raises(openai.BadRequestError, match="only n=1"):
        client.chat.completions.create(
            model="gpt-4o", n=2, messages=[{"role": "user", "content": "x"}]
        )
    with pytest.raises(openai.BadRequestError, match="context"):
        client.chat.completions.create(
            model="SmolLM2-135M-Instruct.Q4_1",
            messages=[{"role": "user", "content": "word " * 9000}],
        )


def test_api_key_is_enforced_and_never_logged(keyed_server: ServerProcess) -> None:
    good = openai.OpenAI(base_url=keyed_server.url + "/v1", api_key=API_KEY, max_retries=0)
    assert good.models.list().data
    bad = openai.OpenAI(base_url=keyed_server.url + "/v1", api_key=API_KEY + "x", max_retries=0)
    with pytest.raises(openai.AuthenticationError):
        bad.models.list()
    with urllib.request.urlopen(keyed_server.url + "/health") as health:
        assert health.status == 200
    assert API_KEY not in keyed_server.log


def test_server_log_reports_the_load(server: ServerProcess) -> None:
    assert "loaded in" in server.log
    assert f"http://127.0.0.1:{server.port}" in server.log
