"""Clocks a test sets by hand, so that no result depends on the machine's speed or the hour."""

from __future__ import annotations

import threading
import time


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


def utc_minute(now: float | None = None) -> str:
    """The UTC minute the gateway counts requests per ("2026-12-02T05:47")."""
    return time.strftime("%Y-%m-%dT%H:%M", time.gmtime(time.time() if now is None else now))


def room_in_this_minute(seconds: float) -> None:
    """Waits, if needed, until at least `seconds` of the current UTC minute remain: for tests
    of a real process's per-minute counts, which cannot take an injected clock. The caller
    still checks the minute afterwards and tries again in a fresh one if it changed."""
    left = 60 - time.time() % 60
    if left < seconds:
        time.sleep(left + 0.05)
