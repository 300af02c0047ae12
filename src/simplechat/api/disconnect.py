"""Ends the work of a non-streaming request whose client has gone away, or whose server stops."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

from fastapi import Request

from simplechat.draining import Drain

T = TypeVar("T")


class ClientGone(Exception):
    """The client disconnected before its answer was ready."""


class CutOffByShutdown(Exception):
    """The server stopped (its drain's grace period ran out) before the answer was ready."""


async def _disconnected(request: Request) -> None:
    # The body has been read, so the next message can only be the disconnect.
    while (await request.receive())["type"] != "http.disconnect":
        pass


async def unless_disconnected(request: Request, work: Awaitable[T]) -> T:
    """Await `work`; if the client leaves first, cancel it (freeing the model) and raise
    ClientGone; if the server's shutdown grace runs out first, cancel it and raise
    CutOffByShutdown (a clear 503 rather than the 500 of a task the server cancels)."""
    task = asyncio.ensure_future(work)
    watcher = asyncio.ensure_future(_disconnected(request))
    drain: Drain | None = getattr(request.app.state, "drain", None)
    shutdown = asyncio.ensure_future(drain.wait_expired() if drain else asyncio.Event().wait())
    try:
        await asyncio.wait({task, watcher, shutdown}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        watcher.cancel()
        shutdown.cancel()
    if not task.done():
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        raise CutOffByShutdown() if drain is not None and drain.expired else ClientGone()
    return task.result()
