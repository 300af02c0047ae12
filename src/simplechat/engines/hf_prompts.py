"""Chat prompts with a Hugging Face tokenizer: its chat template, and token ids that keep user
text as data (shared by the transformers and vLLM engines)."""

from __future__ import annotations

import logging
import threading
from collections.abc import Sequence
from typing import Any

from jinja2 import TemplateError

from simplechat.engines.base import Message, Prompt, refuse_unseparated_control_tokens
from simplechat.engines.chat_template import (
    as_dicts,
    render_plain,
    render_separating_user_text,
    template_refusal,
)

log = logging.getLogger(__name__)


class HfChatPrompts:
    """Renders conversations and tokenizes prompts for one tokenizer."""

    def __init__(self, tokenizer: Any) -> None:
        self.tokenizer = tokenizer
        # A fast tokenizer takes `split_special_tokens` as a flag set on the one shared Rust
        # tokenizer before each encode (which runs without the GIL): two prompts tokenized at
        # once on two threads could each encode under the other's flag, turning control tokens
        # a user typed into real ones. One prompt at a time, all of its parts together.
        self._encoding = threading.Lock()
        if not tokenizer.chat_template:
            log.warning("model has no chat template; using a plain User:/Assistant: prompt")

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        if not self.tokenizer.chat_template:
            return render_plain(messages)

        def render(marked: list[Message]) -> str:
            try:
                text = self.tokenizer.apply_chat_template(
                    as_dicts(marked), tokenize=False, add_generation_prompt=True
                )
            except TemplateError as exc:
                raise template_refusal(exc) from exc
            return str(text)

        return render_separating_user_text(render, messages)

    def token_ids(self, prompt: Prompt) -> list[int]:
        """Part by part: special tokens are parsed in template text only, never in user text."""
        tokenizer = self.tokenizer
        # A rendered template already starts with BOS where the model wants one.
        bos = tokenizer.bos_token
        ids: list[int] = []

        def encode(text: str, special: bool) -> list[int]:
            part = tokenizer(text, add_special_tokens=False, split_special_tokens=not special)
            return list(part["input_ids"])

        with self._encoding:
            refuse_unseparated_control_tokens(prompt, encode)
            if not (bos and prompt.text.startswith(bos)):
                ids += tokenizer("", add_special_tokens=True)["input_ids"]
            for text, trusted in prompt.parts:
                ids += encode(text, trusted)
        return ids
