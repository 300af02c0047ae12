"""A conversation's own instructions as the model reads them: a `system` turn before the
messages, which `upstream.with_system` puts after the operator's SYSTEM_PROMPT, so a user's
instructions add to the operator's and can never remove or replace them."""

from __future__ import annotations


def instruction_turns(instructions: str) -> list[dict[str, str]]:
    """[] for a conversation without instructions; read at each turn, so a change takes
    effect from the next answer."""
    return [{"role": "system", "content": instructions}] if instructions else []
