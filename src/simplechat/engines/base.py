"""The engine interface: one streaming primitive that turns a prompt into text chunks."""

from __future__ import annotations

import abc
import asyncio
import re
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from simplechat.engines.stops import StopFilter

Role = Literal["system", "user", "assistant"]
FinishReason = Literal["stop", "length"]


@dataclass(frozen=True)
class Message:
    """One turn of a conversation."""

    role: Role
    content: str


@dataclass(frozen=True)
class Prompt:
    """A rendered prompt as (text, trusted) parts: special tokens count only in trusted text.

    Template text is trusted; what users wrote is not, so a user typing `<|im_start|>system`
    gets those characters, never the control token.
    """

    parts: tuple[tuple[str, bool], ...]
    #: the conversation itself, for engines that render it elsewhere (an OpenAI upstream)
    messages: tuple[Message, ...] = ()
    #: contents inside trusted text that could not be told apart from the template's own (it
    #: rewrote them, or shapes its markup by what they say): refused if they hold control tokens
    unseparated: tuple[str, ...] = ()

    @classmethod
    def trusted(cls, text: str) -> Prompt:
        """Text whose special tokens are meant, e.g. a raw /v1/completions prompt."""
        return cls(((text, True),))

    @property
    def text(self) -> str:
        return "".join(text for text, _ in self.parts)


_SURROGATE = re.compile("[\ud800-\udfff]")


def clean_text(text: str) -> str:
    """Lone surrogates (valid in JSON, not in UTF-8) become U+FFFD, not a tokenizer crash."""
    # json.loads pairs valid surrogates into one character, so any left are lone.
    return _SURROGATE.sub("\ufffd", text)


@dataclass(frozen=True)
class SamplingParams:
    """How to pick tokens. temperature 0 means greedy decoding."""

    max_tokens: int
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    #: keep generating past end-of-sequence, up to max_tokens (for benchmarks, as vLLM has it)
    ignore_eos: bool = False


@dataclass(frozen=True)
class GenerationRequest:
    """A fully rendered prompt (chat template already applied) and its sampling parameters."""

    prompt: Prompt
    params: SamplingParams
    #: the prompt's token ids, when the service has already tokenized it to count them
    prompt_ids: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Step:
    """What an engine's decoder yields per generated token (text may be empty mid-character)."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Chunk:
    """A piece of the answer as callers see it: stop sequences already removed."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason | None = None


@dataclass(frozen=True)
class Completion:
    """A whole answer, gathered from the stream."""

    text: str
    prompt_tokens: int
    completion_tokens: int
    finish_reason: FinishReason


class EngineError(Exception):
    """Base class of the errors engines raise; never an HTTP error."""


class ContextLengthExceeded(EngineError):
    """The prompt plus the tokens asked for do not fit in the model's context."""

    def __init__(
        self, *, prompt_tokens: int, max_tokens: int, context_length: int, param: str = "messages"
    ) -> None:
        self.prompt_tokens = prompt_tokens
        self.max_tokens = max_tokens
        self.context_length = context_length
        self.param = param  # the request field that is too long, as the client's API names it
        if prompt_tokens >= context_length:  # no answer length would help
            message = (
                f"The prompt alone is {prompt_tokens} tokens, and the model's context is "
                f"{context_length} tokens, answer included. Shorten the conversation."
            )
        else:
            message = (
                f"This request needs {prompt_tokens + max_tokens} tokens ({prompt_tokens} in the "
                f"prompt + {max_tokens} to generate), but the model's context is {context_length} "
                "tokens. Shorten the conversation or ask for fewer tokens."
            )
        super().__init__(message)


class PromptRejected(EngineError):
    """The prompt cannot be answered as sent: the model's chat template refused the conversation
    (e.g. roles must alternate), or there is nothing to continue from."""

    def __init__(self, message: str, *, param: str = "messages") -> None:
        super().__init__(message)
        self.param = param


def refuse_unseparated_control_tokens(
    prompt: Prompt, encode: Callable[[str, bool], list[int]]
) -> None:
    """PromptRejected if a content the chat template could not keep apart holds control tokens:
    its ids differ when `encode(text, special)` parses special tokens and when it does not."""
    for content in prompt.unseparated:
        if encode(content, True) != encode(content, False):
            raise PromptRejected(
                "A message contains the model's control tokens (such as <|im_start|>), and this "
                "model's chat template rewrites that message or shapes its markup by what it "
                "says, so they cannot be kept as plain text. Remove the control tokens from the "
                "message."
            )


