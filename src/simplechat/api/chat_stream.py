"""`POST /chat` as server-sent events: the id, the deltas, one done event (docs/streaming.md)."""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator

from fastapi import Request
from fastapi.responses import StreamingResponse

from simplechat.answer_speed import AnswerClock
from simplechat.api.auth import presented_key
from simplechat.api.openai_protocol import Usage
from simplechat.api.sse import KEEPALIVE, STREAM_HEADERS, event
from simplechat.engines.base import (
    Chunk,
    ContextLengthExceeded,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    UpstreamRejected,
)
from simplechat.generations import Generations, owner_of, paced
from simplechat.service import ChatService

log = logging.getLogger(__name__)


def wants_events(request: Request) -> bool:
    return "text/event-stream" in request.headers.get("accept", "")


def failure(exc: Exception) -> tuple[int, str]:
    """A failure after the stream began, as the status and message the JSON answer would have."""
    if isinstance(exc, ContextLengthExceeded | UpstreamRejected):
        return 400, str(exc)
    if isinstance(exc, EngineBusy):
        return 429, str(exc)
    if isinstance(exc, EngineUnavailable):
        return 503, "The model server is unavailable right now. Try again in a few seconds."
    if isinstance(exc, EngineError):
        log.error("engine failure mid-stream: %s", exc)
    else:
        log.exception("unexpected failure mid-stream")
    return 500, "The model failed while answering. Try again; the text so far is kept."


def chat_stream_response(
    http: Request,
    service: ChatService,
    request: GenerationRequest,
    *,
    user: str | None,
    clock: AnswerClock,
) -> StreamingResponse:
    """Admits now (a full server is a plain 429), then streams; the id comes first so that a
    Stop works even while a long prompt is read."""
    chunks = service.stream(request)
    generations: Generations = http.app.state.generations
    owner = owner_of(presented_key(http.headers), user)
    generation_id = f"gen-{uuid.uuid4().hex}"

    async def events() -> AsyncIterator[str]:
        with generations.running(generation_id, owner) as entry:
            yield event({"id": generation_id})
            text: list[str] = []
            last: Chunk | None = None
            try:
                async for chunk in paced(chunks, entry):
                    if chunk is None:
                        yield KEEPALIVE
                        continue
                    if http.app.state.drain.expired:
                        yield _error(503, "The server is shutting down; the answer was cut off.")
                        return
                    last = chunk
                    clock.saw(chunk)
                    if chunk.text:
                        text.append(chunk.text)
                        yield event({"delta": chunk.text})
            except Exception as exc:  # headers are sent: a failure becomes the last event
                yield _error(*failure(exc))
                return
            stopped = entry.stopped.is_set()
            reason = last.finish_reason if last is not None else None
            if reason is None and not stopped:  # the engine's stream ended without an end
                yield _error(500, "The model stopped answering unexpectedly. Try again.")
                return
            used = (last.prompt_tokens, last.completion_tokens) if last else (0, 0)
            yield event(
                {
                    "done": True,
                    "success": True,
                    "response": "".join(text),
                    "stopped": stopped,
                    "model": service.model_name,
                    "usage": Usage.of(*used).model_dump(),
                    "finish_reason": "stop" if stopped else reason,
                    "truncated": reason == "length",
                    "max_tokens": request.params.max_tokens,
                    "response_time": round(time.perf_counter() - clock.started, 4),
                    "context_length": service.context_length,
                    "timings": clock.timings(used[1]),
                }
            )

    return StreamingResponse(events(), media_type="text/event-stream", headers=STREAM_HEADERS)


def _error(status: int, message: str) -> str:
    return event({"done": True, "success": False, "error": message, "status": status})
