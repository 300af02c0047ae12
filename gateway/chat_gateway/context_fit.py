"""A stored conversation's history fitted to the model's context by tokens, never mid-turn.

MAX_HISTORY_MESSAGES / MAX_HISTORY_CHARS still cap what is considered (conversation_turn.py);
within them, the newest turns that leave `max_tokens` free for the answer are sent, counted by
our model server's `POST /chat/count` (the model's own template and tokenizer), or estimated
(token_estimate.py) where the upstream has no such route: another OpenAI-compatible server, a
course server, SageMaker. The system prompt and the new message are always sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.http_client import Broken, Reply, TimedOut, Unreachable, post_json
from chat_gateway.token_estimate import prompt_tokens
from chat_gateway.upstream import auth_headers, cancel_endpoint, prompt_messages, with_system

#: A count is worth little time: past this, or a quarter of what the answer has left (an
#: upstream that hangs on the route must not take the answer's time), the estimate stands in.
COUNT_SECONDS = 5.0
COUNT_SHARE = 0.25


@dataclass(frozen=True)
class ContextReport:
    """How the model was asked: for the `context` object of the answer (docs/context.md)."""

    prompt_tokens: int | None
    context_length: int | None
    max_tokens: int
    #: earlier user turns of the stored conversation that the model was not sent
    left_out: int
    #: the index of the first stored message the model was sent
    history_from: int
    estimated: bool

    def fields(self, prompt_tokens: int | None = None) -> dict[str, Any]:
        """`prompt_tokens`: the server's own count of the prompt it read, where it sent one."""
        exact = isinstance(prompt_tokens, int)
        return {
            "promptTokens": prompt_tokens if exact else self.prompt_tokens,
            "contextLength": self.context_length,
            "maxTokens": self.max_tokens,
            "leftOutTurns": self.left_out,
            "historyFrom": self.history_from,
            "tokensEstimated": self.estimated and not exact,
        }


def context_fields(
    report: ContextReport | None, usage: dict[str, Any], context_length: int | None, config: Config
) -> dict[str, Any]:
    """The answer's `context` object: the fitting's report (or, for a request that brought its
    own history, no fitting), with the server's own prompt count and context where it sent
    them."""
    prompt = usage.get("prompt_tokens")
    prompt = prompt if isinstance(prompt, int) and not isinstance(prompt, bool) else None
    if report is None:
        report = ContextReport(None, None, config.max_tokens, 0, 0, prompt is None)
    fields = report.fields(prompt)
    fields["contextLength"] = context_length or report.context_length or config.context_tokens
    return fields


@dataclass(frozen=True)
class Counted:
    context_length: int
    #: (start in the history sent, its prompt's tokens), newest first
    fittings: list[tuple[int, int]]


def _user_turns(messages: list[dict[str, str]]) -> int:
    return sum(1 for m in messages if m.get("role") == "user")


def _lead(history: list[dict[str, str]]) -> int:
    """How many system messages open the history: always sent, as our server counts them."""
    lead = 0
    while lead < len(history) and history[lead]["role"] == "system":
        lead += 1
    return lead


def _starts(history: list[dict[str, str]]) -> list[int]:
    """Where the turns sent may begin without cutting a turn: at a user message, or none."""
    lead = _lead(history)
    return [i for i, m in enumerate(history) if i >= lead and m["role"] == "user"] + [len(history)]


def _from(history: list[dict[str, str]], start: int) -> list[dict[str, str]]:
    """The opening system messages, then the turns from `start` on."""
    lead = _lead(history)
    return [*history[:lead], *history[max(start, lead) :]]


