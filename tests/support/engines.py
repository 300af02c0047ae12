"""Engines for tests that need to see what the model was asked."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from simplechat.engines.base import Message, Prompt
from simplechat.engines.fake import FakeEngine


class RecordingEngine(FakeEngine):
    """The fake engine (it answers "You said: <message>"), keeping each chat it was asked."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.asked: list[list[tuple[str, str]]] = []

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        self.asked.append([(m.role, m.content) for m in messages])
        return super().render_chat(messages)
