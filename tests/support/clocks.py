"""Clocks a test sets by hand, so that no result depends on the machine's speed or the hour."""

from __future__ import annotations

import threading


class Clock:
    """Reads `now` (seconds since the epoch, or any origin); the test moves it."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class TickingClock:
    """`step` seconds later at every reading (thread-safe), so that order never depends on the
    machine's speed."""

    def __init__(self, now: float = 1_780_000_000.0, step: float = 1.0) -> None:
        self.now = now
        self.step = step
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            self.now += self.step
            return self.now
