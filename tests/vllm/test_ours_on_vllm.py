"""`simplechat serve --engine vllm` on real vLLM (CPU build): our contracts over vLLM's AsyncLLM,
a stop that reaches vLLM, requests batched by vLLM, and errors in our envelope."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from openai import OpenAI

from tests.support.live import metric, wait_until
from tests.support.processes import ServerProcess
from tests.vllm.conftest import KEY, MODEL

AUTH = {"Authorization": f"Bearer {KEY}"}


def vllm_unfinished(server: ServerProcess) -> float:
    """vLLM's own count of requests it has not finished (our running gauge reads it)."""
    return metric(server.url, "simplechat_running_sequences", key=KEY)


def long_chat(server: ServerProcess, text: str) -> Any:
    """A streamed /chat answer over a thousand tokens long."""
    return httpx.stream(
        "POST",
        server.url + "/chat",
        json={"message": text, "max_tokens": 1500, "ignore_eos": True, "user": "alice"},
        headers={**AUTH, "Accept": "text/event-stream"},
        timeout=120,
    )


def events(reply: httpx.Response) -> Iterator[dict[str, Any]]:
    for line in reply.iter_lines():
        if line.startswith("data: "):
            yield json.loads(line[6:])


def test_health_names_the_vllm_engine(ours_on_vllm: ServerProcess) -> None:
    health = httpx.get(ours_on_vllm.url + "/health").json()
    assert health["status"] == "ok" and health["engine"] == "vllm" and health["model"] == MODEL


def test_answers_stream_token_by_token_with_vllms_counts(ours_on_vllm: ServerProcess) -> None:
    client = OpenAI(base_url=ours_on_vllm.url + "/v1", api_key=KEY)
    question = "What is the capital of France?"
    whole = client.chat.completions.create(
        model=MODEL, messages=[{"role": "user", "content": question}], max_tokens=24, temperature=0
    )
    stream = client.chat.completions.create(
        model=MODEL,
        messages=[{"role": "user", "content": question}],
        max_tokens=24,
        temperature=0,
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(stream)
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 3  # token by token
    assert "".join(pieces) == whole.choices[0].message.content  # greedy: the same answer
    usage = chunks[-1].usage
    assert usage is not None and whole.usage is not None
    assert usage.prompt_tokens == whole.usage.prompt_tokens > 10
    assert usage.completion_tokens == whole.usage.completion_tokens > 0


def test_the_course_contracts_answer_on_vllm(ours_on_vllm: ServerProcess) -> None:
    chat = httpx.post(
        ours_on_vllm.url + "/chat",
        json={
            "message": "What is my name?",
            "conversationHistory": [
                {"role": "user", "content": "My name is Hanako."},
                {"role": "assistant", "content": "Nice to meet you, Hanako!"},
            ],
            "max_tokens": 16,
        },
        headers=AUTH,
        timeout=60,
    )
    assert chat.status_code == 200, chat.text
    assert chat.json()["response"].strip()
    assert chat.json()["usage"]["prompt_tokens"] > 20  # the history reached vLLM
    generate = httpx.post(
        ours_on_vllm.url + "/generate",
        json={"prompt": "Say hello", "max_new_tokens": 8},
        headers=AUTH,
        timeout=60,
    )
    assert generate.status_code == 200, generate.text
    assert generate.json()["generated_text"].strip()


def test_a_stop_by_id_aborts_the_request_in_vllm(ours_on_vllm: ServerProcess) -> None:
    with long_chat(ours_on_vllm, "Tell me a very long story.") as reply:
        stream = events(reply)
        generation_id = next(stream)["id"]
        deltas = [next(stream)["delta"] for _ in range(3)]
        assert vllm_unfinished(ours_on_vllm) == 1  # vLLM is generating it
        stopped = httpx.post(
            ours_on_vllm.url + "/chat/cancel",
            json={"id": generation_id, "user": "alice"},
            headers=AUTH,
            timeout=30,
        )
        assert stopped.json() == {"success": True, "id": generation_id, "cancelled": True}
        rest = list(stream)
    done = rest[-1]
    assert done["stopped"] is True and done["success"] is True
    assert len(deltas) + len(rest) - 1 < 1500  # it ended long before its 1,500 tokens
    # vLLM itself let go of the request: its own count is back to zero.
    assert wait_until(lambda: vllm_unfinished(ours_on_vllm) == 0, timeout=30)


def test_several_requests_are_decoded_together(ours_on_vllm: ServerProcess) -> None:
    seen_together = 0
    started = threading.Barrier(4)

    def one(i: int) -> None:
        with long_chat(ours_on_vllm, f"Story number {i}, please.") as reply:
            stream = events(reply)
            next(stream)
            next(stream)  # its first token: it is in vLLM's batch
            started.wait(timeout=120)
            started.wait(timeout=120)  # held open until the count below is read

    threads = [threading.Thread(target=one, args=(i,)) for i in range(3)]
    for thread in threads:
        thread.start()
    try:
        started.wait(timeout=120)
        seen_together = int(vllm_unfinished(ours_on_vllm))
    finally:
        started.wait(timeout=120)
        for thread in threads:
            thread.join(timeout=120)
    assert seen_together == 3  # three answers in vLLM at once (max-batch 4), none queued by us
    assert wait_until(lambda: vllm_unfinished(ours_on_vllm) == 0, timeout=30)


def test_a_prompt_beyond_the_context_is_a_400(ours_on_vllm: ServerProcess) -> None:
    reply = httpx.post(
        ours_on_vllm.url + "/v1/chat/completions",
        json={
            "model": MODEL,
            "messages": [{"role": "user", "content": "word " * 3000}],
            "max_tokens": 8,
        },
        headers=AUTH,
        timeout=60,
    )
    assert reply.status_code == 400
    error = reply.json()["error"]
    assert "context" in error["message"] and "2048" in error["message"]


@pytest.mark.parametrize("route", ["/v1/chat/completions", "/chat"])
def test_no_key_no_model(ours_on_vllm: ServerProcess, route: str) -> None:
    reply = httpx.post(ours_on_vllm.url + route, json={"message": "hi"}, timeout=30)
    assert reply.status_code == 401
