"""An answer's speed from the server's own clock: time to first token and decode tokens/s."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from simplechat.engines.base import Chunk


def decode_speed(completion_tokens: int, first: float, end: float) -> float | None:
    """Tokens after the first, per second after the first: the decoder's own pace, apart from
    the prompt's reading (which time to first token covers). None with fewer than two tokens."""
    if completion_tokens < 2 or end <= first:
        return None
    return (completion_tokens - 1) / (end - first)


@dataclass
class AnswerClock:
    """Started when the request came in; told of each chunk as it leaves the engine."""

    started: float = field(default_factory=time.perf_counter)
    first: float | None = None
    end: float | None = None

    def saw(self, chunk: Chunk) -> None:
        now = time.perf_counter()
        if self.first is None and (chunk.text or chunk.completion_tokens):
            self.first = now
        self.end = now

    def timings(self, completion_tokens: int) -> dict[str, float | None]:
        """The `timings` object answers carry (docs/streaming.md)."""
        ttft = None if self.first is None else round(self.first - self.started, 4)
        speed = None
        if self.first is not None and self.end is not None:
            rate = decode_speed(completion_tokens, self.first, self.end)
            speed = None if rate is None else round(rate, 2)
        return {"time_to_first_token": ttft, "tokens_per_second": speed}


async def timed(chunks: AsyncIterator[Chunk], clock: AnswerClock) -> AsyncIterator[Chunk]:
    """The chunks, each noted on `clock` as it passes; closing this closes `chunks` (which
    gives the admission ticket back and frees the engine's slot)."""
    try:
        async for chunk in chunks:
            clock.saw(chunk)
            yield chunk
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()
