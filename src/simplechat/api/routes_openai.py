"""OpenAI-compatible routes: /v1/models, /v1/chat/completions, /v1/completions."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from simplechat.answer_speed import AnswerClock, timed
from simplechat.api.auth import presented_key
from simplechat.api.deps import ServiceDep
from simplechat.api.disconnect import unless_disconnected
from simplechat.api.errors import ERROR_RESPONSES
from simplechat.api.openai_protocol import (
    AssistantMessage,
    ChatChoice,
    ChatCompletion,
    ChatCompletionRequest,
    ChatMessage,
    CompletionRequest,
    ModelCard,
    ModelList,
    TextChoice,
    TextCompletion,
    Timings,
    Usage,
)
from simplechat.api.prepare import prepare
from simplechat.api.sse import once_started, sse_response
from simplechat.engines.base import Chunk, Message
from simplechat.generations import Generations, Running, owner_of, paced
from simplechat.service import SamplingOptions

router = APIRouter(prefix="/v1", tags=["openai"])
_STARTED = int(time.time())

#: OpenAI's defaults when a request leaves sampling unset.
DEFAULT_TEMPERATURE = 1.0
DEFAULT_TOP_P = 1.0

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON when stream is false; with stream=true, text/event-stream of "
        "`data: <chunk JSON>` events ending with `data: [DONE]`",
        "content": {"text/event-stream": {}},
    }
}


def _messages(wire: list[ChatMessage]) -> list[Message]:
    # OpenAI's newer "developer" role is the system role for every chat template we load.
    return [Message("system" if m.role == "developer" else m.role, m.text()) for m in wire]


@router.get("/models", response_model=ModelList, responses=ERROR_RESPONSES)
async def list_models(service: ServiceDep) -> ModelList:
    card = ModelCard(id=service.model_name, created=_STARTED, max_model_len=service.context_length)
    return ModelList(data=[card])


@router.post(
    "/chat/completions",
    response_model=ChatCompletion,
    responses={**ERROR_RESPONSES, **STREAM_DOC},
)
async def chat_completions(
    body: ChatCompletionRequest, service: ServiceDep, http: Request
) -> ChatCompletion | StreamingResponse:
    options = SamplingOptions(
        max_tokens=body.token_limit(),
        temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
        top_p=DEFAULT_TOP_P if body.top_p is None else body.top_p,
        stop=body.stop_sequences(),
        seed=body.seed,
        ignore_eos=body.ignore_eos,
    )
    clock = AnswerClock()
    # Rendering and the context check happen here, before any byte is sent (off the event loop
    # for a long conversation).
    messages = _messages(body.messages)
    chars = sum(len(m.content) for m in messages)
    request = await prepare(chars, service.chat_request, messages, options)
    completion_id = f"chatcmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = await once_started(http, timed(service.stream(request), clock))
        # Registered by its id, so that POST /chat/cancel (with the same key and `user`) stops it.
        owner = owner_of(presented_key(http.headers), body.user)
        events = _chat_events(
            http.app.state.generations,
            owner,
            chunks,
            completion_id,
            created,
            service.model_name,
            include_usage,
            clock,
        )
        return sse_response(events, http.app.state.drain)
    result = await unless_disconnected(http, service.complete(request, clock))
    return ChatCompletion(
        id=completion_id,
        created=created,
        model=service.model_name,
        choices=[
            ChatChoice(
                message=AssistantMessage(content=result.text), finish_reason=result.finish_reason
            )
        ],
        usage=Usage.of(result.prompt_tokens, result.completion_tokens),
        timings=Timings(**clock.timings(result.completion_tokens)),
    )


async def _chat_events(
    generations: Generations,
    owner: str,
    chunks: AsyncIterator[Chunk],
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    clock: AnswerClock,
) -> AsyncIterator[dict[str, Any] | None]:
    """The chunks as OpenAI frames, registered by id while they stream (so that a cancel
    stops them); None is a keep-alive."""
    with generations.running(completion_id, owner) as entry:
        frames = _chat_frames(
            paced(chunks, entry), entry, completion_id, created, model, include_usage, clock
        )
        async for payload in frames:
            yield payload


async def _chat_frames(
    chunks: AsyncIterator[Chunk | None],
    entry: Running,
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    clock: AnswerClock,
) -> AsyncIterator[dict[str, Any] | None]:
    def frame(delta: dict[str, str], finish_reason: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "delta": delta, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return payload

    yield frame({"role": "assistant", "content": ""})
    last: Chunk | None = None
    async for chunk in chunks:
        if chunk is None:
            yield None  # a keep-alive comment
            continue
        last = chunk
        if chunk.text:
            yield frame({"content": chunk.text})
    if entry.stopped.is_set():
        # OpenAI has no finish reason for this; "stopped" is our extension (docs/streaming.md).
        yield {**frame({}, "stop"), "stopped": True}
    elif last is None or last.finish_reason is None:
        return
    else:
        yield frame({}, last.finish_reason)
    if include_usage and last is not None:
        yield {
            "id": completion_id,
            "object": "chat.completion.chunk",
            "created": created,
            "model": model,
            "choices": [],
            "usage": Usage.of(last.prompt_tokens, last.completion_tokens).model_dump(),
            "timings": clock.timings(last.completion_tokens),
        }


@router.post(
    "/completions",
    response_model=TextCompletion,
    responses={**ERROR_RESPONSES, **STREAM_DOC},
)
async def completions(
    body: CompletionRequest, service: ServiceDep, http: Request
) -> TextCompletion | StreamingResponse:
    options = SamplingOptions(
        max_tokens=body.max_tokens,
        temperature=DEFAULT_TEMPERATURE if body.temperature is None else body.temperature,
        top_p=DEFAULT_TOP_P if body.top_p is None else body.top_p,
        stop=body.stop_sequences(),
        seed=body.seed,
        ignore_eos=body.ignore_eos,
    )
    clock = AnswerClock()
    text = body.prompt_text()
    request = await prepare(len(text), service.completion_request, text, options)
    completion_id = f"cmpl-{uuid.uuid4().hex}"
    created = int(time.time())
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        chunks = await once_started(http, timed(service.stream(request), clock))
        return sse_response(
            _text_events(chunks, completion_id, created, service.model_name, include_usage, clock),
            http.app.state.drain,
        )
    result = await unless_disconnected(http, service.complete(request, clock))
    return TextCompletion(
        id=completion_id,
        created=created,
        model=service.model_name,
        choices=[TextChoice(text=result.text, finish_reason=result.finish_reason)],
        usage=Usage.of(result.prompt_tokens, result.completion_tokens),
        timings=Timings(**clock.timings(result.completion_tokens)),
    )


async def _text_events(
    chunks: AsyncIterator[Chunk],
    completion_id: str,
    created: int,
    model: str,
    include_usage: bool,
    clock: AnswerClock,
) -> AsyncIterator[dict[str, Any]]:
    def frame(text: str, finish_reason: str | None = None) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "id": completion_id,
            "object": "text_completion",
            "created": created,
            "model": model,
            "choices": [
                {"index": 0, "text": text, "finish_reason": finish_reason, "logprobs": None}
            ],
        }
        if include_usage:
            payload["usage"] = None
        return payload

    async for chunk in chunks:
        if chunk.finish_reason is None:
            if chunk.text:
                yield frame(chunk.text)
            continue
        yield frame(chunk.text, chunk.finish_reason)
        if include_usage:
            payload = frame("", None)
            payload["choices"] = []
            payload["usage"] = Usage.of(chunk.prompt_tokens, chunk.completion_tokens).model_dump()
            payload["timings"] = clock.timings(chunk.completion_tokens)
            yield payload
