"""Turns what clients ask for (messages or a prompt, options) into engine requests, checked."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass

from simplechat.admission import Admission, AdmittedStream, Overloaded
from simplechat.answer_speed import AnswerClock, decode_speed, timed
from simplechat.engines.base import (
    Chunk,
    Completion,
    ContextLengthExceeded,
    Engine,
    GenerationRequest,
    Message,
    Prompt,
    SamplingParams,
    clean_text,
    gathered,
)
from simplechat.metrics import Metrics

#: Temperatures below this decode greedily. Dividing logits by a near-zero temperature overflows
#: them (1e-38 made transformers' batch fail every request in it, for good); at this size the
#: sample is all but greedy anyway.
GREEDY_BELOW = 1e-3


@dataclass(frozen=True)
class SamplingOptions:
    """Sampling as a client states it; `max_tokens=None` means "the server's default"."""

    max_tokens: int | None = None
    temperature: float = 0.7
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    ignore_eos: bool = False
    #: The course contract: `max_tokens` is a ceiling. What does not fit beside the prompt is
    #: not asked for (the answer then says `truncated`); the prompt itself is never cut.
    fit_to_context: bool = False


class ChatService:
    """Renders prompts, checks the context budget, admits requests and bounds their time."""

    def __init__(
        self,
        engine: Engine,
        *,
        default_max_tokens: int,
        capacity: int = 1000,
        time_limit: float = 600.0,
        metrics: Metrics | None = None,
        system_prompt: str = "",
    ) -> None:
        self.engine = engine
        #: Put before conversations that bring no system message (theirs wins).
        self.system_prompt = system_prompt
        self.default_max_tokens = default_max_tokens
        self.time_limit = time_limit
        self.metrics = metrics or Metrics()
        self.admission = Admission(capacity)
        self.metrics.watch(
            in_flight=lambda: self.admission.in_flight, running=lambda: engine.running
        )

    @property
    def model_name(self) -> str:
        return self.engine.model_name

    def chat_prompt(self, messages: Sequence[Message]) -> Prompt:
        """A conversation through the model's own chat template, the server's system prompt
        first where the conversation brings none (theirs wins)."""
        cleaned = [Message(m.role, clean_text(m.content)) for m in messages]
        if self.system_prompt and not any(m.role == "system" for m in cleaned):
            cleaned.insert(0, Message("system", self.system_prompt))
        return self.engine.render_chat(cleaned)

    @property
    def context_length(self) -> int | None:
        """The model's context in tokens, where this server counts them (not when it forwards)."""
        return self.engine.context_length if self.engine.counts_tokens else None

    def chat_request(
        self, messages: Sequence[Message], options: SamplingOptions, *, field: str = "messages"
    ) -> GenerationRequest:
        """A conversation, rendered through the model's own chat template (user text as data);
        `field` is what a too-long conversation is called in the client's own wire format."""
        return self._request(self.chat_prompt(messages), options, field)

    def completion_request(self, text: str, options: SamplingOptions) -> GenerationRequest:
        """Raw text to continue, as `/v1/completions` sends it: its special tokens are meant."""
        return self._request(Prompt.trusted(clean_text(text)), options, "prompt")

    def _request(self, prompt: Prompt, options: SamplingOptions, field: str) -> GenerationRequest:
        max_tokens = options.max_tokens
        if not self.engine.counts_tokens:
            return self._generation_request(prompt, options, max_tokens or self.default_max_tokens)
        prompt_ids = tuple(self.engine.tokenize(prompt))  # the engine reuses them
        prompt_tokens = len(prompt_ids)
        if max_tokens is None or options.fit_to_context:
            # Unstated (or a ceiling): shrunk to what the context has left beside the prompt.
            room = self.engine.context_length - prompt_tokens
            if room < 1:
                raise ContextLengthExceeded(
                    prompt_tokens=prompt_tokens,
                    max_tokens=1,
                    context_length=self.engine.context_length,
                    param=field,
                )
            max_tokens = min(max_tokens or self.default_max_tokens, room)
        try:
            self.engine.check_fits(prompt_tokens, max_tokens)
        except ContextLengthExceeded as exc:
            exc.param = field
            raise
        return self._generation_request(prompt, options, max_tokens, prompt_ids)

    @staticmethod
    def _generation_request(
        prompt: Prompt,
        options: SamplingOptions,
        max_tokens: int,
        prompt_ids: tuple[int, ...] | None = None,
    ) -> GenerationRequest:
        params = SamplingParams(
            max_tokens=max_tokens,
            temperature=0.0 if options.temperature < GREEDY_BELOW else options.temperature,
            top_p=options.top_p,
            stop=tuple(clean_text(stop) for stop in options.stop),  # cleaned as the prompt is
            seed=options.seed,
            ignore_eos=options.ignore_eos,
        )
        return GenerationRequest(prompt=prompt, params=params, prompt_ids=prompt_ids)

    async def complete(
        self, request: GenerationRequest, clock: AnswerClock | None = None
    ) -> Completion:
        """The whole answer (timed on `clock`, if given); raises Overloaded at once when the
        server is full."""
        chunks = self.stream(request)
        return await gathered(chunks if clock is None else timed(chunks, clock))

    def stream(self, request: GenerationRequest) -> AsyncIterator[Chunk]:
        """Admits now (so a full server answers 429 before any byte), streams later."""
        try:
            ticket = self.admission.acquire()
        except Overloaded:
            self.metrics.rejected.labels("overloaded").inc()
            raise
        return AdmittedStream(self._time_limited(self.engine.stream(request)), ticket)

    async def _time_limited(self, chunks: AsyncIterator[Chunk]) -> AsyncIterator[Chunk]:
        """Ends a runaway request at the time limit, cleanly: finish reason "length"."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.time_limit
        last: Chunk | None = None
        first_at = 0.0
        finished = False
        try:
            while True:
                try:
                    # A timer per chunk, not wait_for's task per chunk (3.11): per-token cost.
                    async with asyncio.timeout_at(deadline):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    used = (last.prompt_tokens, last.completion_tokens) if last else (0, 0)
                    yield Chunk("", *used, "length")
                    return
                if last is None:
                    first_at = loop.time()
                    self.metrics.ttft.observe(first_at - started)
                last = chunk
                finished = chunk.finish_reason is not None
                yield chunk
        finally:
            if last is not None:
                self.metrics.tokens.inc(last.completion_tokens)
                speed = decode_speed(last.completion_tokens, first_at, loop.time())
                if finished and speed is not None:  # a whole answer's pace, not a cut one's
                    self.metrics.speed.observe(speed)
            if not finished:  # closed early: client gone, stop sequence or time limit
                self.metrics.cancelled.inc()
            await chunks.aclose()  # type: ignore[attr-defined]
