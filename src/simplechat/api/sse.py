"""Server-sent events for OpenAI-style streams: `data: <json>` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any

from fastapi.responses import StreamingResponse

from simplechat.api.errors import error_body
from simplechat.draining import Drain
from simplechat.engines.base import ContextLengthExceeded, EngineError

log = logging.getLogger(__name__)


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def _guarded(events: AsyncIterator[dict[str, Any]], drain: Drain) -> AsyncIterator[str]:
    """Headers are already sent once a stream starts, so a failure becomes an error event."""
    try:
        async for payload in events:
            if drain.expired:  # shutting down and out of grace: say so instead of vanishing
                yield event(error_body(503, "The server is shutting down; the answer was cut off."))
                break
            yield event(payload)
    except ContextLengthExceeded as exc:
        yield event(error_body(400, str(exc), param="messages", code="context_length_exceeded"))
    except EngineError as exc:
        log.error("engine failure mid-stream: %s", exc)
        yield event(error_body(500, "The model failed while answering. Try again."))
    yield "data: [DONE]\n\n"


def sse_response(events: AsyncIterator[dict[str, Any]], drain: Drain) -> StreamingResponse:
    return StreamingResponse(
        _guarded(events, drain),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )
