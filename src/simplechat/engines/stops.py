"""Stop sequences over a stream of text: cut at the first match, hold back partial matches."""

from __future__ import annotations

from collections.abc import Iterable


class StopFilter:
    """Feeds streamed text through; never emits any part of a stop sequence."""

    def __init__(self, stops: Iterable[str]) -> None:
        self._stops = [s for s in stops if s]
        self._pending = ""

    def feed(self, text: str) -> tuple[str, bool]:
        """Return (text safe to emit, whether a stop sequence was hit)."""
        if not self._stops:
            return text, False
        self._pending += text
        hits = [i for i in (self._pending.find(s) for s in self._stops) if i >= 0]
        if hits:
            out = self._pending[: min(hits)]
            self._pending = ""
            return out, True
        # Hold back the longest tail that could still grow into a stop sequence.
        hold = max((self._partial_match(s) for s in self._stops), default=0)
        cut = len(self._pending) - hold
        out, self._pending = self._pending[:cut], self._pending[cut:]
        return out, False

    def flush(self) -> str:
        """The held-back text, once the stream has ended without a stop."""
        out, self._pending = self._pending, ""
        return out

    def _partial_match(self, stop: str) -> int:
        for size in range(min(len(stop) - 1, len(self._pending)), 0, -1):
            if self._pending.endswith(stop[:size]):
                return size
        return 0
