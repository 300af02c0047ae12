"""Wire models of the seed's `/chat` and the course's `/generate` (DESIGN.md §1, §2)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Discriminator, Field, StringConstraints, Tag

from simplechat.api.openai_protocol import (
    MAX_MESSAGES,
    MAX_TEXT_CHARS,
    Count,
    Text,
    Timings,
    Usage,
)

NonBlank = Annotated[str, StringConstraints(min_length=1, max_length=MAX_TEXT_CHARS, pattern=r"\S")]


class HistoryMessage(BaseModel):
    """A past turn, as the course's web UI keeps them."""

    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["user", "assistant", "system"]
    content: Text


class ChatRequest(BaseModel):
    """What the seed's Lambda sends: the new message and the conversation so far."""

    model_config = ConfigDict(extra="ignore", strict=True)

    message: NonBlank = Field(description="the user's new message")
    conversationHistory: list[HistoryMessage] | None = Field(
        None, description="earlier turns, oldest first", max_length=MAX_MESSAGES
    )
    max_tokens: Count | None = Field(None, description="default: the server's")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)
    stream: bool = Field(
        False,
        description="answer as server-sent events (as does the header Accept: "
        "text/event-stream): the generation's id, the answer's deltas, then one done event",
    )
    user: str | None = Field(
        None,
        max_length=256,
        description="the end user's opaque id: only a cancel naming the same user (and sent "
        "with the same API key) can stop this generation",
    )


class CountRequest(BaseModel):
    """`POST /chat/count`: `/chat`'s body, counted instead of answered."""

    model_config = ConfigDict(extra="ignore", strict=True)

    message: NonBlank = Field(description="the user's new message")
    conversationHistory: list[HistoryMessage] | None = Field(
        None, description="earlier turns, oldest first", max_length=MAX_MESSAGES
    )
    max_tokens: Count | None = Field(
        None, description="room to leave for the answer; default: the server's"
    )


class Fitting(BaseModel):
    start: int = Field(description="the index in conversationHistory the kept turns start at")
    prompt_tokens: int = Field(description="the prompt's tokens with the turns from `start` on")


class CountResponse(BaseModel):
    model: str
    prompt_tokens: int = Field(description="the whole conversation's prompt, as the model reads it")
    context_length: int
    max_tokens: int = Field(description="the room left for the answer")
    fittings: list[Fitting] = Field(
        description="newest first: the prompt from each turn boundary (a user message) back, "
        "up to and including the first that leaves less than max_tokens for the answer; "
        "leading system messages are always kept"
    )


class CancelRequest(BaseModel):
    """`POST /chat/cancel`: stop a streaming generation by the id its first event gave."""

    model_config = ConfigDict(extra="ignore", strict=True)

    id: str = Field(min_length=1, max_length=200)
    user: str | None = Field(None, max_length=256)


class CancelResponse(BaseModel):
    success: Literal[True] = True
    id: str
    cancelled: Literal[True] = True


class CourseAnswer(BaseModel):
    """What both course routes answer. `success` is what the course's web UI checks, so a
    student's Lambda may pass this JSON straight through."""

    success: Literal[True] = True
    response: str = Field(description="the assistant's new text only")
    model: str
    usage: Usage
    finish_reason: Literal["stop", "length"]
    truncated: bool = Field(
        description="the answer was cut (at `max_tokens`, or by the server's time limit), not "
        "ended where the model would have ended it"
    )
    max_tokens: int = Field(
        description="the answer's length limit: the one asked for, or less when only that much "
        "fitted in the model's context beside the prompt (the prompt itself is never cut)"
    )
    response_time: float = Field(description="seconds spent answering")
    context_length: int | None = Field(
        None,
        description="the model's context in tokens, prompt and answer together (null where "
        "this server forwards to another and does not count)",
    )
    timings: Timings = Field(default_factory=Timings)


class ChatResponse(CourseAnswer):
    """The seed's `/chat` answer."""


class GenerateRequest(BaseModel):
    """What the course's Colab server accepted; the prompt is one user turn."""

    model_config = ConfigDict(extra="ignore", strict=True)

    prompt: NonBlank
    max_new_tokens: Count = 512
    do_sample: bool = Field(True, description="false means greedy decoding")
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    top_p: float = Field(0.9, gt=0.0, le=1.0)


def _generate_shape(body: Any) -> str:
    """Which shape a `/generate` body has: the seed's chat shape (`message`, and no `prompt`),
    which some students' Lambdas send here, or the course's own. The tags have a `-` so that an
    error's `param` names the field alone (errors.py drops the branch pydantic names)."""
    if isinstance(body, dict) and "prompt" not in body and "message" in body:
        return "chat-shape"
    return "generate-shape"


#: What `/generate` takes: the course's `{"prompt", ...}`, or the seed's `{"message",
#: "conversationHistory"}`, answered as `/chat` answers it (always as JSON, never streamed).
GenerateBody = Annotated[
    Annotated[GenerateRequest, Tag("generate-shape")] | Annotated[ChatRequest, Tag("chat-shape")],
    Discriminator(_generate_shape),
]


class GenerateResponse(CourseAnswer):
    """The course's `/generate` answer; `response` repeats `generated_text` for Lambdas written
    against the seed's `/chat`."""

    generated_text: str = Field(description="the assistant's new text only")