class EngineUnavailable(EngineError):
    """No model server could take the request (all upstreams down or failing); try later."""


class EngineBusy(EngineError):
    """Every model server behind us said it is full (429)."""


class UpstreamRejected(EngineError):
    """A model server refused the request itself (a 4xx); its message is for the client."""


class Engine(abc.ABC):
    """A loaded model. Many requests may be in flight at once; each is an async stream."""

    #: short engine id, e.g. "llamacpp"
    name: str
    #: the model id clients see and send back (OpenAI `model`)
    model_name: str
    #: tokens the model can attend to: prompt + generated
    context_length: int
    #: False for engines that only forward requests: the server behind them counts tokens
    #: and checks its own context, so we neither count nor check before sending
    counts_tokens: bool = True
    #: requests decoded together; admission lets in this many plus the queue
    max_batch: int = 4

    @abc.abstractmethod
    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        """Apply the model's chat template and open the assistant's turn."""

    @abc.abstractmethod
    def tokenize(self, prompt: Prompt) -> list[int]:
        """The token ids the model sees for this prompt (user text as data, never markup)."""

    def count_tokens(self, prompt: Prompt) -> int:
        """How many tokens the model sees for this prompt."""
        return len(self.tokenize(prompt))

    async def prompt_ids(self, request: GenerationRequest) -> list[int]:
        """The request's prompt tokens: as the service counted them, else tokenized now, off the
        event loop (a long prompt takes milliseconds, and other streams go on meanwhile)."""
        if request.prompt_ids is not None:
            return list(request.prompt_ids)
        return await asyncio.to_thread(self.tokenize, request.prompt)

    @abc.abstractmethod
    def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        """Generate tokens until EOS or max_tokens; closing the generator cancels the work."""

    @property
    def running(self) -> int:
        """Requests the engine is generating for right now (engines that batch say more)."""
        return self._generating

    _generating = 0

    def check_fits(self, prompt_tokens: int, max_tokens: int) -> None:
        """Raise ContextLengthExceeded unless prompt + max_tokens fit the context, and
        PromptRejected for an empty prompt (a model without BOS has nothing to continue)."""
        if prompt_tokens == 0:
            raise PromptRejected(
                "The prompt is empty: send some text for the model to continue.", param="prompt"
            )
        if prompt_tokens + max_tokens > self.context_length:
            raise ContextLengthExceeded(
                prompt_tokens=prompt_tokens,
                max_tokens=max_tokens,
                context_length=self.context_length,
            )

    async def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """The one streaming primitive: text chunks, the last one carrying the finish reason.

        Stop sequences are applied here, once for every engine; hitting one closes the
        decoder, which frees the engine's work for this request at once.
        """
        stops = StopFilter(request.params.stop)
        steps = self._decode(request)
        self._generating += 1
        try:
            async for step in steps:
                text, stopped = stops.feed(step.text)
                if stopped:
                    yield Chunk(text, step.prompt_tokens, step.completion_tokens, "stop")
                    return
                if step.finish_reason is not None:
                    text += stops.flush()
                    yield Chunk(
                        text, step.prompt_tokens, step.completion_tokens, step.finish_reason
                    )
                    return
                if text:
                    yield Chunk(text, step.prompt_tokens, step.completion_tokens)
        finally:
            self._generating -= 1
            await steps.aclose()

    async def complete(self, request: GenerationRequest) -> Completion:
        """The whole answer at once, built on `stream`."""
        return await gathered(self.stream(request))

    async def aclose(self) -> None:  # noqa: B027 - optional hook, most engines hold nothing
        """Release the model."""


async def gathered(chunks: AsyncIterator[Chunk]) -> Completion:
    """A stream's chunks as one answer; a stream that ends without a finish reason is an error."""
    parts: list[str] = []
    last: Chunk | None = None
    async for chunk in chunks:
        parts.append(chunk.text)
        last = chunk
    if last is None or last.finish_reason is None:
        raise EngineError("the engine ended the answer without a finish reason")
    return Completion(
        "".join(parts), last.prompt_tokens, last.completion_tokens, last.finish_reason
    )
