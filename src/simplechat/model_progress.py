"""How far a model's download and load have come: written by the download, read by /health."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any


def human_bytes(count: float) -> str:
    """`1.1 GB`, `340 MB`: sizes as a person reads them (decimal units, as the hub shows)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} B"


@dataclass
class Progress:
    """Thread-safe: the download runs in one thread, the HTTP server reads from another."""

    model: str
    phase: str = "starting"  # starting, downloading, loading
    done_bytes: int = 0
    total_bytes: int = 0
    _started: float = field(default_factory=time.monotonic)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def downloading(self, total_bytes: int) -> None:
        with self._lock:
            self.phase, self.total_bytes, self.done_bytes = "downloading", total_bytes, 0
            self._started = time.monotonic()

    def add(self, count: int) -> None:
        """Bytes received (negative when a resumed download had to start a file again)."""
        with self._lock:
            self.done_bytes = max(0, self.done_bytes + count)

    def loading(self) -> None:
        with self._lock:
            self.phase = "loading"

    def snapshot(self) -> dict[str, Any]:
        """What /health reports while the model is not ready."""
        with self._lock:
            state: dict[str, Any] = {"status": self.phase, "model": self.model}
            if self.phase == "downloading":
                elapsed = max(time.monotonic() - self._started, 1e-6)
                state.update(
                    downloaded_bytes=self.done_bytes,
                    total_bytes=self.total_bytes,
                    percent=round(100 * self.done_bytes / self.total_bytes, 1)
                    if self.total_bytes
                    else None,
                    bytes_per_second=round(self.done_bytes / elapsed),
                )
            return state

    def sentence(self) -> str:
        """One line for people: `downloading X: 340 MB of 1.1 GB (30%), 12.0 MB/s`."""
        state = self.snapshot()
        if state["status"] != "downloading":
            return f"{state['status']} {self.model}"
        total = f" of {human_bytes(state['total_bytes'])}" if state["total_bytes"] else ""
        percent = f" ({state['percent']:.0f}%)" if state["percent"] is not None else ""
        speed = human_bytes(state["bytes_per_second"])
        return (
            f"downloading {self.model}: {human_bytes(state['downloaded_bytes'])}{total}"
            f"{percent}, {speed}/s"
        )
