"""The daily token limit cannot be stepped around (issue 35): tokens are reserved when a stream
is admitted and settled when it ends, however it ends; over real HTTP against the gateway
server, on both usage stores. The upstream holds its stream until the test lets it go, so what
is asserted never depends on timing."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway import stream_client
from chat_gateway.config import Config
from chat_gateway.events import HttpRequest
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread
from chat_gateway.store_sqlite import SqliteStore
from chat_gateway.usage_dynamodb import DynamoUsage
from chat_gateway.usage_sqlite import SqliteUsage

from tests.support.clocks import TickingClock
from tests.support.dynamo import TABLE, dynamo_store
from tests.support.gateway_http import context_header
from tests.support.live import wait_until
from tests.support.sse import Received
from tests.support.upstreams import FaultyServer, HeldStream

#: 2,000 ASCII characters: about 500 tokens of prompt by any tokenizer's count.
MESSAGE = "word " * 400
PROMPT_AT_LEAST = 400
MAX_TOKENS = 512


@pytest.fixture(params=["sqlite", "dynamodb"])
def backend(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[dict[str, Any]]:
    """The stores to give the gateway, and the setting that names them."""
    if request.param == "sqlite":
        store = SqliteStore(tmp_path / "c.db")
        yield {
            "store": store,
            "usage": SqliteUsage(store.path, store=store),
            "env": {"CONVERSATIONS_DB": str(store.path)},
        }
        return
    for conversations in dynamo_store(monkeypatch, tmp_path, TickingClock()):
        yield {
            "store": conversations,
            "usage": DynamoUsage(TABLE, store=conversations),
            "env": {"CONVERSATIONS_TABLE": TABLE},
        }


@pytest.fixture(autouse=True)
def quick_keep_alives(monkeypatch: pytest.MonkeyPatch) -> None:
    # While the upstream holds, the gateway writes a keep-alive each quiet spell: that write is
    # how it learns the client has gone. A short spell finds out at once instead of in 10 s.
    monkeypatch.setattr(stream_client, "QUIET_SECONDS", 0.05)


def start(backend: dict[str, Any], upstream: str, **env: str) -> GatewayServer:
    config = Config.from_env(
        {
            "UPSTREAM_URL": upstream,
            "TIME_BUDGET_SECONDS": "60",
            "MAX_TOKENS": str(MAX_TOKENS),
            "USER_TOKENS_PER_DAY": "100000",
            **backend["env"],
            **env,
        }
    )
    gateway = Gateway(config, store=backend["store"], usage=backend["usage"])
    return start_in_thread(gateway)


def usage_of(server: GatewayServer, sub: str) -> dict[str, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/usage", headers={"x-amzn-request-context": context_header(sub)})
    reply = conn.getresponse()
    body = json.loads(reply.read())
    conn.close()
    assert reply.status == 200, body
    return dict(body)


def open_chat(server: GatewayServer, sub: str, message: str) -> tuple[Any, Received]:
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
    headers = {
        "Accept": "text/event-stream",
        "Content-Type": "application/json",
        "x-amzn-request-context": context_header(sub),
    }
    conn.request("POST", "/chat", json.dumps({"message": message}), headers)
    return conn, Received(conn.getresponse())


def test_a_stream_left_before_done_costs_its_prompt_and_what_was_generated(
    backend: dict[str, Any],
) -> None:
    upstream = HeldStream(before=15, after=5)
    server = start(backend, upstream.url)
    try:
        conn, received = open_chat(server, "alice", MESSAGE)
        assert received.status == 200
        events = received.next_events()
        deltas = 0
        while deltas < 15:
            item = next(events)
            deltas += isinstance(item, dict) and "delta" in item
        # While it is written, the answer holds its prompt and the most it may write.
        running = usage_of(server, "alice")
        assert running["answers"]["running"] == 1
        assert running["tokens"]["used"] >= PROMPT_AT_LEAST + MAX_TOKENS
        conn.close()  # the client leaves before `done`; the upstream still holds the rest
        wait_until(lambda: usage_of(server, "alice")["answers"]["running"] == 0, timeout=20)
        used = usage_of(server, "alice")["tokens"]["used"]
        # Settled to the prompt plus the 15 deltas generated, the reservation's rest given back.
        assert PROMPT_AT_LEAST + 15 <= used < PROMPT_AT_LEAST + MAX_TOKENS
        assert not upstream.release.is_set()  # the upstream never got to send `done`
    finally:
        upstream.stop()
        server.shutdown()


def test_three_streams_left_early_each_cost_tokens(backend: dict[str, Any]) -> None:
    """The repro of issue 35: requests went from 2 to 4 while tokens stayed where they were."""
    upstream = HeldStream(before=15, after=5)
    server = start(backend, upstream.url)
    try:
        before = usage_of(server, "alice")["tokens"]["used"]
        for round_ in range(3):
            conn, received = open_chat(server, "alice", f"question {round_} " * 50)
            events = received.next_events()
            deltas = 0
            while deltas < 15:
                item = next(events)
                deltas += isinstance(item, dict) and "delta" in item
            conn.close()
            wait_until(lambda: usage_of(server, "alice")["answers"]["running"] == 0, timeout=20)
            used = usage_of(server, "alice")["tokens"]["used"]
            assert used >= before + 15 + 100, round_  # 15 deltas and a ~150-token prompt
            before = used
        assert usage_of(server, "alice")["requests"]["today"] == 3
    finally:
        upstream.stop()
        server.shutdown()


def test_done_settles_the_reservation_to_the_model_servers_usage(
    backend: dict[str, Any],
) -> None:
    upstream = HeldStream(before=2, after=3)
    upstream.release.set()
    server = start(backend, upstream.url)
    try:
        conn, received = open_chat(server, "alice", MESSAGE)
        list(received.next_events())
        conn.close()
        done = received.data()[-1]
        assert done["success"] is True and done["usage"]["total_tokens"] == 55
        assert usage_of(server, "alice")["tokens"]["used"] == 55  # exactly, no estimate left
    finally:
        upstream.stop()
        server.shutdown()


def test_a_stream_the_model_server_breaks_costs_the_prompt_and_what_came(
    backend: dict[str, Any], faulty: FaultyServer
) -> None:
    server = start(backend, faulty.url + "/dies-mid-answer", UPSTREAM_PROTOCOL="openai")
    try:
        conn, received = open_chat(server, "alice", MESSAGE)
        list(received.next_events())
        conn.close()
        assert received.data()[-1]["success"] is False
        used = usage_of(server, "alice")["tokens"]["used"]
        assert PROMPT_AT_LEAST + 2 <= used < PROMPT_AT_LEAST + MAX_TOKENS
    finally:
        server.shutdown()


def test_a_request_that_never_reached_the_model_costs_nothing(
    backend: dict[str, Any], faulty: FaultyServer
) -> None:
    server = start(backend, faulty.url + "/error500")
    try:
        conn, received = open_chat(server, "alice", MESSAGE)
        assert received.status == 502
        conn.close()
        report = usage_of(server, "alice")
        assert report["tokens"]["used"] == 0 and report["answers"]["running"] == 0
    finally:
        server.shutdown()


def test_the_reservation_is_bounded_by_what_is_left_and_none_left_is_refused(
    backend: dict[str, Any],
) -> None:
    upstream = HeldStream(before=1, after=0)
    server = start(backend, upstream.url, USER_TOKENS_PER_DAY="600")
    try:
        first, received = open_chat(server, "alice", MESSAGE)
        assert received.status == 200
        events = received.next_events()
        while not (isinstance(item := next(events), dict) and "delta" in item):
            pass
        # The first answer holds everything that is left (its prompt + 512 would pass 600).
        assert usage_of(server, "alice")["tokens"]["used"] == 600
        second, refused = open_chat(server, "alice", "and another")
        assert refused.status == 429
        body = json.loads(refused.response.read())
        assert body["limit"]["name"] == "tokensPerDay" and "tokens today" in body["error"]
        second.close()
        assert usage_of(server, "bob")["tokens"]["used"] == 0  # another user is not held up
        upstream.release.set()
        list(events)
        first.close()
        assert received.data()[-1]["success"] is True
        assert usage_of(server, "alice")["tokens"]["used"] == 51  # the usage it reported
    finally:
        upstream.stop()
        server.shutdown()


def test_a_stream_whose_events_were_never_read_is_still_settled(
    backend: dict[str, Any],
) -> None:
    """The browser can leave before the gateway sends the headers: the events' generator never
    starts, so its `finally` never runs; `end()` settles and frees the slot all the same."""
    upstream = HeldStream(before=3, after=0)
    server = start(backend, upstream.url)
    try:
        gateway = server.gateway
        request = HttpRequest(
            method="POST",
            headers={"accept": "text/event-stream"},
            body=json.dumps({"message": MESSAGE}).encode(),
            request_id="r1",
            user_sub="alice",
        )
        stream = gateway.open_stream(request, time.monotonic())
        assert usage_of(server, "alice")["answers"]["running"] == 1
        stream.events().close()  # as the server does when its first write fails
        stream.end()
        stream.end()  # once only
        report = usage_of(server, "alice")
        assert report["answers"]["running"] == 0
        assert PROMPT_AT_LEAST <= report["tokens"]["used"] < PROMPT_AT_LEAST + MAX_TOKENS
    finally:
        upstream.stop()
        server.shutdown()
