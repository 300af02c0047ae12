"""Server-sent events for OpenAI-style streams: `data: <json>` lines, then `data: [DONE]`."""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import StreamingResponse

from simplechat.api.disconnect import unless_disconnected
from simplechat.api.errors import error_body
from simplechat.draining import Drain
from simplechat.engines.base import ContextLengthExceeded, EngineError, UpstreamRejected

log = logging.getLogger(__name__)

T = TypeVar("T")

#: An SSE comment: carries nothing, keeps proxies from idling a quiet stream out.
KEEPALIVE = ": keep-alive\n\n"
#: No cache, and no buffering in a proxy (nginx honours X-Accel-Buffering).
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


async def once_started(request: Request, chunks: AsyncIterator[T]) -> AsyncIterator[T]:
    """Wait for the first chunk before sending any header, so that a failure before the answer
    begins (no model server reachable, a request it refuses) is still a plain HTTP error."""
    first = await unless_disconnected(request, anext(chunks))
    return _prepend(first, chunks)


async def _prepend(first: T, rest: AsyncIterator[T]) -> AsyncIterator[T]:
    try:
        yield first
        async for item in rest:
            yield item
    finally:
        close = getattr(rest, "aclose", None)
        if close is not None:
            await close()


def event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"


async def _guarded(
    events: AsyncIterator[dict[str, Any] | None], drain: Drain
) -> AsyncIterator[str]:
    """Headers are already sent once a stream starts, so a failure becomes an error event;
    None from `events` is a keep-alive comment (a quiet stream is not idled out by a proxy)."""
    try:
        async for payload in events:
            if payload is None:
                yield KEEPALIVE
                continue
            if drain.expired:  # shutting down and out of grace: say so instead of vanishing
                yield event(error_body(503, "The server is shutting down; the answer was cut off."))
                break
            yield event(payload)
    except ContextLengthExceeded as exc:
        yield event(error_body(400, str(exc), param=exc.param, code="context_length_exceeded"))
    except UpstreamRejected as exc:
        yield event(error_body(400, str(exc)))
    except Exception as exc:  # an engine failure, or a bug: still end as clients expect
        if isinstance(exc, EngineError):
            log.error("engine failure mid-stream: %s", exc)
        else:
            log.exception("unexpected failure mid-stream")
        yield event(error_body(500, "The model failed while answering. Try again."))
    finally:
        close = getattr(events, "aclose", None)
        if close is not None:  # ended early (drain, failure): free the request's slot now
            await close()
    yield "data: [DONE]\n\n"


def sse_response(events: AsyncIterator[dict[str, Any] | None], drain: Drain) -> StreamingResponse:
    return StreamingResponse(
        _guarded(events, drain),
        media_type="text/event-stream",
        headers=STREAM_HEADERS,
    )
