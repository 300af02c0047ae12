"""`POST /chat/cancel`: the browser's Stop, passed to the model server for the signed-in user."""

from __future__ import annotations

import json
from typing import Any

from chat_gateway.errors import GatewayError, bad_request
from chat_gateway.http_client import Reply

MAX_ID_CHARS = 200


def parse_cancel_body(body: bytes) -> str:
    """The generation id from `{"id": "..."}`."""
    try:
        data = json.loads(body or b"null")
    except (ValueError, RecursionError):
        raise bad_request(
            'The request body is not valid JSON. Send {"id": "<generation id>"}.'
        ) from None
    generation_id = data.get("id") if isinstance(data, dict) else None
    if not isinstance(generation_id, str) or not generation_id.strip():
        raise bad_request(
            "'id' is required: the generation id from the first event of the answer's stream."
        )
    if len(generation_id) > MAX_ID_CHARS:
        raise bad_request(
            f"'id' is {len(generation_id)} characters; ids are at most {MAX_ID_CHARS}."
        )
    return generation_id


def cancel_outcome(reply: Reply, generation_id: str) -> dict[str, Any]:
    """What the browser hears of the model server's answer to a stop."""
    if 200 <= reply.status < 300:
        return {"success": True, "id": generation_id, "cancelled": True}
    if reply.status == 404 and b"generation_not_found" in reply.body:
        raise GatewayError(
            404,
            "No answer with that id is being generated for you: it has finished already, or "
            "it is not yours.",
        )
    if reply.status in (401, 403):
        raise GatewayError(
            502,
            f"The model server refused the gateway's API key (HTTP {reply.status}). "
            "Check UPSTREAM_API_KEY or the API key secret.",
        )
    if reply.status in (404, 405):  # no such route: a server that cannot stop generations
        return {
            "success": True,
            "id": generation_id,
            "cancelled": False,
            "message": "This model server cannot stop an answer early; it was stopped in "
            "your browser only.",
        }
    raise GatewayError(
        502, f"The model server failed to stop the answer (HTTP {reply.status}). Try again."
    )
