"""POST /chat/cancel when the model server's answer to the stop is not a plain yes: each reply
mapped to the status and words the browser shows (docs/streaming.md §Stop)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from chat_gateway.server import GatewayServer

from tests.support.faulty_upstream import FaultyUpstream
from tests.support.gateway_http import gateway_server, post
from tests.support.processes import free_port

KEY_REFUSED = (
    "The model server refused the gateway's API key (HTTP {}). "
    "Check UPSTREAM_API_KEY or the API key secret."
)
CANCELS = {
    "stopped": (200, {"success": True, "id": "stopped", "cancelled": True}),
    "unknown": (
        404,
        {
            "success": False,
            "error": "No answer with that id is being generated for you: it has finished "
            "already, or it is not yours.",
        },
    ),
    "no-route": (
        200,
        {
            "success": True,
            "id": "no-route",
            "cancelled": False,
            "message": "This model server cannot stop an answer early; it was stopped in "
            "your browser only.",
        },
    ),
    "refused-401": (502, {"success": False, "error": KEY_REFUSED.format(401)}),
    "refused-403": (502, {"success": False, "error": KEY_REFUSED.format(403)}),
    "fails": (
        502,
        {
            "success": False,
            "error": "The model server failed to stop the answer (HTTP 500). Try again.",
        },
    ),
    "busy": (
        502,
        {
            "success": False,
            "error": "The model server failed to stop the answer (HTTP 429). Try again.",
        },
    ),
}


@pytest.fixture(scope="module")
def gateway() -> Iterator[GatewayServer]:
    upstream = FaultyUpstream()
    server = gateway_server(upstream.url)
    yield server
    server.shutdown()
    upstream.stop()


@pytest.mark.parametrize("generation_id", CANCELS)
def test_each_reply_to_a_stop_is_mapped_to_what_the_browser_shows(
    gateway: GatewayServer, generation_id: str
) -> None:
    conn, reply = post(gateway, "/chat/cancel", {"id": generation_id}, stream=False)
    body = reply.json()
    conn.close()
    assert (reply.status, body) == CANCELS[generation_id]


def test_a_stop_for_an_unreachable_model_server_is_a_502_that_says_so() -> None:
    server = gateway_server(f"http://127.0.0.1:{free_port()}", CONNECT_TIMEOUT_SECONDS="2")
    conn, reply = post(server, "/chat/cancel", {"id": "gen-1"}, stream=False)
    body = reply.json()
    conn.close()
    server.shutdown()
    assert reply.status == 502
    assert body["success"] is False
    assert body["error"].startswith("The model server is unreachable (")
    assert body["error"].endswith(
        "Check that it is running and that the registered URL is current."
    )
