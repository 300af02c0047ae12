"""`vllm serve` (vLLM's own OpenAI server, CPU build) as an upstream: behind our `--engine openai`
and behind the gateway (`UPSTREAM_PROTOCOL=openai`). Streaming end to end, vLLM's token counts,
and Stop with a server that has no stop route: the browser stops reading, and the closed stream
makes vLLM abort the request."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread
from openai import OpenAI
from openai.types.chat import ChatCompletionMessageParam

from tests.support.gateway_http import ORIGIN, post
from tests.support.live import metric, wait_until
from tests.support.processes import ServerProcess
from tests.vllm.conftest import KEY, MODEL

QUESTION: list[ChatCompletionMessageParam] = [
    {"role": "user", "content": "What is the capital of France?"}
]


def vllm_running(server: ServerProcess) -> float:
    """vLLM's own gauge of the requests it is decoding (its /metrics)."""
    return metric(server.url, "vllm:num_requests_running", key=KEY)


@pytest.fixture(scope="module")
def front(
    vllm_server: ServerProcess, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    server = ServerProcess(
        ["--engine", "openai", "--upstream", vllm_server.url, "--upstream-api-key", KEY],
        tmp_path_factory.mktemp("front") / "front.log",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def gateway(vllm_server: ServerProcess) -> Iterator[GatewayServer]:
    env = {
        "UPSTREAM_URL": vllm_server.url,
        "UPSTREAM_PROTOCOL": "openai",
        "UPSTREAM_API_KEY": KEY,
        "UPSTREAM_MODEL": MODEL,
        "ALLOWED_ORIGINS": ORIGIN,
        "TIME_BUDGET_SECONDS": "120",
    }
    server = start_in_thread(Gateway(Config.from_env(env)))
    yield server
    server.shutdown()


def test_our_front_streams_vllms_answer_with_vllms_counts(
    vllm_server: ServerProcess, front: ServerProcess
) -> None:
    direct = OpenAI(base_url=vllm_server.url + "/v1", api_key=KEY)
    through = OpenAI(base_url=front.url + "/v1", api_key="unused")
    assert through.models.list().data[0].id == MODEL  # discovered from vllm serve
    expected = direct.chat.completions.create(
        model=MODEL, messages=QUESTION, max_tokens=24, temperature=0
    )
    chunks = list(
        through.chat.completions.create(
            model=MODEL,
            messages=QUESTION,
            max_tokens=24,
            temperature=0,
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    pieces = [
        c.choices[0].delta.content for c in chunks if c.choices and c.choices[0].delta.content
    ]
    assert len(pieces) > 3
    assert "".join(pieces) == expected.choices[0].message.content
    usage = chunks[-1].usage
    assert usage is not None and expected.usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens) == (
        expected.usage.prompt_tokens,
        expected.usage.completion_tokens,
    )
    chat = httpx.post(front.url + "/chat", json={"message": "Hello!", "max_tokens": 12}, timeout=60)
    assert chat.status_code == 200 and chat.json()["response"].strip()  # the seed's contract


def test_the_gateway_streams_vllms_answer_and_counts_its_tokens(gateway: GatewayServer) -> None:
    conn, reply = post(gateway, "/chat", {"message": "Tell me about Paris."})
    assert reply.status == 200
    events = list(reply.next_events())
    conn.close()
    data = reply.data()
    deltas = [e["delta"] for e in data if "delta" in e]
    done = data[-1]
    assert len(deltas) > 3 and done["done"] is True and done["success"] is True
    assert done["response"] == "".join(deltas)
    assert done["usage"]["prompt_tokens"] > 10  # vLLM's own counts, via include_usage
    assert done["usage"]["completion_tokens"] > 3
    assert events  # arrived as events, not one JSON body


def test_stop_with_vllm_serve_is_the_browser_leaving_and_vllm_aborts(
    gateway: GatewayServer, vllm_server: ServerProcess
) -> None:
    conn, reply = post(gateway, "/chat", {"message": "Write a very long essay. " * 3})
    events = reply.next_events()
    generation_id = next(events)
    assert isinstance(generation_id, dict)
    next(events), next(events)  # decoding
    assert vllm_running(vllm_server) == 1
    stop_conn, stopped = post(gateway, "/chat/cancel", {"id": generation_id["id"]}, stream=False)
    body = json.loads(stopped.response.read())
    stop_conn.close()
    # vllm serve has no stop route: the gateway says the answer stops in the browser only.
    assert stopped.status == 200
    assert body["cancelled"] is False and "browser only" in body["message"]
    # What the browser then does: it stops reading and closes the stream.
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert wait_until(lambda: vllm_running(vllm_server) == 0, timeout=30)


def test_vllm_serve_behind_our_server_needs_its_key(
    vllm_server: ServerProcess, tmp_path: Path
) -> None:
    with pytest.raises(RuntimeError, match="it wants a key, pass --upstream-api-key"):
        ServerProcess(
            ["--engine", "openai", "--upstream", vllm_server.url],
            tmp_path / "nokey.log",
            startup_timeout=60,
        )
