"""History fitted to the context by tokens, end to end: the gateway, our server and the bundled
model (4096 tokens), and an OpenAI-compatible upstream without a count route (the estimate)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import httpx
import pytest
from chat_gateway.config import Config
from chat_gateway.events import parse_event
from chat_gateway.handler import Gateway
from chat_gateway.store import Message as Stored
from chat_gateway.store_sqlite import SqliteStore
from chat_gateway.token_estimate import prompt_tokens

from simplechat.engines.base import Chunk, GenerationRequest, Message
from simplechat.engines.llamacpp import LlamaCppEngine
from tests.support.lambda_events import with_body
from tests.support.live import live_server
from tests.support.servers import LocalServer

SYSTEM = "You are a helpful assistant. 日本語と英語で答えます。"
MAX_TOKENS = 16
USER = "7d3f1a2b-1111-2222-3333-444455556666"  # the sub of the rest_v1_cognito event
QUESTION = "最後に、この会話の最初の質問は何でしたか？ What was my first question?"


def conversation(turns: int) -> list[Stored]:
    """Questions and answers, every other turn Japanese: ~3x the tokens per character."""
    messages: list[Stored] = []
    for i in range(turns):
        if i % 2:
            question = (
                f"質問{i}：京都の{i}番目の町の歴史と、川や橋や食べ物について詳しく教えてください。"
            )
            answer = f"町{i}は古い町です。" + "川のそばに橋があり、名物はお茶と豆腐と漬物です。" * 3
        else:
            question = f"Question {i}: tell me about town number {i}, its rivers and its food."
            answer = f"Town {i} sits on a wide river. " + "People there eat fish and rice. " * 6
        messages += [Stored("user", question), Stored("assistant", answer)]
    return messages


class Recorder:
    """Wraps an engine's `stream`: every prompt it is asked to answer, as text."""

    def __init__(self, engine: LlamaCppEngine) -> None:
        self.prompts: list[str] = []
        original = engine.stream

        def stream(request: GenerationRequest) -> AsyncIterator[Chunk]:
            self.prompts.append(request.prompt.text)
            return original(request)

        engine.stream = stream  # type: ignore[method-assign]


@pytest.fixture(scope="module")
def engine(bundled_model: Path) -> Iterator[LlamaCppEngine]:
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=4096, threads=2, max_batch=1
    )
    yield engine
    asyncio.run(engine.aclose())


def as_model_sees(engine: LlamaCppEngine, messages: list[Stored], question: str) -> list[Message]:
    return [
        Message("system", SYSTEM),
        *(Message(m.role, m.content) for m in messages),  # type: ignore[arg-type]
        Message("user", question),
    ]


def streamed(gateway: Gateway, body: dict[str, Any]) -> dict[str, Any]:
    """The done event of a streamed turn, as the browser gets it."""
    request = parse_event(with_body(body))
    stream = gateway.open_stream(request, time.monotonic())
    events = [e for e in stream.events() if e is not None]
    assert events[-1]["done"] is True, events[-1]
    return events[-1]


@pytest.mark.real_model
def test_the_model_is_asked_with_exactly_the_turns_that_fit(
    engine: LlamaCppEngine, tmp_path: Path
) -> None:
    recorder = Recorder(engine)
    stored = conversation(30)
    with live_server(engine) as url:
        # The server's count is its tokenizer's, through the model's own template.
        history = [{"role": m.role, "content": m.content} for m in stored[:4]]
        counted = httpx.post(
            url + "/chat/count", json={"message": QUESTION, "conversationHistory": history}
        ).json()
        whole = engine.count_tokens(engine.render_chat(as_model_sees(engine, [], QUESTION)[1:]))
        alone = httpx.post(url + "/chat/count", json={"message": QUESTION}).json()
        assert alone["prompt_tokens"] == whole
        expected = engine.count_tokens(
            engine.render_chat(
                [*(Message(m.role, m.content) for m in stored[:4]), Message("user", QUESTION)]  # type: ignore[arg-type]
            )
        )
        assert counted["prompt_tokens"] == expected and counted["context_length"] == 4096

        store = SqliteStore(tmp_path / "conversations.sqlite3")
        chat = store.create(USER, "many turns")
        store.append(USER, chat.id, stored)
        env = {
            "UPSTREAM_URL": url,
            "SYSTEM_PROMPT": SYSTEM,
            "MAX_TOKENS": str(MAX_TOKENS),
            # A 4,000-token prompt on two busy cores: reading it may take a while.
            "TIME_BUDGET_SECONDS": "600",
            "CONVERSATIONS_DB": str(tmp_path / "conversations.sqlite3"),
        }
        gateway = Gateway(Config.from_env(env))
        done = streamed(gateway, {"message": QUESTION, "conversationId": chat.id})

    # What fits, found here by the model's tokenizer: the oldest turn boundary whose prompt
    # leaves MAX_TOKENS for the answer.
    room = 4096 - MAX_TOKENS
    starts = [i for i, m in enumerate(stored) if m.role == "user"]
    sizes = {
        s: engine.count_tokens(engine.render_chat(as_model_sees(engine, stored[s:], QUESTION)))
        for s in starts
    }
    start = min(s for s in starts if sizes[s] <= room)
    assert start > 0, "the conversation must be longer than the context for this test"
    assert sizes[start - 2] > room  # one turn more would not have fitted
    asked = engine.render_chat(as_model_sees(engine, stored[start:], QUESTION)).text
    assert recorder.prompts[-1] == asked  # the engine was asked with exactly these turns
    context = done["context"]
    assert context == {
        "promptTokens": sizes[start],
        "contextLength": 4096,
        "maxTokens": MAX_TOKENS,
        "leftOutTurns": start // 2,
        "historyFrom": start,
        "tokensEstimated": False,
    }
    assert done["usage"]["prompt_tokens"] == sizes[start]
    speed = done["speed"]
    assert speed["measuredBy"] == "server" and speed["timeToFirstTokenMs"] > 0
    assert done["usage"]["completion_tokens"] < 2 or speed["tokensPerSecond"] > 0
    # The store keeps every turn, the new one too: only the model's view was fitted.
    assert len(store.get(USER, chat.id)[1]) == len(stored) + 2


