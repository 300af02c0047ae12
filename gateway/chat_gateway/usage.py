"""Each user's use of the model: the counts the per-user limits read, and the interface both
stores implement (SQLite locally, DynamoDB on AWS: the conversations' table, the user's partition).

Every count is keyed by the user (the Cognito `sub`) and a UTC day ("2026-12-02") or minute
("2026-12-02T05:47"). Each call is atomic on its own, so that concurrent gateways (Lambdas) can
neither lose a count nor admit past a limit.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from chat_gateway.store import StoreError

DAY_PATTERN = re.compile(r"\d{4}-\d\d-\d\d")
MINUTE_PATTERN = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d")


@dataclass(frozen=True)
class DayUsage:
    tokens: int = 0  # answers' tokens, and what running answers reserved (limits.py)
    requests: int = 0  # chat requests admitted that day


class UsageStore(Protocol):
    def day(self, user: str, day: str) -> DayUsage: ...

    def add_tokens(self, user: str, day: str, tokens: int) -> None:
        """Adds to the day's tokens (an atomic add: answers finish concurrently)."""
        ...

    def reserve_tokens(self, user: str, day: str, wanted: int, limit: int) -> int | None:
        """Adds `wanted` tokens to the day, or only as many as `limit` leaves room for, in one
        atomic step; the number added, or None (nothing changed) when the day's tokens have
        reached `limit` already."""
        ...

    def settle_tokens(self, user: str, day: str, reserved: int, used: int) -> None:
        """An answer that reserved `reserved` tokens cost `used`: adds the difference (an
        atomic add, which takes tokens off when the answer cost less)."""
        ...

    def count_request(self, user: str, day: str, minute: str, per_minute: int | None) -> bool:
        """Counts one request in `minute` and in `day`, only if the minute's count is below
        `per_minute` (None: no limit). False: refused, nothing counted."""
        ...

    def minute_requests(self, user: str, minute: str) -> int: ...

    def acquire(self, user: str, lease: str, limit: int | None, now: float, expires: float) -> bool:
        """Holds one of the user's `limit` running answers (None: no limit) until `release`,
        or until `expires` (epoch seconds) for a gateway that died holding it. Leases whose
        `expires` is past `now` do not count. False: all are held, nothing changed."""
        ...

    def release(self, user: str, lease: str) -> None:
        """Gives the lease back; releasing one that is gone (expired, released) is fine."""
        ...

    def running(self, user: str, now: float) -> int:
        """Leases held and not expired at `now`."""
        ...


def day_start(day: str) -> float:
    """Epoch seconds at the start of a UTC `day`; StoreError for anything else, so keys sort."""
    return _start(day, DAY_PATTERN, "%Y-%m-%d", "day like 2026-12-02")


def minute_start(minute: str) -> float:
    """Epoch seconds at the start of a UTC `minute` ("2026-12-02T05:47")."""
    return _start(minute, MINUTE_PATTERN, "%Y-%m-%dT%H:%M", "minute like 2026-12-02T05:47")


def _start(value: str, pattern: re.Pattern[str], form: str, what: str) -> float:
    # The pattern first: strptime alone takes "2026-1-2", which would sort out of order.
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise StoreError(f"{value!r} is not a UTC {what}.")
    try:
        return datetime.strptime(value, form).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise StoreError(f"{value!r} is not a UTC {what} (there is no such date).") from None


def check_lease(lease: str) -> str:
    if not isinstance(lease, str) or not lease:
        raise StoreError("A running answer's lease needs an id (a non-empty string).")
    return lease


def check_tokens(tokens: int) -> int:
    if isinstance(tokens, bool) or not isinstance(tokens, int) or tokens < 0:
        raise StoreError(f"{tokens!r} tokens: a count to add must be a whole number of 0 or more.")
    return tokens


def is_live(expires: float, now: float) -> bool:
    """One rule for both stores: a lease counts until its `expires` is past `now`."""
    return expires >= now
