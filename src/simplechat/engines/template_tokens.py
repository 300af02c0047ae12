"""A chat template's own text, tokenized once: the same few pieces start and end every prompt."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable

#: Distinct template pieces kept (a template has a handful: the system preamble, the glue
#: between turns, the assistant's opening); the least recently used goes first.
MAX_PIECES = 256
#: Longer template text (a long system prompt rendered into it) is tokenized every time.
MAX_PIECE_CHARS = 4_096


class TemplateTokens:
    """Tokens of trusted template text, remembered: llama.cpp took 50-100 µs to tokenize each
    piece again (it scans for every special token), 0.15 ms of every request's first token."""

    def __init__(self, encode: Callable[[str, bool], list[int]]) -> None:
        self._encode = encode  # (text, add_bos) -> tokens, special tokens parsed
        self._known: OrderedDict[tuple[str, bool], tuple[int, ...]] = OrderedDict()
        self._lock = threading.Lock()  # long prompts are tokenized in worker threads

    def __call__(self, text: str, add_bos: bool) -> list[int]:
        if len(text) > MAX_PIECE_CHARS:
            return self._encode(text, add_bos)
        key = (text, add_bos)
        with self._lock:
            tokens = self._known.get(key)
            if tokens is not None:
                self._known.move_to_end(key)
                return list(tokens)
        tokens = tuple(self._encode(text, add_bos))
        with self._lock:
            self._known[key] = tokens
            if len(self._known) > MAX_PIECES:
                self._known.popitem(last=False)
        return list(tokens)
