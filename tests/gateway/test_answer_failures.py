"""Every way a model server's answer goes wrong, through the gateway server as the adapter
drives it: streamed and as JSON, over our /chat protocol and OpenAI's, always in a stored
conversation. Each ends with its exact status and words, and the conversation keeps nothing
(docs/streaming.md, docs/conversations.md)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from chat_gateway.server import GatewayServer
from chat_gateway.store import Conversation

from tests.support.faulty_upstream import FaultyUpstream
from tests.support.gateway_http import ORIGIN, gateway_server, post
from tests.support.sse import Received

FAILED_MID_ANSWER = {
    "error-after-text": (502, "The model server failed while answering: the GPU fell over"),
    "busy-after-text": (429, "The model server is busy: queue full"),
    "rejected-after-text": (400, "The model server rejected the request: prompt too long"),
    "cut-off": (502, "The model server's answer was cut off. Try again."),
    "stall": (504, "The model server stopped sending the answer. Try again."),
}
#: The answer's text before the failure, as the browser got it (trimmed).
PARTIAL = {"stall": "Half"}
FAILED_AS_JSON = {
    "error-after-text": (
        502,
        "The model server failed (HTTP 500). Try again; if it persists, check its log.",
    ),
    "busy-after-text": (429, "The model server is busy. Try again in a moment."),
    "rejected-after-text": (400, "The model server rejected the request: prompt too long"),
    "cut-off": (
        502,
        "The connection to the model server broke before it answered (the reply was cut off).",
    ),
    "stall": (
        504,
        r"The model server did not answer within \d+(\.\d)? s\. Try a shorter message.*",
    ),
}
REFUSED = {
    "busy": (429, "The model server is busy. Try again in a moment."),
    "rejects": (400, "The model server rejected the request: prompt too long"),
    "fails": (502, "The model server failed (HTTP 500). Try again; if it persists, check its log."),
    "draining": (
        502,
        "The model server failed (HTTP 503). Try again; if it persists, check its log.",
    ),
}
#: Short limits for the stalls only: every other case ends on its own, long before these.
STALL_LIMITS = {"STREAM_IDLE_SECONDS": "1", "TIME_BUDGET_SECONDS": "2"}

Gateways = Callable[[str, str], GatewayServer]


@pytest.fixture(scope="module")
def gateways(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateways]:
    """The gateway for (protocol, fault), started once per module: one for stalls (short
    limits) and one for the rest, per protocol, all in front of one faulty upstream."""
    upstream = FaultyUpstream()
    db = str(tmp_path_factory.mktemp("answer-failures") / "conversations.db")
    started: dict[tuple[str, bool], GatewayServer] = {}

    def gateway(protocol: str, fault: str) -> GatewayServer:
        key = (protocol, fault == "stall")
        if key not in started:
            limits = STALL_LIMITS if key[1] else {}
            started[key] = gateway_server(upstream.url, protocol, CONVERSATIONS_DB=db, **limits)
        return started[key]

    yield gateway
    for server in started.values():
        server.shutdown()
    upstream.stop()


@pytest.fixture(params=["chat", "openai"])
def protocol(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def new_conversation(server: GatewayServer) -> Conversation:
    assert server.gateway.store is not None
    return server.gateway.store.create("alice", "kept as it was")


def assert_untouched(server: GatewayServer, before: Conversation) -> None:
    assert server.gateway.store is not None
    conversation, messages = server.gateway.store.get("alice", before.id)
    assert messages == []
    assert conversation == before


def ask_in_a_conversation(
    server: GatewayServer, fault: str, *, stream: bool
) -> tuple[Conversation, Received, dict[str, Any]]:
    """`fault` as the message in a new conversation, answered as one JSON body: the
    conversation as it was, the reply and its body."""
    before = new_conversation(server)
    body = {"message": fault, "conversationId": before.id}
    conn, reply = post(server, "/chat", body, stream=stream)
    answer = reply.json()
    conn.close()
    return before, reply, answer


@pytest.mark.parametrize("fault", FAILED_MID_ANSWER)
def test_a_streamed_answer_that_fails_midway_ends_with_its_reason_and_keeps_nothing(
    gateways: Gateways, protocol: str, fault: str
) -> None:
    server = gateways(protocol, fault)
    before = new_conversation(server)
    conn, reply = post(server, "/chat", {"message": fault, "conversationId": before.id})
    list(reply.next_events())
    conn.close()
    assert reply.status == 200  # the headers went out with the first event
    events = reply.data()
    assert list(events[0]) == ["id"]
    text = "".join(e["delta"] for e in events[1:-1])
    assert text == PARTIAL.get(fault, "Half an answer")
    status, words = FAILED_MID_ANSWER[fault]
    assert events[-1] == {"done": True, "success": False, "error": words, "status": status}
    assert_untouched(server, before)


@pytest.mark.parametrize("fault", FAILED_AS_JSON)
def test_a_json_answer_that_fails_midway_is_an_error_and_keeps_nothing(
    gateways: Gateways, protocol: str, fault: str
) -> None:
    server = gateways(protocol, fault)
    before, reply, answer = ask_in_a_conversation(server, fault, stream=False)
    status, words = FAILED_AS_JSON[fault]
    assert reply.status == status
    assert set(answer) == {"success", "error"} and answer["success"] is False
    if fault == "stall":
        assert re.fullmatch(words, answer["error"]), answer["error"]
    else:
        assert answer["error"] == words
    assert_untouched(server, before)


@pytest.mark.parametrize("stream", [True, False], ids=["streamed", "json"])
@pytest.mark.parametrize("fault", REFUSED)
def test_a_refusal_before_the_answer_is_plain_json_with_its_reason_and_keeps_nothing(
    gateways: Gateways, protocol: str, fault: str, stream: bool
) -> None:
    server = gateways(protocol, fault)
    before, reply, answer = ask_in_a_conversation(server, fault, stream=stream)
    status, words = REFUSED[fault]
    assert reply.status == status
    assert reply.headers["content-type"].startswith("application/json")
    assert reply.headers["access-control-allow-origin"] == ORIGIN
    assert answer == {"success": False, "error": words}
    assert reply.headers.get("retry-after") == ("7" if fault == "busy" else None)
    assert_untouched(server, before)


def test_a_good_answer_is_kept_so_the_checks_above_can_fail(
    gateways: Gateways, protocol: str
) -> None:
    """The same gateway and store keep a finished answer: "keeps nothing" above is no accident
    of the set-up."""
    server = gateways(protocol, "answers")
    before = new_conversation(server)
    conn, reply = post(server, "/chat", {"message": "answers", "conversationId": before.id})
    list(reply.next_events())
    conn.close()
    assert reply.data()[-1]["success"] is True
    assert server.gateway.store is not None
    _, messages = server.gateway.store.get("alice", before.id)
    assert [(m.role, m.content) for m in messages] == [
        ("user", "answers"),
        ("assistant", "Half an answer"),
    ]
