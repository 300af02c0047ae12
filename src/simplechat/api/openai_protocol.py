"""Wire models of the OpenAI-compatible API (/v1/models, /v1/chat/completions, /v1/completions)."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)

FinishReason = Literal["stop", "length"]


def _whole(value: object) -> object:
    """JSON Schema counts 2.0 as an integer; strict pydantic would not, so convert it first."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


#: An integer as JSON Schema means it (2 or 2.0), but never true/false or "2".
Whole = Annotated[int, BeforeValidator(_whole)]
#: A count of tokens: at least 1.
Count = Annotated[int, Field(ge=1), BeforeValidator(_whole)]


def _null_as(default: object) -> BeforeValidator:
    """OpenAI's API takes null for some fields and means their default."""
    return BeforeValidator(lambda value: default if value is None else value)


def _or_null(schema: dict[str, Any]) -> WithJsonSchema:
    return WithJsonSchema({"anyOf": [schema, {"type": "null"}]})


# Validators run last to first: null becomes the default before anything else looks at it.
FalseIfNull = Annotated[bool, _or_null({"type": "boolean"}), _null_as(False)]
OneIfNull = Annotated[int, _or_null({"type": "integer"}), BeforeValidator(_whole), _null_as(1)]
#: /v1/completions' max_tokens: 16 when absent or null, as in OpenAI's API.
CompletionTokens = Annotated[
    int,
    Field(ge=1),
    _or_null({"type": "integer", "minimum": 1}),
    BeforeValidator(_whole),
    _null_as(16),
]

#: A sampling seed: a 64-bit signed integer, as OpenAI documents it (torch and vLLM take no more).
Seed = Annotated[int, Field(ge=-(2**63), le=2**63 - 1), BeforeValidator(_whole)]

MAX_STOP_SEQUENCES = 4
MAX_STOP_CHARS = 64
#: Per request, checked before any model work (the body limit bounds the total size too).
MAX_MESSAGES = 512
MAX_TEXT_CHARS = 100_000
#: One message's text: at most MAX_TEXT_CHARS characters.
Text = Annotated[str, StringConstraints(max_length=MAX_TEXT_CHARS)]


class TextPart(BaseModel):
    type: Literal["text"]
    text: str


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)

    role: Literal["system", "developer", "user", "assistant"]
    content: Text | list[dict[str, Any]]
    name: str | None = None

    @field_validator("content")
    @classmethod
    def _text_only(cls, content: str | list[dict[str, Any]]) -> str | list[dict[str, Any]]:
        if isinstance(content, list):
            for part in content:
                if part.get("type") != "text" or not isinstance(part.get("text"), str):
                    raise ValueError(
                        f"only text content parts are supported, got type {part.get('type')!r}"
                    )
            if sum(len(part["text"]) for part in content) > MAX_TEXT_CHARS:
                raise ValueError(f"a message may have at most {MAX_TEXT_CHARS} characters")
        return content

    def text(self) -> str:
        if isinstance(self.content, str):
            return self.content
        return "".join(str(part["text"]) for part in self.content)


class StreamOptions(BaseModel):
    model_config = ConfigDict(strict=True)

    include_usage: bool = False


class _SamplingFields(BaseModel):
    """What chat and text completions share."""

    model_config = ConfigDict(extra="ignore", strict=True)

    model: str | None = Field(
        None,
        description="any name: this server serves one model and answers with it, naming it in "
        "the answer's `model` (as llama-server and Ollama do), so code written for another "
        "API's model name works unchanged",
    )
    temperature: float | None = Field(None, ge=0.0, le=2.0, description="0 means greedy")
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    stop: str | list[str] | None = Field(None, description=f"up to {MAX_STOP_SEQUENCES} strings")
    seed: Seed | None = None
    stream: FalseIfNull = False
    stream_options: StreamOptions | None = None
    n: OneIfNull = Field(1, description="only 1 is supported")
    user: str | None = None
    ignore_eos: FalseIfNull = Field(
        False, description="extension (as in vLLM): generate exactly max_tokens, for benchmarks"
    )

    @field_validator("stop")
    @classmethod
    def _few_stops(cls, stop: str | list[str] | None) -> str | list[str] | None:
        stops = [stop] if isinstance(stop, str) else stop or []
        if len(stops) > MAX_STOP_SEQUENCES:
            raise ValueError(f"at most {MAX_STOP_SEQUENCES} stop sequences are allowed")
        if any(len(s) > MAX_STOP_CHARS for s in stops):
            raise ValueError(f"a stop sequence may be at most {MAX_STOP_CHARS} characters long")
        return stop

    @field_validator("n")
    @classmethod
    def _single_choice(cls, n: int) -> int:
        if n != 1:
            raise ValueError("only n=1 is supported")
        return n

    def stop_sequences(self) -> tuple[str, ...]:
        if self.stop is None:
            return ()
        return (self.stop,) if isinstance(self.stop, str) else tuple(self.stop)


