"""A request's prompt rendered and tokenized: on the event loop when short, off it when long."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any, TypeVar

from starlette.concurrency import run_in_threadpool

T = TypeVar("T")

#: Up to this many characters of text, rendering and tokenizing take under a millisecond with
#: the bundled model (50: 0.26 ms, 2,000: 0.74 ms, 8,000: 2.2 ms), less than a hop to a worker
#: thread and back adds to a short request's first token under load; longer prompts go off the
#: event loop, so the other streams are not held up meanwhile.
INLINE_CHARS = 2_000


async def prepare(chars: int, build: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """`build(*args, **kwargs)` for a prompt of `chars` characters, inline or in a thread."""
    if chars <= INLINE_CHARS:
        return build(*args, **kwargs)
    return await run_in_threadpool(partial(build, *args, **kwargs))
