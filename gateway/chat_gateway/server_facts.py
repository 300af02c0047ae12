"""What a model server says about an answer besides its text: its context and its speed.

Our server sends `context_length` and `timings` {time_to_first_token (s), tokens_per_second}
with every answer (docs/context.md); llama-server sends `timings` {prompt_ms,
predicted_per_second}. Anything else sends neither, and the gateway's own clock stands in.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ServerFacts:
    context_length: int | None = None
    first_token_seconds: float | None = None
    tokens_per_second: float | None = None


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        return None
    return float(value)


def facts_of(data: Any) -> ServerFacts:
    """The facts in an answer's JSON, its `done` event or its usage chunk; odd values are
    dropped (they are for display and the log, never worth failing an answer for)."""
    if not isinstance(data, dict):
        return ServerFacts()
    context = data.get("context_length")
    raw = data.get("timings")
    timings: dict[str, Any] = raw if isinstance(raw, dict) else {}
    first = _number(timings.get("time_to_first_token"))
    if first is None and _number(timings.get("prompt_ms")) is not None:
        first = float(timings["prompt_ms"]) / 1000
    speed = _number(timings.get("tokens_per_second"))
    if speed is None:
        speed = _number(timings.get("predicted_per_second"))
    return ServerFacts(
        context_length=context if isinstance(context, int) and context > 0 else None,
        first_token_seconds=first,
        tokens_per_second=speed,
    )


def merged(old: ServerFacts, new: ServerFacts) -> ServerFacts:
    """Facts from a later event win where they say something."""
    return ServerFacts(
        new.context_length or old.context_length,
        new.first_token_seconds if new.first_token_seconds is not None else old.first_token_seconds,
        new.tokens_per_second if new.tokens_per_second is not None else old.tokens_per_second,
    )


def speed_fields(
    facts: ServerFacts,
    completion_tokens: int | None,
    first_token_seconds: float | None,
    generating_seconds: float | None,
) -> dict[str, Any]:
    """The `speed` object of an answer (docs/context.md): the server's own timings where it
    sent them, else the gateway's clock (`measuredBy` says which)."""
    if facts.tokens_per_second is not None or facts.first_token_seconds is not None:
        first, rate, by = facts.first_token_seconds, facts.tokens_per_second, "server"
    else:
        first, rate, by = first_token_seconds, None, "gateway"
        if completion_tokens and completion_tokens > 1 and generating_seconds:
            rate = (completion_tokens - 1) / generating_seconds
    return {
        "tokensPerSecond": None if rate is None else round(rate, 1),
        "timeToFirstTokenMs": None if first is None else round(first * 1000),
        "measuredBy": by,
    }
