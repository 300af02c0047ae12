"""Text from a growing list of token ids, handed out only once each character is complete."""

from __future__ import annotations

from typing import Any


class IncrementalText:
    """Decodes only a short window at the end of the answer per token (not the whole answer).

    The window starts a few tokens back (`_prefix`) so that tokenizers which drop a leading space
    from the first decoded token do so on both sides of the comparison; the new text is what the
    window gained since `_read`. A window ending in half a character waits for the rest.
    """

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._prefix = 0  # window start
        self._read = 0  # tokens already turned into text

    def _decode(self, start: int, end: int) -> str:
        return str(self._tokenizer.decode(self._ids[start:end], skip_special_tokens=True))

    def add(self, token: int) -> str:
        self._ids.append(token)
        before = self._decode(self._prefix, self._read)
        now = self._decode(self._prefix, len(self._ids))
        if len(now) <= len(before) or now.endswith("\ufffd"):
            return ""  # nothing visible yet, or half of a multi-byte character
        self._prefix, self._read = self._read, len(self._ids)
        return now[len(before) :]

    def flush(self) -> str:
        """Whatever is left, even an incomplete character (the answer has ended)."""
        before = self._decode(self._prefix, self._read)
        now = self._decode(self._prefix, len(self._ids))
        self._prefix = self._read = len(self._ids)
        return now[len(before) :]
