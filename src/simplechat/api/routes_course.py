"""The seed's `POST /chat` and the course's `POST /generate`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from simplechat.api.auth import presented_key
from simplechat.api.chat_stream import chat_stream_response, wants_events
from simplechat.api.course_protocol import (
    CancelRequest,
    CancelResponse,
    ChatRequest,
    ChatResponse,
    GenerateBody,
    GenerateResponse,
)
from simplechat.api.deps import ServiceDep
from simplechat.api.disconnect import unless_disconnected
from simplechat.api.errors import ERROR_RESPONSES, ApiError
from simplechat.api.openai_protocol import Usage
from simplechat.api.prepare import prepare
from simplechat.engines.base import Completion, GenerationRequest, Message
from simplechat.generations import Generations, owner_of
from simplechat.service import ChatService, SamplingOptions

router = APIRouter(tags=["course"])

STREAM_DOC: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "JSON; with `stream: true` or `Accept: text/event-stream`, server-sent "
        'events: `{"id"}`, then `{"delta"}`s, then one `{"done": true, ...}` (docs/streaming.md)',
        "content": {"text/event-stream": {}},
    }
}


@router.post(
    "/chat",
    response_model=ChatResponse,
    responses={**ERROR_RESPONSES, **STREAM_DOC},
    summary="Answer a message, given the conversation so far (the seed Lambda's contract)",
)
async def chat(
    body: ChatRequest, service: ServiceDep, http: Request
) -> ChatResponse | StreamingResponse:
    started = time.perf_counter()
    request = await _chat_request(body, service)
    if body.stream or wants_events(http):
        return chat_stream_response(http, service, request, user=body.user, started=started)
    result = await unless_disconnected(http, service.complete(request))
    return ChatResponse(**_answer(result, request, service, started))


@router.post(
    "/chat/cancel",
    response_model=CancelResponse,
    responses=ERROR_RESPONSES,
    summary="Stop a streaming generation by its id (only with the API key and user that "
    "started it)",
)
async def cancel(body: CancelRequest, http: Request) -> CancelResponse:
    generations: Generations = http.app.state.generations
    if not generations.stop(body.id, owner_of(presented_key(http.headers), body.user)):
        raise ApiError(
            404,
            f"No generation {body.id!r} is running for you: it has finished already, or the "
            "id is not one of yours.",
            param="id",
            code="generation_not_found",
        )
    return CancelResponse(id=body.id)


@router.post(
    "/generate",
    response_model=GenerateResponse,
    responses=ERROR_RESPONSES,
    summary="Answer one prompt as a user turn (the course's Colab server contract)",
    description="Also takes `/chat`'s body (`message`, `conversationHistory`) when there is no "
    "`prompt`, and answers it as `/chat` does, as JSON with `generated_text` beside `response`.",
)
async def generate(body: GenerateBody, service: ServiceDep, http: Request) -> GenerateResponse:
    started = time.perf_counter()
    if isinstance(body, ChatRequest):
        request = await _chat_request(body, service)
    else:
        options = SamplingOptions(
            max_tokens=body.max_new_tokens,
            temperature=body.temperature if body.do_sample else 0.0,
            top_p=body.top_p,
            fit_to_context=True,  # the course's server never refused max_new_tokens: 512
        )
        request = await prepare(
            len(body.prompt), service.chat_request, [Message("user", body.prompt)], options,
            field="prompt",
        )  # fmt: skip
    result = await unless_disconnected(http, service.complete(request))
    answer = _answer(result, request, service, started)
    return GenerateResponse(generated_text=answer["response"], **answer)


async def _chat_request(body: ChatRequest, service: ChatService) -> GenerationRequest:
    """The seed's message and its history as a generation request (for `/chat`, and for the
    chat shape sent to `/generate`)."""
    history = [Message(turn.role, turn.content) for turn in body.conversationHistory or []]
    options = SamplingOptions(
        max_tokens=body.max_tokens,
        temperature=body.temperature,
        top_p=body.top_p,
        fit_to_context=True,
    )
    messages = [*history, Message("user", body.message)]
    chars = sum(len(m.content) for m in messages)
    return await prepare(chars, service.chat_request, messages, options, field="message")


def _answer(
    result: Completion, request: GenerationRequest, service: ChatService, started: float
) -> dict[str, Any]:
    """The fields both course answers share."""
    return {
        "response": result.text.strip(),
        "model": service.model_name,
        "usage": Usage.of(result.prompt_tokens, result.completion_tokens),
        "finish_reason": result.finish_reason,
        "truncated": result.finish_reason == "length",
        "max_tokens": request.params.max_tokens,
        "response_time": round(time.perf_counter() - started, 4),
    }
