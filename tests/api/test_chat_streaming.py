"""The model server's streamed `/chat` and its stop by id (docs/streaming.md §2), over real HTTP.

The fake engine makes each "token" a word with a delay, so a test can stop an answer midway and
know every word it would have said."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simplechat import generations
from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server, metric, wait_until
from tests.support.sse import stream_data

KEY, OTHER_KEY = "key-of-the-gateway", "key-of-someone-else"
LONG = " ".join(f"word{i}" for i in range(200))


def events(lines: Iterator[str]) -> Iterator[dict[str, Any] | str]:
    """The stream's events: each `data:` as JSON, each comment as its text."""
    for line in lines:
        if line.startswith("data: "):
            yield json.loads(line[6:])
        elif line.startswith(":"):
            yield line


def start(client: httpx.Client, message: str, user: str | None = "alice", key: str = KEY) -> Any:
    body: dict[str, Any] = {"message": message}
    if user is not None:
        body["user"] = user
    return client.stream(
        "POST",
        "/chat",
        json=body,
        headers={"Accept": "text/event-stream", "Authorization": f"Bearer {key}"},
    )


def cancel(client: httpx.Client, generation_id: str, user: str | None, key: str = KEY) -> Any:
    return client.post(
        "/chat/cancel",
        json={"id": generation_id, "user": user},
        headers={"Authorization": f"Bearer {key}"},
    )


@pytest.fixture
def slow_engine() -> FakeEngine:
    return FakeEngine(token_delay=0.05)


@pytest.fixture
def server(slow_engine: FakeEngine) -> Iterator[httpx.Client]:
    with (
        live_server(slow_engine, api_key=[KEY, OTHER_KEY]) as url,
        httpx.Client(base_url=url, timeout=30) as client,
    ):
        yield client


def test_the_stream_is_id_then_deltas_then_one_done_adding_up_to_the_json_answer(
    server: httpx.Client,
) -> None:
    with start(server, "tell me three things") as reply:
        assert reply.status_code == 200
        assert reply.headers["content-type"].startswith("text/event-stream")
        seen = [e for e in events(reply.iter_lines()) if isinstance(e, dict)]
    assert set(seen[0]) == {"id"} and seen[0]["id"].startswith("gen-")
    deltas = [e["delta"] for e in seen[1:-1]]
    assert len(deltas) == 6 and all(set(e) == {"delta"} for e in seen[1:-1])
    done = seen[-1]
    assert done["done"] is True and done["success"] is True and done["stopped"] is False
    assert done["response"] == "".join(deltas) == "You said: tell me three things"
    assert done["usage"]["completion_tokens"] == 6
    assert done["finish_reason"] == "stop"
    plain = server.post(
        "/chat",
        json={"message": "tell me three things"},
        headers={"Authorization": f"Bearer {KEY}"},
    )
    assert plain.headers["content-type"] == "application/json"
    assert plain.json()["response"] == done["response"]


def test_stream_true_in_the_body_streams_too(server: httpx.Client) -> None:
    reply = server.post(
        "/chat", json={"message": "hi", "stream": True}, headers={"Authorization": f"Bearer {KEY}"}
    )
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert stream_data(reply.text)[-1]["response"] == "You said: hi"


def test_a_stop_ends_the_generation_within_a_step_and_keeps_the_partial_answer(
    server: httpx.Client, slow_engine: FakeEngine
) -> None:
    base = str(server.base_url)
    cancelled_before = metric(base, "simplechat_cancelled_requests_total", key=KEY)
    with start(server, LONG) as reply:
        lines = events(reply.iter_lines())
        generation_id = next(e for e in lines if isinstance(e, dict))["id"]
        deltas = []
        for item in lines:
            assert isinstance(item, dict)
            deltas.append(item["delta"])
            if len(deltas) == 3:
                break
        stopped = cancel(server, generation_id, "alice")
        assert stopped.status_code == 200
        assert stopped.json() == {"success": True, "id": generation_id, "cancelled": True}
        rest = [e for e in lines if isinstance(e, dict)]
    done = rest[-1]
    deltas += [e["delta"] for e in rest[:-1]]
    assert done["done"] is True and done["success"] is True and done["stopped"] is True
    assert done["response"] == "".join(deltas)
    assert 3 <= len(deltas) < 20  # stopped long before its 202 words
    assert wait_until(lambda: slow_engine.cancelled == 1)
    assert metric(base, "simplechat_cancelled_requests_total", key=KEY) == cancelled_before + 1
    assert metric(base, "simplechat_running_sequences", key=KEY) == 0
    again = cancel(server, generation_id, "alice")  # finished now: nothing to stop
    assert again.status_code == 404


