"""The gateway server as the Lambda Web Adapter drives it: plain HTTP on 127.0.0.1, API Gateway's
request context in `x-amzn-request-context`, the answer streamed back (docs/streaming.md §1, §3).

Upstreams: our own server over the fake engine (each word a token, with a delay), and faulty
servers. Chunk arrival is timed at the client, where the adapter reads."""

from __future__ import annotations

import http.client
import json
import socket
from collections.abc import Iterator

import pytest
from chat_gateway import stream_client
from chat_gateway.server import GatewayServer

from simplechat.engines.fake import FakeEngine
from tests.support.gateway_http import KEY, ORIGIN, gateway_server, post
from tests.support.live import live_server, wait_until
from tests.support.upstreams import FaultyServer

WORDS = [f"w{i}" for i in range(30)]
TOKEN_DELAY = 0.05


@pytest.fixture
def engine() -> FakeEngine:
    return FakeEngine(token_delay=TOKEN_DELAY)


@pytest.fixture(params=["chat", "openai"])
def gateway(request: pytest.FixtureRequest, engine: FakeEngine) -> Iterator[GatewayServer]:
    """The gateway in front of our server, over each protocol that can stream and stop."""
    with live_server(engine, api_key=[KEY]) as url:
        server = gateway_server(url, request.param)
        yield server
        server.shutdown()


def test_chunks_arrive_as_the_model_makes_them_and_add_up_to_the_answer(
    gateway: GatewayServer,
) -> None:
    history = [{"role": "user", "content": "before"}, {"role": "assistant", "content": "ok"}]
    message = " ".join(WORDS)
    conn, reply = post(gateway, "/chat", {"message": message, "conversationHistory": history})
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("text/event-stream")
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    list(reply.next_events())
    conn.close()
    events = reply.data()
    assert list(events[0]) == ["id"]
    deltas = [e["delta"] for e in events[1:-1]]
    done = events[-1]
    assert done["done"] is True and done["success"] is True and done["stopped"] is False
    assert done["response"] == "".join(deltas) == "You said: " + message
    assert done["conversationHistory"] == [
        *history,
        {"role": "user", "content": message},
        {"role": "assistant", "content": done["response"]},
    ]
    assert done["usage"]["completion_tokens"] == len(WORDS) + 2
    # The engine sleeps TOKEN_DELAY before each word, so a relay that passes each on arrives
    # over at least that long; one that buffers delivers every delta in the same instant.
    times = [at for at, item in reply.arrivals if isinstance(item, dict) and "delta" in item]
    assert times[-1] - times[0] >= TOKEN_DELAY * (len(times) - 1)


def test_without_the_accept_header_the_answer_is_the_json_of_before(
    gateway: GatewayServer,
) -> None:
    conn, reply = post(gateway, "/chat", {"message": "hello there"}, stream=False)
    body = json.loads(reply.response.read())
    conn.close()
    assert reply.status == 200
    assert reply.headers["content-type"].startswith("application/json")
    # The contract's fields as before; `context` and `speed` are added (docs/context.md).
    assert {k: body[k] for k in ("success", "response", "conversationHistory")} == {
        "success": True,
        "response": "You said: hello there",
        "conversationHistory": [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "You said: hello there"},
        ],
    }
    assert set(body) == {"success", "response", "conversationHistory", "context", "speed"}
    assert body["context"]["promptTokens"] == 4 and body["context"]["tokensEstimated"] is False


def test_stop_reaches_the_model_and_only_its_owner_may_send_it(
    gateway: GatewayServer, engine: FakeEngine
) -> None:
    conn, reply = post(gateway, "/chat", {"message": " ".join(WORDS * 5)})
    events = reply.next_events()
    generation_id = next(events)["id"]  # type: ignore[index]
    next(events)  # the first delta: generating now
    other, refused = post(gateway, "/chat/cancel", {"id": generation_id}, sub="mallory")
    assert refused.status == 404
    assert "not yours" in json.loads(refused.response.read())["error"]
    other.close()
    owner, stopped = post(gateway, "/chat/cancel", {"id": generation_id}, stream=False)
    assert stopped.status == 200
    assert json.loads(stopped.response.read()) == {
        "success": True,
        "id": generation_id,
        "cancelled": True,
    }
    owner.close()
    list(events)
    conn.close()
    done = reply.data()[-1]
    assert done["stopped"] is True and done["success"] is True
    partial = done["response"]
    whole = "You said: " + " ".join(WORDS * 5)
    assert whole.startswith(partial) and 0 < len(partial) < len(whole)
    assert done["conversationHistory"][-1] == {"role": "assistant", "content": partial}
    assert wait_until(lambda: engine.cancelled == 1)


