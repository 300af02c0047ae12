"""Graceful shutdown: on SIGTERM stop taking work, let admitted requests finish, then exit."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import uvicorn

log = logging.getLogger("simplechat")


class Drain:
    """Shared by the server and the app: are we draining, and is the grace period over?"""

    def __init__(self, grace_seconds: float) -> None:
        self.grace_seconds = grace_seconds
        self.draining = False
        self.expired = False  # streams still open at the end of the grace period stop now
        self._waiters: set[asyncio.Future[None]] = set()

    def expire(self) -> None:
        """The grace period is over: whatever still runs ends now (called on the event loop)."""
        self.expired = True
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)

    async def wait_expired(self) -> None:
        """Returns when the grace period is over (never, unless the server drains)."""
        if self.expired:
            return
        waiter = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await waiter
        finally:
            self._waiters.discard(waiter)


class DrainingServer(uvicorn.Server):
    """uvicorn, but SIGTERM first drains: /health and new requests get 503, the admitted ones
    finish (up to the grace period), and only then does the server stop. Ctrl-C stops at once."""

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        drain: Drain,
        in_flight: Callable[[], int],
        on_started: Callable[[int], None] | None = None,
    ) -> None:
        super().__init__(config)
        self.drain = drain
        self.in_flight = in_flight
        self.on_started = on_started  # called with the bound port once the server listens
        self._loop: asyncio.AbstractEventLoop | None = None

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets)
        if self.started and self.on_started is not None and self.servers:
            port = self.servers[0].sockets[0].getsockname()[1]
            self.on_started(port)

    async def serve(self, sockets: Any = None) -> None:
        self._loop = asyncio.get_running_loop()
        await super().serve(sockets)

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if sig != signal.SIGTERM or self.drain.draining or self._loop is None:
            super().handle_exit(sig, frame)
            return
        self.drain.draining = True
        log.info(
            "SIGTERM: draining (up to %.0f s for %d requests)",
            self.drain.grace_seconds,
            self.in_flight(),
        )
        loop = self._loop
        loop.call_soon_threadsafe(lambda: loop.create_task(self._finish_then_exit()))

    async def _finish_then_exit(self) -> None:
        loop = asyncio.get_running_loop()
        end = loop.time() + self.drain.grace_seconds
        while self.in_flight() > 0 and loop.time() < end:
            await asyncio.sleep(0.05)
        if self.in_flight() > 0:
            self.drain.expire()  # open streams send a final error event, the others a 503
            await asyncio.sleep(0.5)
        self.should_exit = True


@contextmanager
def sigterm_ends_like_ctrl_c() -> Iterator[None]:
    """uvicorn re-raises SIGTERM once it has shut down; with the default handler that kills the
    process before the caller's `finally` (closing the engine, the last log line) can run. While
    this is entered, that last SIGTERM is a SystemExit(0) instead."""

    def _exit(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = signal.signal(signal.SIGTERM, _exit)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