@pytest.mark.parametrize(
    ("user", "key"),
    [("mallory", KEY), (None, KEY), ("alice", OTHER_KEY)],
    ids=["another user", "no user", "another API key"],
)
def test_only_the_owner_can_stop_a_generation(
    server: httpx.Client, slow_engine: FakeEngine, user: str | None, key: str
) -> None:
    with start(server, LONG) as reply:
        lines = events(reply.iter_lines())
        generation_id = next(e for e in lines if isinstance(e, dict))["id"]
        refused = cancel(server, generation_id, user, key=key)
        assert refused.status_code == 404
        assert refused.json()["error"]["code"] == "generation_not_found"
        assert "not one of yours" in refused.json()["error"]["message"]
        next(lines)  # still generating
        assert cancel(server, generation_id, "alice").status_code == 200
        assert [e for e in lines if isinstance(e, dict)][-1]["stopped"] is True


def test_an_unknown_id_and_a_bad_body_are_clear_errors(server: httpx.Client) -> None:
    unknown = cancel(server, "gen-0000", "alice")
    assert unknown.status_code == 404
    assert unknown.json()["error"]["param"] == "id"
    empty = server.post("/chat/cancel", json={}, headers={"Authorization": f"Bearer {KEY}"})
    assert empty.status_code == 400
    assert "'id' is required" in empty.json()["error"]["message"]
    keyless = server.post("/chat/cancel", json={"id": "gen-0000"})
    assert keyless.status_code == 401


def test_the_openai_stream_stops_by_its_completion_id(
    server: httpx.Client, slow_engine: FakeEngine
) -> None:
    body = {"messages": [{"role": "user", "content": LONG}], "stream": True, "user": "alice"}
    with server.stream(
        "POST", "/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {KEY}"}
    ) as reply:
        lines = (line[6:] for line in reply.iter_lines() if line.startswith("data: "))
        first = json.loads(next(lines))
        assert cancel(server, first["id"], "bob").status_code == 404
        assert cancel(server, first["id"], "alice").status_code == 200
        chunks = [json.loads(line) for line in lines if line != "[DONE]"]
    assert chunks[-1]["stopped"] is True
    assert chunks[-1]["choices"][0]["finish_reason"] == "stop"
    assert len(chunks) < 20
    assert wait_until(lambda: slow_engine.cancelled == 1)


def test_a_quiet_stream_gets_keep_alive_comments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(generations, "KEEPALIVE_SECONDS", 0.05)
    engine = FakeEngine(token_delay=0.4)  # each word longer than a keep-alive period
    with (
        live_server(engine) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream(
            "POST", "/chat", json={"message": "hi"}, headers={"Accept": "text/event-stream"}
        ) as reply,
    ):
        seen = list(events(reply.iter_lines()))
    comments = [e for e in seen if isinstance(e, str)]
    assert comments and all(c == ": keep-alive" for c in comments)
    data = [e for e in seen if isinstance(e, dict)]
    assert data[-1]["response"] == "You said: hi"


def test_a_full_server_refuses_in_json_before_any_event() -> None:
    engine = FakeEngine(token_delay=0.2)
    with (
        live_server(engine, max_batch=1, max_queue=0) as url,
        httpx.Client(base_url=url, timeout=30) as client,
        client.stream("POST", "/chat", json={"message": LONG, "stream": True}) as held,
    ):
        lines = held.iter_lines()  # kept: a dropped iterator closes the stream
        next(lines)  # the first is admitted and running
        refused = client.post("/chat", json={"message": "me too", "stream": True})
    assert refused.status_code == 429, refused.text[:300]
    assert refused.headers["content-type"] == "application/json"
    assert refused.headers["retry-after"]


def test_an_engine_failure_mid_answer_is_the_last_event_after_the_partial_text() -> None:
    engine = FakeEngine(fail_after=2)
    with live_server(engine) as url, httpx.Client(base_url=url, timeout=30) as client:
        reply = client.post("/chat", json={"message": "one two three", "stream": True})
    seen = stream_data(reply.text)
    assert [e.get("delta") for e in seen[1:3]] == ["You", " said:"]
    assert seen[-1] == {
        "done": True,
        "success": False,
        "error": "The model failed while answering. Try again; the text so far is kept.",
        "status": 500,
    }