def test_a_client_that_leaves_stops_the_model_too(
    gateway: GatewayServer, engine: FakeEngine
) -> None:
    conn, reply = post(gateway, "/chat", {"message": " ".join(WORDS * 5)})
    events = reply.next_events()
    next(events), next(events)
    conn.sock.shutdown(socket.SHUT_RDWR)
    conn.close()
    assert wait_until(lambda: engine.cancelled == 1, timeout=10)


def test_a_quiet_model_gets_keep_alives_downstream(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stream_client, "QUIET_SECONDS", 0.05)
    with live_server(FakeEngine(token_delay=0.4)) as url:
        server = gateway_server(url)
        conn, reply = post(server, "/chat", {"message": "slowly"})
        items = list(reply.next_events())
        conn.close()
        server.shutdown()
    assert ": keep-alive" in items
    assert reply.data()[-1]["response"] == "You said: slowly"


def test_an_upstream_that_dies_mid_answer_ends_with_an_error_after_the_partial_text(
    faulty: FaultyServer,
) -> None:
    server = gateway_server(faulty.url + "/dies-mid-answer", "openai")
    conn, reply = post(server, "/chat", {"message": "hi"})
    list(reply.next_events())
    conn.close()
    server.shutdown()
    events = reply.data()
    assert events[0] == {"id": "chatcmpl-dies"}
    assert "".join(e["delta"] for e in events[1:-1]) == "Half an answer"
    assert events[-1] == {
        "done": True,
        "success": False,
        "status": 502,
        "error": "The connection to the model server broke mid-answer (ConnectionResetError).",
    }


def test_a_server_that_cannot_stream_is_one_delta_and_cannot_be_stopped(
    faulty: FaultyServer,
) -> None:
    server = gateway_server(faulty.url + "/says-hello")  # a course server's JSON /chat
    conn, reply = post(server, "/chat", {"message": "hi"})
    list(reply.next_events())
    conn.close()
    events = reply.data()
    assert events[0]["id"].startswith("gw-")
    assert events[1] == {"delta": "hello"}
    assert events[2]["response"] == "hello" and events[2]["stopped"] is False
    other, stop = post(server, "/chat/cancel", {"id": events[0]["id"]}, stream=False)
    body = json.loads(stop.response.read())
    other.close()
    server.shutdown()
    assert stop.status == 200
    assert body["cancelled"] is False and "cannot stop" in body["message"]


@pytest.mark.parametrize(
    ("fault", "status"), [("busy", 429), ("rejects", 400), ("unauthorized", 502)]
)
def test_failures_before_the_answer_starts_stay_plain_json(
    faulty: FaultyServer, fault: str, status: int
) -> None:
    server = gateway_server(f"{faulty.url}/{fault}", "openai")
    conn, reply = post(server, "/chat", {"message": "hi"})
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == status
    assert reply.headers["content-type"].startswith("application/json")
    assert body["success"] is False and body["error"]
    assert reply.headers["access-control-allow-origin"] == ORIGIN


def test_health_answers_the_adapters_readiness_check(faulty: FaultyServer) -> None:
    server = gateway_server(faulty.url)
    conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    conn.request("GET", "/health")
    assert conn.getresponse().status == 200
    conn.close()
    server.shutdown()


def test_a_cancel_without_an_id_is_a_400(faulty: FaultyServer) -> None:
    server = gateway_server(faulty.url)
    conn, reply = post(server, "/chat/cancel", {"generation": "x"}, stream=False)
    body = json.loads(reply.response.read())
    conn.close()
    server.shutdown()
    assert reply.status == 400 and "'id' is required" in body["error"]
