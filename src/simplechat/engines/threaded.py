"""Runs a blocking token generator on a worker thread and streams it to asyncio, cancellably."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncGenerator, Callable, Iterator
from concurrent.futures import Executor
from typing import TypeVar

T = TypeVar("T")

_ITEM, _ERROR, _DONE = range(3)


async def iterate_in_thread(
    produce: Callable[[threading.Event], Iterator[T]], executor: Executor
) -> AsyncGenerator[T, None]:
    """Yield what `produce` yields, without blocking the event loop.

    `produce` gets a cancel event and must check it between tokens: it is set when the
    consumer stops early (client gone, stop sequence hit), so the model stops working.
    """
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[tuple[int, object]] = asyncio.Queue()
    cancel = threading.Event()

    def post(kind: int, value: object) -> None:
        try:
            loop.call_soon_threadsafe(queue.put_nowait, (kind, value))
        except RuntimeError:  # the loop is closed: nobody is listening any more
            cancel.set()

    def work() -> None:
        try:
            if cancel.is_set():  # cancelled while waiting for the worker
                return
            for item in produce(cancel):
                post(_ITEM, item)
                if cancel.is_set():
                    return
        except BaseException as exc:  # handed to the consumer, which re-raises it
            post(_ERROR, exc)
        finally:
            post(_DONE, None)

    loop.run_in_executor(executor, work)
    try:
        while True:
            kind, value = await queue.get()
            if kind == _DONE:
                return
            if kind == _ERROR:
                assert isinstance(value, BaseException)
                raise value
            yield value  # type: ignore[misc]
    finally:
        cancel.set()
