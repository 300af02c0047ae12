"""A conversation's exact prompt tokens, and how many of its newest turns fit the context."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from simplechat.engines.base import EngineError, Message
from simplechat.service import ChatService


class NotCounted(EngineError):
    """This server forwards to another model server and has no tokenizer to count with."""


@dataclass(frozen=True)
class Fitting:
    """`start`: the index in the history from which the turns are kept (leading system
    messages always are); `prompt_tokens`: the prompt the model reads with them."""

    start: int
    prompt_tokens: int


@dataclass(frozen=True)
class TokenCount:
    prompt_tokens: int  # the whole conversation, as sent
    context_length: int
    max_tokens: int
    #: Newest first: each turn boundary's prompt, up to the first that leaves no room for
    #: `max_tokens` (included, so that a client sees where it stops).
    fittings: tuple[Fitting, ...]


def count_conversation(
    service: ChatService, history: Sequence[Message], message: str, max_tokens: int | None
) -> TokenCount:
    """Renders the conversation with the model's template and counts its tokens, once whole and
    once per turn boundary (a user message), newest first, until the answer's room runs out.
    Raises NotCounted where the engine does not count (an OpenAI upstream)."""
    engine = service.engine
    if not engine.counts_tokens:
        raise NotCounted(
            "This server forwards to another model server and cannot count tokens; estimate "
            "them, or ask that server."
        )
    answer = max_tokens or service.default_max_tokens
    room = engine.context_length - answer
    lead = 0
    while lead < len(history) and history[lead].role == "system":
        lead += 1
    question = Message("user", message)

    def count(start: int) -> int:
        return engine.count_tokens(
            service.chat_prompt([*history[:lead], *history[start:], question])
        )

    starts = [i for i in range(lead, len(history)) if history[i].role == "user"]
    fittings: list[Fitting] = []
    for start in [len(history), *reversed(starts)]:
        fittings.append(Fitting(start, count(start)))
        if fittings[-1].prompt_tokens > room:
            break
    whole = fittings[-1].prompt_tokens if fittings[-1].start == lead else count(lead)
    return TokenCount(whole, engine.context_length, answer, tuple(fittings))
