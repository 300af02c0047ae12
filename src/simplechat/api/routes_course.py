"""The seed's `POST /chat` and the course's `POST /generate`."""

from __future__ import annotations

import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from starlette.concurrency import run_in_threadpool

from simplechat.answer_speed import AnswerClock
from simplechat.api.auth import presented_key
from simplechat.api.chat_stream import chat_stream_response, wants_events
from simplechat.api.course_protocol import (
    CancelRequest,
    CancelResponse,
    ChatRequest,
    ChatResponse,
    CountRequest,
    CountResponse,
    Fitting,
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
from simplechat.token_count import NotCounted, count_conversation

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
    clock = AnswerClock()
    request = await _chat_request(body, service)
    if body.stream or wants_events(http):
        return chat_stream_response(http, service, request, user=body.user, clock=clock)
    result = await unless_disconnected(http, service.complete(request, clock))
    return ChatResponse(**_answer(result, request, service, clock))


@router.post(
    "/chat/count",
    response_model=CountResponse,
    responses=ERROR_RESPONSES,
    summary="Count a conversation's prompt tokens with the model's own template and tokenizer, "
    "without generating (docs/context.md)",
)
async def count(body: CountRequest, service: ServiceDep) -> CountResponse:
    history = [Message(turn.role, turn.content) for turn in body.conversationHistory or []]
    try:
        # Off the event loop: one rendering per turn boundary that fits, milliseconds each.
        counted = await run_in_threadpool(
            count_conversation, service, history, body.message, body.max_tokens
        )
    except NotCounted as exc:
        raise ApiError(501, str(exc), code="not_counted") from None
    return CountResponse(
        model=service.model_name,
        prompt_tokens=counted.prompt_tokens,
        context_length=counted.context_length,
        max_tokens=counted.max_tokens,
        fittings=[Fitting(start=f.start, prompt_tokens=f.prompt_tokens) for f in counted.fittings],
    )


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
    clock = AnswerClock()
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
    result = await unless_disconnected(http, service.complete(request, clock))
    answer = _answer(result, request, service, clock)
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
    result: Completion, request: GenerationRequest, service: ChatService, clock: AnswerClock
) -> dict[str, Any]:
    """The fields both course answers share."""
    return {
        "response": result.text.strip(),
        "model": service.model_name,
        "usage": Usage.of(result.prompt_tokens, result.completion_tokens),
        "finish_reason": result.finish_reason,
        "truncated": result.finish_reason == "length",
        "max_tokens": request.params.max_tokens,
        "response_time": round(time.perf_counter() - clock.started, 4),
        "context_length": service.context_length,
        "timings": clock.timings(result.completion_tokens),
    }
