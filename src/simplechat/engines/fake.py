"""A deterministic engine for fast API tests: echoes the last user turn, one word per token."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Sequence

from simplechat.engines.base import (
    Engine,
    EngineError,
    FinishReason,
    GenerationRequest,
    Message,
    Prompt,
    Step,
)
from simplechat.engines.chat_template import render_plain


class FakeEngine(Engine):
    """Never a stand-in for a real model: it only makes API tests fast and exact.

    A "token" is a whitespace-separated word. The answer to a chat prompt is
    "You said: <last user text>", so tests can predict every byte.
    """

    name = "fake"

    def __init__(
        self,
        *,
        model_name: str = "fake-model",
        context_length: int = 2048,
        token_delay: float = 0.0,
        fail_after: int | None = None,
    ) -> None:
        self.model_name = model_name
        self.context_length = context_length
        self.token_delay = token_delay  # seconds per token, to hold requests in flight in tests
        self.fail_after = fail_after  # tokens before a simulated engine failure
        self.fail_with: type[Exception] = EngineError  # or, say, RuntimeError: a bug
        self.cancelled = 0  # how many generations were closed before their end
        self.produced = 0  # tokens generated so far, over all requests

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        return render_plain(messages)

    def tokenize(self, prompt: Prompt) -> list[int]:
        return [len(word) for word in prompt.text.split()]  # a "token" per word

    def answer_for(self, prompt: str) -> list[str]:
        """The words this engine will generate for `prompt`."""
        last_user = prompt.rsplit("User:", 1)[-1].rsplit("Assistant:", 1)[0]
        return ["You", "said:", *last_user.split()]

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        prompt_tokens = len(await self.prompt_ids(request))
        self.check_fits(prompt_tokens, request.params.max_tokens)
        words = self.answer_for(request.prompt.text)
        finished = False
        try:
            for i, word in enumerate(words[: request.params.max_tokens]):
                await asyncio.sleep(self.token_delay)  # a real engine yields between tokens
                if self.fail_after is not None and i >= self.fail_after:
                    raise self.fail_with("simulated engine failure")
                self.produced += 1
                yield Step(word if i == 0 else " " + word, prompt_tokens, i + 1)
            generated = min(len(words), request.params.max_tokens)
            reason: FinishReason = "length" if len(words) > request.params.max_tokens else "stop"
            finished = True
            yield Step("", prompt_tokens, generated, reason)
        finally:
            if not finished:
                self.cancelled += 1
