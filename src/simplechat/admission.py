"""Admission control: a bounded number of requests running or waiting; the rest turned away."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any


class Overloaded(Exception):
    """No room: the client should retry after `retry_after` seconds."""

    def __init__(self, capacity: int, retry_after: int = 2) -> None:
        self.capacity = capacity
        self.retry_after = retry_after
        super().__init__(
            f"The server is busy: {capacity} requests are already running or waiting. "
            f"Retry in {retry_after} seconds."
        )


class Ticket:
    """One admitted request; releasing twice is harmless."""

    def __init__(self, gate: Admission) -> None:
        self._gate = gate
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._gate.in_flight -= 1


class Admission:
    """Counts requests from admission until their answer is complete or abandoned."""

    def __init__(self, capacity: int) -> None:
        self.capacity = capacity
        self.in_flight = 0
        self.rejected = 0

    def acquire(self) -> Ticket:
        if self.in_flight >= self.capacity:
            self.rejected += 1
            raise Overloaded(self.capacity)
        self.in_flight += 1
        return Ticket(self)


class AdmittedStream:
    """A chunk stream that gives its ticket back however it ends: done, closed or dropped."""

    def __init__(self, chunks: AsyncIterator[Any], ticket: Ticket) -> None:
        self._chunks = chunks
        self._ticket = ticket

    def __aiter__(self) -> AdmittedStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._chunks.__anext__()
        except BaseException:
            self._ticket.release()
            raise

    async def aclose(self) -> None:
        self._ticket.release()
        close = getattr(self._chunks, "aclose", None)
        if close is not None:
            await close()

    def __del__(self) -> None:  # never iterated (client left before the first byte)
        self._ticket.release()
