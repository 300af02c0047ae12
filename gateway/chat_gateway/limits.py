"""Per-user limits on one model server: tokens a day, requests a minute, answers at once.

Checked before the model server is called; a refusal is a 429 that says which limit, how far,
and when it resets (`Retry-After`, and `limit` in the body for the UI's own words).

Tokens: with a daily limit, each request reserves at admission what it may use, its prompt
(estimated from characters, token_estimate.py) plus the most the model may write for it
(MAX_TOKENS), bounded by what is left of the day; a user with nothing left is refused. When
the answer ends, the reservation is settled to what it cost: on `done`, the model server's
`usage` (prompt + completion; a stopped answer counts what it generated); on any other ending
(the client left, the model server failed or went quiet, the time ran out) the prompt plus what
was generated so far, estimated where the server gave no counts. A request that never reached
the model server gives its reservation back. So leaving a stream early saves nothing, and the
day's total passes the limit by at most what the last admitted answers wrote beyond the room
that was left for them.
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


def count_of(value: Any) -> int | None:
    """A token count the model server gave: a whole number of 0 or more, else None."""
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None


def tokens_of(usage: Mapping[str, Any], prompt_estimate: int, completion_estimate: int) -> int:
    """What an answer cost: the model server's counts, each estimate standing in for a count
    it did not give."""
    prompt = count_of(usage.get("prompt_tokens"))
    completion = count_of(usage.get("completion_tokens"))
    return (prompt_estimate if prompt is None else prompt) + (
        completion_estimate if completion is None else completion
    )


class Ticket:
    """One admitted answer: `finish` gives its running slot back and settles its tokens;
    `cancel` (the model server was never asked) gives back its reservation too."""

    def __init__(
        self,
        meter: Meter | None,
        user: str,
        lease: str,
        day: str,
        *,
        reserved: int = 0,
        prompt_estimate: int = 0,
    ) -> None:
        self._meter, self.user, self.lease, self.day = meter, user, lease, day
        self.reserved, self.prompt_estimate = reserved, prompt_estimate
        self._finished = False

    def finish(self, usage: Mapping[str, Any] | None, completion_estimate: int = 0) -> None:
        """The answer ended: `usage` as the model server counted it ({} or None: it gave no
        counts, so the prompt estimate and `completion_estimate` are charged)."""
        self._settle(tokens_of(usage or {}, self.prompt_estimate, completion_estimate))

    def cancel(self) -> None:
        """The request never reached the model server (or it refused it): nothing to charge."""
        self._settle(0)

    def _settle(self, tokens: int) -> None:
        if self._finished or self._meter is None:
            return
        self._finished = True
        self._meter.finish(self, tokens)


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

    def admit(self, user: str, *, prompt_tokens: int = 0, max_tokens: int = 0) -> Ticket:
        """A ticket for one answer whose prompt is about `prompt_tokens` and which may write
        `max_tokens`, or GatewayError 429 naming the limit that is reached."""
        if self.store is None:
            return Ticket(None, user, "", "")
        now = self.clock()
        day = day_of(now)
        reserved = self._reserve(user, day, prompt_tokens + max_tokens, now)
        try:
            lease = self._hold(user, day, now)
        except BaseException:
            if reserved:
                self.store.settle_tokens(user, day, reserved, 0)
            raise
        return Ticket(self, user, lease, day, reserved=reserved, prompt_estimate=prompt_tokens)

    def _reserve(self, user: str, day: str, wanted: int, now: float) -> int:
        limit = self.limits.tokens_per_day
        if limit is None:  # nothing to protect: the answer is counted when it ends
            return 0
        assert self.store is not None
        reserved = self.store.reserve_tokens(user, day, wanted, limit)
        if reserved is None:
            used = self.store.day(user, day).tokens
            raise refusal(
                "tokensPerDay",
                limit,
                used,
                next_day(now),
                now,
                f"You have used {used:,} tokens today; the limit is {limit:,} a day.",
            )
        return reserved

    def _hold(self, user: str, day: str, now: float) -> str:
        """One of the user's running answers and one request this minute: the lease."""
        assert self.store is not None
        limits = self.limits
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
        if not self.store.count_request(user, day, minute_of(now), limits.requests_per_minute):
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
        return lease

    def finish(self, ticket: Ticket, tokens: int) -> None:
        assert self.store is not None
        # Tokens first: whoever sees the slot free (GET /usage) sees the answer's cost too.
        try:
            if tokens != ticket.reserved:
                self.store.settle_tokens(ticket.user, ticket.day, ticket.reserved, tokens)
        finally:
            self.store.release(ticket.user, ticket.lease)

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