class OpenAiUpstream(LocalServer):
    """An OpenAI-compatible server with no count route: it streams "ok" and records what it
    was sent."""

    def __init__(self) -> None:
        self.received: list[tuple[str, dict[str, Any]]] = []
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                recorder.received.append((self.path, body))
                if self.path != "/v1/chat/completions":
                    payload = b'{"error": {"message": "Not Found"}}'
                    self.send_response(404)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Connection", "close")
                self.end_headers()
                chunks = [
                    {"id": "c1", "choices": [{"delta": {"content": "ok"}}]},
                    {"id": "c1", "choices": [{"delta": {}, "finish_reason": "stop"}]},
                    {"id": "c1", "choices": [], "usage": {"completion_tokens": 1}},
                ]
                for chunk in chunks:
                    self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.write(b"data: [DONE]\n\n")
                self.wfile.flush()
                self.close_connection = True

        super().__init__(Handler)


def test_without_a_count_route_the_history_is_fitted_by_estimate(tmp_path: Path) -> None:
    upstream = OpenAiUpstream()
    try:
        stored = conversation(12)
        store = SqliteStore(tmp_path / "conversations.sqlite3")
        chat = store.create(USER)
        store.append(USER, chat.id, stored)
        context = 800
        env = {
            "UPSTREAM_URL": f"http://127.0.0.1:{upstream.server_address[1]}",
            "UPSTREAM_PROTOCOL": "openai",
            "SYSTEM_PROMPT": SYSTEM,
            "MAX_TOKENS": "100",
            "CONTEXT_TOKENS": str(context),
            "CONVERSATIONS_DB": str(tmp_path / "conversations.sqlite3"),
        }
        gateway = Gateway(Config.from_env(env))
        done = streamed(gateway, {"message": QUESTION, "conversationId": chat.id})
        again = streamed(gateway, {"message": "And?", "conversationId": chat.id})
    finally:
        upstream.stop()
    paths = [path for path, _ in upstream.received]
    # The count route was tried once, found missing, and not asked again for the second turn.
    assert paths == ["/chat/count", "/v1/chat/completions", "/v1/chat/completions"]
    sent = upstream.received[1][1]["messages"]
    assert sent[0] == {"role": "system", "content": SYSTEM}
    assert sent[-1] == {"role": "user", "content": QUESTION}
    history = [{"role": m.role, "content": m.content} for m in stored]
    kept = sent[1:-1]
    start = len(history) - len(kept)
    assert kept == history[start:] and history[start]["role"] == "user"
    assert start > 0, "the conversation must be longer than the context for this test"
    estimate = prompt_tokens(sent)
    assert estimate <= context - 100 < prompt_tokens([sent[0], *history[start - 2 :], sent[-1]])
    assert done["context"] == {
        "promptTokens": estimate,
        "contextLength": context,
        "maxTokens": 100,
        "leftOutTurns": start // 2,
        "historyFrom": start,
        "tokensEstimated": True,
    }
    assert done["speed"]["measuredBy"] == "gateway"
    assert again["context"]["leftOutTurns"] >= done["context"]["leftOutTurns"]
