"""Running generations by id, so another request (another Lambda) can stop one: its owner only."""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from simplechat.engines.base import Chunk

#: A stream quiet for this long gets a keep-alive (None from `paced`): proxies idle streams out
#: (API Gateway EDGE endpoints after 30 s), and a cold model's first token can take longer.
KEEPALIVE_SECONDS = 10.0


def owner_of(api_key: str | None, user: str | None) -> str:
    """Who may stop a generation: whoever started it with the same API key, for the same end
    user (the gateway names the signed-in user). Hashed: the registry never holds a key."""
    digest = hashlib.sha256((api_key or "").encode("utf-8", errors="surrogateescape"))
    return digest.hexdigest() + ":" + (user or "")


@dataclass
class Running:
    """One generation in flight; `stopped` is set when its owner asks it to stop."""

    id: str
    owner: str
    stopped: asyncio.Event = field(default_factory=asyncio.Event)


class Generations:
    """The registry. One per server process: a stop request reaches the process that decodes."""

    def __init__(self) -> None:
        self._running: dict[str, Running] = {}

    @contextmanager
    def running(self, generation_id: str, owner: str) -> Iterator[Running]:
        """Registers the generation for as long as its stream is open."""
        entry = Running(generation_id, owner)
        self._running[generation_id] = entry
        try:
            yield entry
        finally:
            self._running.pop(generation_id, None)

    def stop(self, generation_id: str, owner: str) -> bool:
        """Asks a generation to stop; False when no generation of this owner has that id (an
        unknown id and someone else's look the same, so ids cannot be probed)."""
        entry = self._running.get(generation_id)
        if entry is None or entry.owner != owner:
            return False
        entry.stopped.set()
        return True

    def __len__(self) -> int:
        return len(self._running)


async def paced(chunks: AsyncIterator[Chunk], entry: Running) -> AsyncIterator[Chunk | None]:
    """The chunks, with None for a keep-alive after each quiet KEEPALIVE_SECONDS, ending early
    (and closing the engine's stream, which frees its slot within a step) once stopped."""
    stop: asyncio.Future[Any] = asyncio.ensure_future(entry.stopped.wait())
    step: asyncio.Future[Any] | None = None
    try:
        while not entry.stopped.is_set():
            if step is None:
                step = asyncio.ensure_future(anext(chunks))
            done, _ = await asyncio.wait(
                {step, stop}, timeout=KEEPALIVE_SECONDS, return_when=asyncio.FIRST_COMPLETED
            )
            if step in done:
                try:
                    chunk = step.result()
                except StopAsyncIteration:
                    return
                step = None
                yield chunk
            elif not done:
                yield None
    finally:
        stop.cancel()
        # Closed on a task of its own: when the response is cancelled (its client left), every
        # await in this frame is cancelled at once, and the engine's stream would stay open.
        closing = asyncio.ensure_future(_close(step, chunks))
        _CLOSING.add(closing)
        closing.add_done_callback(_CLOSING.discard)
        await asyncio.shield(closing)


#: Closes under way; held so that none is garbage-collected before it ends.
_CLOSING: set[asyncio.Future[None]] = set()


async def _close(step: asyncio.Future[Any] | None, chunks: AsyncIterator[Chunk]) -> None:
    if step is not None and not step.done():
        step.cancel()  # the engine's stream ends where it waits: its cleanup frees the slot
        await asyncio.gather(step, return_exceptions=True)
    close = getattr(chunks, "aclose", None)
    if close is not None:
        await close()
