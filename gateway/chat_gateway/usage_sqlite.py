"""Each user's usage in the conversations' SQLite file (the local stack): a transaction per call."""

from __future__ import annotations

from pathlib import Path

from chat_gateway.store_sqlite import SqliteStore
from chat_gateway.usage import (
    DayUsage,
    check_lease,
    check_tokens,
    day_start,
    is_live,
    minute_start,
)

SCHEMA = """
CREATE TABLE IF NOT EXISTS usage_days (
    user TEXT NOT NULL,
    day TEXT NOT NULL,
    tokens INTEGER NOT NULL DEFAULT 0,
    requests INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (user, day)
);
CREATE TABLE IF NOT EXISTS usage_minutes (
    user TEXT NOT NULL,
    minute TEXT NOT NULL,
    requests INTEGER NOT NULL,
    PRIMARY KEY (user, minute)
);
CREATE TABLE IF NOT EXISTS running (
    user TEXT NOT NULL,
    lease TEXT NOT NULL,
    expires REAL NOT NULL,
    PRIMARY KEY (user, lease)
);
"""


#: A day's tokens, added to atomically (the row made on the day's first add).
ADD_TOKENS = (
    "INSERT INTO usage_days (user, day, tokens) VALUES (?, ?, ?) "
    "ON CONFLICT (user, day) DO UPDATE SET tokens = tokens + excluded.tokens"
)


class SqliteUsage:
    """`UsageStore` in the file the conversations use: the local stack gives both one path."""

    def __init__(self, path: str | Path, *, store: SqliteStore | None = None) -> None:
        # The conversation store owns the file's setup (WAL, its folder) and the one-transaction
        # helper; the usage tables join its schema, so opening either store first works.
        self._db = store or SqliteStore(path)
        self.path = self._db.path
        with self._db.connect() as connection:
            connection.executescript(SCHEMA)

    def day(self, user: str, day: str) -> DayUsage:
        day_start(day)
        with self._db.transaction(write=False) as db:
            row = db.execute(
                "SELECT tokens, requests FROM usage_days WHERE user = ? AND day = ?", (user, day)
            ).fetchone()
        return DayUsage(*row) if row else DayUsage()

    def add_tokens(self, user: str, day: str, tokens: int) -> None:
        day_start(day)
        check_tokens(tokens)
        with self._db.transaction(write=True) as db:
            db.execute(
                ADD_TOKENS,
                (user, day, tokens),
            )

    def reserve_tokens(self, user: str, day: str, wanted: int, limit: int) -> int | None:
        day_start(day)
        check_tokens(wanted)
        check_tokens(limit)
        # BEGIN IMMEDIATE: no other writer adds between the read and the add.
        with self._db.transaction(write=True) as db:
            row = db.execute(
                "SELECT tokens FROM usage_days WHERE user = ? AND day = ?", (user, day)
            ).fetchone()
            used = int(row[0]) if row else 0
            if used >= limit:
                return None
            reserved = min(wanted, limit - used)
            db.execute(
                ADD_TOKENS,
                (user, day, reserved),
            )
        return reserved

    def settle_tokens(self, user: str, day: str, reserved: int, used: int) -> None:
        day_start(day)
        check_tokens(reserved)
        check_tokens(used)
        with self._db.transaction(write=True) as db:
            db.execute(
                ADD_TOKENS,
                (user, day, used - reserved),
            )

    def count_request(self, user: str, day: str, minute: str, per_minute: int | None) -> bool:
        day_start(day)
        minute_start(minute)
        # BEGIN IMMEDIATE: the count read and the add are one step for every other writer.
        with self._db.transaction(write=True) as db:
            # Only the current minute is ever asked about again; earlier ones are dead weight.
            db.execute("DELETE FROM usage_minutes WHERE user = ? AND minute < ?", (user, minute))
            row = db.execute(
                "SELECT requests FROM usage_minutes WHERE user = ? AND minute = ?",
                (user, minute),
            ).fetchone()
            if per_minute is not None and (row[0] if row else 0) >= per_minute:
                return False
            db.execute(
                "INSERT INTO usage_minutes VALUES (?, ?, 1) ON CONFLICT (user, minute) "
                "DO UPDATE SET requests = requests + 1",
                (user, minute),
            )
            db.execute(
                "INSERT INTO usage_days (user, day, requests) VALUES (?, ?, 1) "
                "ON CONFLICT (user, day) DO UPDATE SET requests = requests + 1",
                (user, day),
            )
        return True

    def minute_requests(self, user: str, minute: str) -> int:
        minute_start(minute)
        with self._db.transaction(write=False) as db:
            row = db.execute(
                "SELECT requests FROM usage_minutes WHERE user = ? AND minute = ?",
                (user, minute),
            ).fetchone()
        return int(row[0]) if row else 0

    def acquire(self, user: str, lease: str, limit: int | None, now: float, expires: float) -> bool:
        check_lease(lease)
        with self._db.transaction(write=True) as db:
            held = [
                (held_lease, held_expires)
                for held_lease, held_expires in db.execute(
                    "SELECT lease, expires FROM running WHERE user = ?", (user,)
                )
            ]
            # A gateway that died holding a lease gave it back by letting it expire.
            gone = [(user, held) for held, until in held if not is_live(until, now)]
            db.executemany("DELETE FROM running WHERE user = ? AND lease = ?", gone)
            # Taking a lease one already holds renews it; it is not a second answer.
            others = sum(1 for held, until in held if held != lease and is_live(until, now))
            if limit is not None and others >= limit:
                return False
            db.execute(
                "INSERT INTO running VALUES (?, ?, ?) "
                "ON CONFLICT (user, lease) DO UPDATE SET expires = excluded.expires",
                (user, lease, expires),
            )
        return True

    def release(self, user: str, lease: str) -> None:
        check_lease(lease)
        with self._db.transaction(write=True) as db:
            db.execute("DELETE FROM running WHERE user = ? AND lease = ?", (user, lease))

    def running(self, user: str, now: float) -> int:
        with self._db.transaction(write=False) as db:
            rows = db.execute("SELECT expires FROM running WHERE user = ?", (user,)).fetchall()
        return sum(1 for (expires,) in rows if is_live(expires, now))
