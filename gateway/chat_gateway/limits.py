"""Per-user limits on one model server: tokens a day, requests a minute, answers at once.

Checked before the model server is called; a refusal is a 429 that says which limit, how far,
and when it resets (`Retry-After`, and `limit` in the body for the UI's own words). Tokens are
counted after each answer from the model server's `usage` (prompt + completion; a stopped
answer counts what it generated), so a day's total can pass the limit by the answers that were
already running when it was reached, never by more.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from chat_gateway.errors import GatewayError
from chat_gateway.usage import UsageStore

#: What Retry-After says when all of a user's answers are running: one of them must end first,
#: and an answer takes seconds; the UI says why rather than counting down.
CONCURRENT_RETRY_SECONDS = 5


@dataclass(frozen=True)
class Limits:
    """Each None: no limit (the default, as before limits existed)."""

    tokens_per_day: int | None = None
    requests_per_minute: int | None = None
    concurrent_answers: int | None = None

    @property
    def any(self) -> bool:
        limits = (self.tokens_per_day, self.requests_per_minute, self.concurrent_answers)
        return any(limit is not None for limit in limits)


def tokens_of(usage: Mapping[str, Any]) -> int:
    """What an answer used, from the model server's counts (0 when it gives none)."""
    counts = [usage.get("prompt_tokens"), usage.get("completion_tokens")]
    return sum(n for n in counts if isinstance(n, int) and not isinstance(n, bool) and n > 0)


class Ticket:
    """One admitted answer: `finish` gives its running slot back and counts its tokens."""

    def __init__(self, meter: Meter | None, user: str, lease: str, day: str) -> None:
        self._meter, self.user, self.lease, self.day = meter, user, lease, day
        self._finished = False

    def finish(self, usage: Mapping[str, Any] | None) -> None:
        if self._finished or self._meter is None:
            return
        self._finished = True
        self._meter.finish(self, tokens_of(usage or {}))


class Meter:
    """Admits or refuses a user's chat request, and tells the user where they stand."""

    def __init__(
        self,
        store: UsageStore | None,
        limits: Limits,
        *,
        lease_seconds: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.limits, self.lease_seconds, self.clock = (
            store,
            limits,
            lease_seconds,
            clock,
        )

    def admit(self, user: str) -> Ticket:
        """A ticket for one answer, or GatewayError 429 naming the limit that is reached."""
        if self.store is None:
            return Ticket(None, user, "", "")
        now = self.clock()
        day, minute = day_of(now), minute_of(now)
        limits = self.limits
        if limits.tokens_per_day is not None:
            used = self.store.day(user, day).tokens
            if used >= limits.tokens_per_day:
                raise refusal(
                    "tokensPerDay",
                    limits.tokens_per_day,
                    used,
                    next_day(now),
                    now,
                    f"You have used {used:,} tokens today; the limit is "
                    f"{limits.tokens_per_day:,} a day.",
                )
        lease = uuid.uuid4().hex
        if not self.store.acquire(
            user, lease, limits.concurrent_answers, now, now + self.lease_seconds
        ):
            held = limits.concurrent_answers or 0
            raise refusal(
                "concurrentAnswers",
                held,
                held,
                None,
                now,
                f"You already have {held} answer{'s' if held != 1 else ''} being written, the "
                "most at once; wait for one to finish (or stop it).",
            )
        if not self.store.count_request(user, day, minute, limits.requests_per_minute):
            self.store.release(user, lease)
            per_minute = limits.requests_per_minute or 0
            raise refusal(
                "requestsPerMinute",
                per_minute,
                per_minute,
                next_minute(now),
                now,
                f"You have sent {per_minute} messages this minute, the most a minute allows.",
            )
        return Ticket(self, user, lease, day)

    def finish(self, ticket: Ticket, tokens: int) -> None:
        assert self.store is not None
        try:
            self.store.release(ticket.user, ticket.lease)
        finally:
            if tokens:
                self.store.add_tokens(ticket.user, ticket.day, tokens)

    def report(self, user: str) -> dict[str, Any]:
        """GET /usage: today's counts against the limits (null: no limit)."""
        assert self.store is not None
        now = self.clock()
        day = self.store.day(user, day_of(now))
        limits = self.limits
        return {
            "day": day_of(now),
            "tokens": {
                "used": day.tokens,
                "limit": limits.tokens_per_day,
                "resetsAt": iso(next_day(now)),
            },
            "requests": {
                "today": day.requests,
                "thisMinute": self.store.minute_requests(user, minute_of(now)),
                "perMinuteLimit": limits.requests_per_minute,
                "resetsAt": iso(next_minute(now)),
            },
            "answers": {
                "running": self.store.running(user, now),
                "limit": limits.concurrent_answers,
            },
        }


def refusal(
    name: str, limit: int, used: int, resets: datetime | None, now: float, text: str
) -> GatewayError:
    wait = (
        CONCURRENT_RETRY_SECONDS if resets is None else max(1, math.ceil(resets.timestamp() - now))
    )
    when = (
        "Try again when one of them has finished."
        if resets is None
        else f"It resets at {resets.strftime('%H:%M')} UTC, in {spoken(wait)}."
    )
    details = {"name": name, "limit": limit, "used": used, "retryAfter": wait}
    if resets is not None:
        details["resetsAt"] = iso(resets)
    return GatewayError(
        429,
        f"{text} {when}",
        headers={"Retry-After": str(wait)},
        details={"limit": details},
    )


def spoken(seconds: int) -> str:
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def day_of(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%d")


def minute_of(now: float) -> str:
    return datetime.fromtimestamp(now, tz=UTC).strftime("%Y-%m-%dT%H:%M")


def next_day(now: float) -> datetime:
    moment = datetime.fromtimestamp(now, tz=UTC)
    return moment.replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(days=1)


def next_minute(now: float) -> datetime:
    moment = datetime.fromtimestamp(now, tz=UTC)
    return moment.replace(second=0, microsecond=0) + timedelta(minutes=1)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")
