"""Streaming detokenization with the bundled model's real tokenizer: the pieces add up to the
whole decode, and no piece carries half a character."""

from __future__ import annotations

from typing import Any

import pytest

from simplechat.engines.base import Engine
from simplechat.engines.incremental_text import IncrementalText
from simplechat.engines.transformers import TransformersEngine

pytestmark = pytest.mark.real_model

TEXTS = [
    "Hello, world! Spaces  and\nnew lines.",
    "日本の首都は東京です。富士山🗻はきれい！",
    "mixed: café, naïve, 한국어, emoji 👩‍👩‍👧 end",
]


@pytest.mark.parametrize("text", TEXTS)
def test_pieces_add_up_to_the_whole_text(transformers_engine: Engine, text: str) -> None:
    assert isinstance(transformers_engine, TransformersEngine)
    tokenizer: Any = transformers_engine._tokenizer
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    stream = IncrementalText(tokenizer)
    pieces = [stream.add(token) for token in ids]
    pieces.append(stream.flush())
    assert "".join(pieces) == tokenizer.decode(ids, skip_special_tokens=True)
    assert not any("\ufffd" in piece for piece in pieces)
    assert sum(1 for piece in pieces if piece) > len(ids) // 3  # it streams, not one lump
