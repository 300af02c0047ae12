"""Token counts estimated from text, for the quotas where the model server gave no count.

A tokenizer is not at hand (the gateway is stdlib only), so the estimate is by characters:
ASCII text takes about 4 characters a token in the BPE vocabularies of today's chat models,
and other scripts (Japanese, emoji) about one token a character or more, so every non-ASCII
character counts as one token. Each message adds TURN_TOKENS for the chat template's own text.
The estimate errs high for the prompt: a quota charged a little too much is safer than one a
client can step around with long prompts in a stream it leaves early.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

#: The chat template's text around each message (role markers, end of turn).
TURN_TOKENS = 4


def text_tokens(text: str) -> int:
    """About how many tokens `text` is: a quarter of its ASCII characters (rounded up), plus
    one for each other character."""
    ascii_chars = sum(1 for char in text if char < "\x80")
    return -(-ascii_chars // 4) + (len(text) - ascii_chars)


def prompt_tokens(messages: Iterable[Mapping[str, str]]) -> int:
    """About how many tokens the model reads for `messages` (system prompt included)."""
    return sum(text_tokens(str(m.get("content", ""))) + TURN_TOKENS for m in messages)