class Fitter:
    """One per gateway: remembers, for CACHE_TTL_SECONDS, an upstream without a count route."""

    def __init__(self, config: Config, post: Callable[..., Reply] = post_json) -> None:
        self._config = config
        self._post = post
        self._uncounted: dict[str, float] = {}

    def fit(
        self,
        chat: ChatInput,
        stored: int,
        stored_users: int,
        url: str,
        api_key: str,
        deadline: float,
    ) -> tuple[ChatInput, ContextReport]:
        """`chat` with the newest of its history that fits, and the report. `stored`: how many
        stored messages came before this turn; `stored_users`: how many of them are questions."""
        config = self._config
        history = chat.history
        counted = self._count(chat, url, api_key, deadline) if url else None
        if counted is not None:
            context: int | None = counted.context_length
            room = counted.context_length - config.max_tokens
            # The server counts the history as sent: the operator's system prompt comes first.
            shift = len(with_system([], config.system_prompt))
            fittings = [(s - shift, n) for s, n in counted.fittings if s >= shift]
            fitting = [(s, n) for s, n in fittings if n <= room]
            # None fits, not even the new message alone: it goes alone, and the server says
            # how long it is.
            start, tokens = fitting[-1] if fitting else (len(history), counted.fittings[0][1])
            start = min(max(0, start), len(history))
        else:
            context = config.context_tokens
            start, tokens = self._estimate(chat, context)
        kept = _from(history, start)
        fitted = replace(chat, history=kept)
        report = ContextReport(
            prompt_tokens=tokens,
            context_length=context,
            max_tokens=config.max_tokens,
            left_out=stored_users - _user_turns(kept),
            history_from=stored - (len(history) - max(start, _lead(history))),
            estimated=counted is None,
        )
        return fitted, report

    def _estimate(self, chat: ChatInput, context: int | None) -> tuple[int, int]:
        """The oldest turn boundary whose estimated prompt leaves the answer its room (all of
        the history where the context is unknown)."""
        system = self._config.system_prompt
        starts = _starts(chat.history)
        estimates = [
            (
                s,
                prompt_tokens(
                    prompt_messages(replace(chat, history=_from(chat.history, s)), system)
                ),
            )
            for s in starts
        ]
        if context is None:
            return estimates[0]
        room = context - self._config.max_tokens
        for start, tokens in estimates:
            if tokens <= room:
                return start, tokens
        return estimates[-1]

    def _count(self, chat: ChatInput, url: str, api_key: str, deadline: float) -> Counted | None:
        """Our server's exact counts, or None: not ours (no route), or no answer in time."""
        config = self._config
        if config.upstream_protocol not in ("chat", "openai"):
            return None  # a course server's /generate, SageMaker: no count route to ask
        target = cancel_endpoint(url, "/count")
        now = time.monotonic()
        if self._uncounted.get(target, 0.0) > now:
            return None
        payload = {
            "message": chat.message,
            "conversationHistory": with_system(chat.history, config.system_prompt),
            "max_tokens": config.max_tokens,
        }
        try:
            reply = self._post(
                target,
                payload,
                auth_headers(api_key),
                connect_timeout=config.connect_timeout_seconds,
                deadline=now + min(COUNT_SECONDS, max(0.0, deadline - now) * COUNT_SHARE),
            )
        except (Unreachable, TimedOut, Broken):
            return None  # the answer's own request will say what is wrong, if anything
        counted = _parse(reply)
        if counted is None and reply.status != 429 and reply.status < 500:
            # Not ours (no such route, or an answer that is no count): not asked again for a
            # while. A busy or failing server may be ours: asked again next time.
            self._uncounted[target] = now + config.cache_ttl_seconds
        return counted


def _parse(reply: Reply) -> Counted | None:
    if reply.status != 200:
        return None
    try:
        data = reply.json()
        context = data["context_length"]
        fittings = [(f["start"], f["prompt_tokens"]) for f in data["fittings"]]
    except (ValueError, KeyError, TypeError):
        return None
    numbers = [context, *(n for pair in fittings for n in pair)]
    if not fittings or not all(isinstance(n, int) and not isinstance(n, bool) for n in numbers):
        return None
    return Counted(context, fittings)
