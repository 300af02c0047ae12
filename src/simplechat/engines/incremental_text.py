"""Text from a growing list of token ids, handed out only once each character is complete."""

from __future__ import annotations

from typing import Any


class IncrementalText:
    """Decodes a growing token list, emitting only text that is complete."""

    def __init__(self, tokenizer: Any) -> None:
        self._tokenizer = tokenizer
        self._ids: list[int] = []
        self._emitted = 0

    def add(self, token: int) -> str:
        self._ids.append(token)
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        if text.endswith("\ufffd"):  # half of a multi-byte character: wait for the rest
            return ""
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece

    def flush(self) -> str:
        text = self._tokenizer.decode(self._ids, skip_special_tokens=True)
        piece = text[self._emitted :]
        self._emitted = len(text)
        return piece
