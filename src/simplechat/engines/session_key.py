"""A conversation's routing key (`X-Session-ID`) for a router in front of several model servers:
each turn of a conversation gets the same key, so a router with session affinity (vLLM's router,
`--policy consistent_hash`) sends it to the server whose prompt cache already holds it."""

from __future__ import annotations

import hashlib
import json

from simplechat.engines.base import Prompt

#: The header vLLM's router (and SGLang's) reads first for consistent hashing.
SESSION_HEADER = "X-Session-ID"


def conversation_key(prompt: Prompt) -> str | None:
    """A key from what stays the same from turn to turn: the messages up to and including the
    first user message (system prompt included). A digest, so no text leaves in the header."""
    opening = []
    for message in prompt.messages:
        opening.append([message.role, message.content])
        if message.role == "user":
            break
    if not opening:
        return None
    digest = hashlib.sha256(json.dumps(opening, ensure_ascii=False).encode()).hexdigest()
    return f"conv-{digest[:32]}"