class ChatCompletionRequest(_SamplingFields):
    messages: list[ChatMessage] = Field(min_length=1, max_length=MAX_MESSAGES)
    max_tokens: Count | None = None
    max_completion_tokens: Count | None = None
    tools: list[dict[str, Any]] | None = None
    response_format: dict[str, Any] | None = None
    logprobs: bool | None = None
    top_logprobs: Whole | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> ChatCompletionRequest:
        if self.tools:
            raise ValueError("tools (function calling) are not supported by this server")
        if self.response_format and self.response_format.get("type") != "text":
            raise ValueError("only response_format {'type': 'text'} is supported")
        if self.logprobs or self.top_logprobs:
            raise ValueError("logprobs and top_logprobs are not supported by this server")
        return self

    def token_limit(self) -> int | None:
        return self.max_completion_tokens or self.max_tokens


class CompletionRequest(_SamplingFields):
    prompt: Text | list[Text]
    max_tokens: CompletionTokens = 16
    echo: FalseIfNull = False
    suffix: str | None = None
    logprobs: Whole | None = None

    @model_validator(mode="after")
    def _unsupported(self) -> CompletionRequest:
        if isinstance(self.prompt, list) and len(self.prompt) != 1:
            raise ValueError("prompt must be one string (batches of prompts are not supported)")
        if self.echo:
            raise ValueError("echo is not supported by this server")
        if self.suffix:
            raise ValueError("suffix is not supported by this server")
        if self.logprobs:
            raise ValueError("logprobs are not supported by this server")
        return self

    def prompt_text(self) -> str:
        return self.prompt if isinstance(self.prompt, str) else self.prompt[0]


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int

    @classmethod
    def of(cls, prompt_tokens: int, completion_tokens: int) -> Usage:
        return cls(
            prompt_tokens=prompt_tokens,
            completion_tokens=completion_tokens,
            total_tokens=prompt_tokens + completion_tokens,
        )


class Timings(BaseModel):
    """An answer's speed by the server's own clock (our extension; docs/streaming.md)."""

    time_to_first_token: float | None = Field(
        None, description="seconds from the request's arrival to the first generated token"
    )
    tokens_per_second: float | None = Field(
        None,
        description="decode speed: tokens after the first, per second after the first "
        "(null with fewer than two tokens)",
    )


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str


class ChatChoice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: FinishReason
    logprobs: None = None


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[ChatChoice]
    usage: Usage
    timings: Timings | None = None


class Delta(BaseModel):
    role: Literal["assistant"] | None = None
    content: str | None = None


class ChunkChoice(BaseModel):
    index: int = 0
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class ChatCompletionChunk(BaseModel):
    id: str
    object: Literal["chat.completion.chunk"] = "chat.completion.chunk"
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None


class TextChoice(BaseModel):
    index: int = 0
    text: str
    finish_reason: FinishReason | None
    logprobs: None = None


class TextCompletion(BaseModel):
    id: str
    object: Literal["text_completion"] = "text_completion"
    created: int
    model: str
    choices: list[TextChoice]
    usage: Usage | None = None
    timings: Timings | None = None


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "simplechat"
    max_model_len: int | None = Field(
        None, description="the model's context in tokens (vLLM's name for it); null if unknown"
    )


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]
