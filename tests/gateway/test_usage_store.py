"""One contract for both usage stores: SQLite on a temporary file, DynamoDB under moto."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chat_gateway import store_dynamodb
from chat_gateway.store import Message, StoreError, Unavailable
from chat_gateway.store_sqlite import SqliteStore
from chat_gateway.usage import DayUsage, UsageStore
from chat_gateway.usage_dynamodb import DynamoUsage
from chat_gateway.usage_sqlite import SqliteUsage

from tests.support.clocks import TickingClock
from tests.support.dynamo import TABLE, dynamo_store, inspector

ALICE, BOB = "alice-sub", "bob-sub"
DAY, MINUTE, NEXT_MINUTE = "2026-12-02", "2026-12-02T05:47", "2026-12-02T05:48"
NOW = datetime(2026, 12, 2, 5, 47, 30, tzinfo=UTC).timestamp()


@pytest.fixture(params=["sqlite", "dynamodb"])
def usage(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[UsageStore]:
    if request.param == "sqlite":
        yield SqliteUsage(tmp_path / "data" / "conversations.sqlite3")
        return
    yield from dynamo_usage(monkeypatch, tmp_path)


@pytest.fixture
def dynamo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[DynamoUsage]:
    yield from dynamo_usage(monkeypatch, tmp_path)


def dynamo_usage(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DynamoUsage]:
    # The conversations' table under moto, made as their tests make it (and the CDK app).
    for conversations in dynamo_store(monkeypatch, tmp_path, TickingClock()):
        yield DynamoUsage(TABLE, client=conversations.client)


def together(count: int, call: Callable[[], bool]) -> list[bool]:
    """`call` from `count` threads released at once; their answers (any exception re-raised)."""
    start = threading.Barrier(count)
    answers: list[bool] = []
    errors: list[BaseException] = []

    def work() -> None:
        start.wait()
        try:
            answers.append(call())
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)

    workers = [threading.Thread(target=work) for _ in range(count)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    return answers


def test_tokens_add_up_per_user_and_day(usage: UsageStore) -> None:
    assert usage.day(ALICE, DAY) == DayUsage(0, 0)
    usage.add_tokens(ALICE, DAY, 120)
    usage.add_tokens(ALICE, DAY, 30)
    usage.add_tokens(ALICE, DAY, 0)
    usage.add_tokens(ALICE, "2026-12-03", 7)
    usage.add_tokens(BOB, DAY, 5)
    assert usage.day(ALICE, DAY) == DayUsage(tokens=150, requests=0)
    assert usage.day(ALICE, "2026-12-03").tokens == 7
    assert usage.day(BOB, DAY).tokens == 5
    assert usage.day(BOB, "2026-12-01") == DayUsage()


def test_concurrent_token_adds_lose_nothing(usage: UsageStore) -> None:
    def add() -> bool:
        usage.add_tokens(ALICE, DAY, 10)
        return True

    together(16, add)
    assert usage.day(ALICE, DAY).tokens == 160


def test_count_request_refuses_at_the_limit_and_counts_nothing(usage: UsageStore) -> None:
    assert [usage.count_request(ALICE, DAY, MINUTE, 3) for _ in range(5)] == [
        True,
        True,
        True,
        False,
        False,
    ]
    assert usage.minute_requests(ALICE, MINUTE) == 3
    assert usage.day(ALICE, DAY) == DayUsage(tokens=0, requests=3)  # only admitted ones
    # The limit is per user, and a new minute starts from nothing.
    assert usage.count_request(BOB, DAY, MINUTE, 3)
    assert usage.minute_requests(BOB, MINUTE) == 1
    assert usage.count_request(ALICE, DAY, NEXT_MINUTE, 3)
    assert usage.minute_requests(ALICE, NEXT_MINUTE) == 1
    assert usage.day(ALICE, DAY).requests == 4


def test_a_limit_of_none_is_unlimited_and_zero_admits_nothing(usage: UsageStore) -> None:
    assert all(usage.count_request(ALICE, DAY, MINUTE, None) for _ in range(12))
    assert usage.minute_requests(ALICE, MINUTE) == 12
    assert not usage.count_request(BOB, DAY, MINUTE, 0)
    assert usage.minute_requests(BOB, MINUTE) == 0
    assert usage.day(BOB, DAY).requests == 0
    assert usage.day(ALICE, DAY).requests == 12


def test_concurrent_requests_keep_the_minute_limit(usage: UsageStore) -> None:
    answers = together(20, lambda: usage.count_request(ALICE, DAY, MINUTE, 7))
    assert sorted(answers) == [False] * 13 + [True] * 7
    assert usage.minute_requests(ALICE, MINUTE) == 7
    assert usage.day(ALICE, DAY).requests == 7


def test_concurrent_acquires_hold_exactly_the_limit(usage: UsageStore) -> None:
    leases = iter(f"lease-{n}" for n in range(20))
    lock = threading.Lock()

    def acquire() -> bool:
        with lock:
            lease = next(leases)
        return usage.acquire(ALICE, lease, 5, NOW, NOW + 60)

    assert sorted(together(20, acquire)) == [False] * 15 + [True] * 5
    assert usage.running(ALICE, NOW) == 5


def test_release_frees_a_slot(usage: UsageStore) -> None:
    assert usage.acquire(ALICE, "a", 2, NOW, NOW + 60)
    assert usage.acquire(ALICE, "b", 2, NOW, NOW + 60)
    assert not usage.acquire(ALICE, "c", 2, NOW, NOW + 60)
    assert usage.acquire(BOB, "c", 2, NOW, NOW + 60)  # the limit is per user
    usage.release(ALICE, "a")
    assert usage.running(ALICE, NOW) == 1
    assert usage.acquire(ALICE, "c", 2, NOW, NOW + 60)
    assert not usage.acquire(ALICE, "d", 2, NOW, NOW + 60)
    assert usage.running(ALICE, NOW) == 2 and usage.running(BOB, NOW) == 1


def test_an_expired_lease_no_longer_counts(usage: UsageStore) -> None:
    assert usage.acquire(ALICE, "died", 1, NOW, NOW + 60)
    assert usage.running(ALICE, NOW + 60) == 1  # still live at its expiry
    assert not usage.acquire(ALICE, "new", 1, NOW + 30, NOW + 90)
    later = NOW + 61
    assert usage.running(ALICE, later) == 0
    assert usage.acquire(ALICE, "new", 1, later, later + 60)
    assert usage.running(ALICE, later) == 1
    usage.release(ALICE, "died")  # the gateway came back after all: nothing to give back
    assert usage.running(ALICE, later) == 1


def test_releasing_an_unknown_lease_is_fine(usage: UsageStore) -> None:
    usage.release(ALICE, "never-held")  # no RUNNING item, no row at all
    assert usage.acquire(ALICE, "held", None, NOW, NOW + 60)
    usage.release(ALICE, "never-held")
    usage.release(ALICE, "held")
    usage.release(ALICE, "held")
    assert usage.running(ALICE, NOW) == 0
    assert usage.acquire(ALICE, "again", 1, NOW, NOW + 60)


def test_running_counts_live_leases_and_none_is_unlimited(usage: UsageStore) -> None:
    assert usage.running(ALICE, NOW) == 0
    for n in range(8):
        assert usage.acquire(ALICE, f"l{n}", None, NOW, NOW + 10 + n)
    assert usage.running(ALICE, NOW) == 8
    assert usage.running(ALICE, NOW + 14) == 4  # l4..l7
    # Holding a lease again renews it rather than taking a second slot.
    assert usage.acquire(ALICE, "l0", 8, NOW, NOW + 100)
    assert usage.running(ALICE, NOW) == 8
    assert usage.running(ALICE, NOW + 50) == 1
    assert not usage.acquire(ALICE, "other", 0, NOW, NOW + 60)
    assert usage.running(BOB, NOW) == 0


def test_bad_arguments_are_refused(usage: UsageStore) -> None:
    for call in (
        lambda: usage.add_tokens(ALICE, DAY, -1),
        lambda: usage.add_tokens(ALICE, "2026-2-3", 1),  # would sort out of order
        lambda: usage.add_tokens(ALICE, "2026-02-30", 1),
        lambda: usage.day(ALICE, "today"),
        lambda: usage.count_request(ALICE, DAY, "2026-12-02 05:47", 3),
        lambda: usage.minute_requests(ALICE, DAY),
        lambda: usage.acquire(ALICE, "", 1, NOW, NOW + 60),
    ):
        with pytest.raises(StoreError):
            call()
    assert usage.day(ALICE, DAY) == DayUsage() and usage.running(ALICE, NOW) == 0


def test_sqlite_counts_persist(tmp_path: Path) -> None:
    path = tmp_path / "usage.sqlite3"
    first = SqliteUsage(path)
    first.add_tokens(ALICE, DAY, 42)
    assert first.count_request(ALICE, DAY, MINUTE, 2)
    assert first.acquire(ALICE, "held", 1, NOW, NOW + 60)
    again = SqliteUsage(str(path))
    assert again.day(ALICE, DAY) == DayUsage(tokens=42, requests=1)
    assert again.minute_requests(ALICE, MINUTE) == 1
    assert again.running(ALICE, NOW) == 1
    assert not again.acquire(ALICE, "other", 1, NOW, NOW + 60)


def test_sqlite_prunes_past_minutes_and_leases(tmp_path: Path) -> None:
    usage = SqliteUsage(tmp_path / "usage.sqlite3")
    for minute in ("2026-12-02T05:45", "2026-12-02T05:46", MINUTE):
        assert usage.count_request(ALICE, DAY, minute, None)
    assert usage.count_request(BOB, DAY, "2026-12-02T05:45", None)
    assert usage.acquire(ALICE, "died", None, NOW - 100, NOW - 1)
    assert usage.acquire(ALICE, "live", None, NOW, NOW + 60)
    with sqlite3.connect(usage.path) as db:
        minutes = db.execute("SELECT user, minute FROM usage_minutes ORDER BY user").fetchall()
        leases = db.execute("SELECT lease FROM running").fetchall()
    assert minutes == [(ALICE, MINUTE), (BOB, "2026-12-02T05:45")]  # only one's own minutes
    assert leases == [("live",)]
    assert usage.day(ALICE, DAY).requests == 3


@pytest.mark.parametrize("usage_first", [True, False])
def test_sqlite_usage_shares_the_conversations_file(tmp_path: Path, usage_first: bool) -> None:
    path = tmp_path / "data" / "conversations.sqlite3"
    if usage_first:
        usage = SqliteUsage(path)
        conversations = SqliteStore(path)
    else:
        conversations = SqliteStore(path)
        usage = SqliteUsage(path)
    conversation = conversations.create(ALICE, "kept")
    usage.add_tokens(ALICE, DAY, 9)
    assert usage.acquire(ALICE, "lease", 1, NOW, NOW + 60)
    conversations.append(ALICE, conversation.id, [Message("user", "hi")])
    assert usage.count_request(ALICE, DAY, MINUTE, 1)
    # Reopened in the other order, both still see what the other wrote beside them.
    assert SqliteStore(path).get(ALICE, conversation.id)[1][0].content == "hi"
    assert SqliteUsage(path).day(ALICE, DAY) == DayUsage(tokens=9, requests=1)
    assert usage.running(ALICE, NOW) == 1
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
        tables = {name for (name,) in db.execute("SELECT name FROM sqlite_master")}
    assert {"conversations", "messages", "usage_days", "usage_minutes", "running"} <= tables


def test_dynamodb_items_layout_and_expiry(dynamo: DynamoUsage) -> None:
    usage = dynamo
    usage.add_tokens(ALICE, DAY, 5)
    assert usage.count_request(ALICE, DAY, MINUTE, 2)
    assert usage.acquire(ALICE, "a", 2, NOW, NOW + 90.5)
    assert usage.acquire(ALICE, "b", 2, NOW, NOW + 30)
    usage.release(ALICE, "b")
    items = {
        (item["pk"]["S"], item["sk"]["S"]): item
        for item in inspector().scan(TableName=TABLE, ConsistentRead=True)["Items"]
    }
    day_start = datetime(2026, 12, 2, tzinfo=UTC).timestamp()
    minute_start = datetime(2026, 12, 2, 5, 47, tzinfo=UTC).timestamp()
    partition = f"USER#{ALICE}"
    assert set(items) == {
        (partition, f"USAGE#DAY#{DAY}"),
        (partition, f"USAGE#MIN#{MINUTE}"),
        (partition, "RUNNING"),
    }
    for item in items.values():
        assert set(item["expiresAt"]) == {"N"}  # TTL reads numbers only
    day = items[partition, f"USAGE#DAY#{DAY}"]
    assert int(day["expiresAt"]["N"]) == day_start + 40 * 86_400
    assert (day["tokens"], day["requests"]) == ({"N": "5"}, {"N": "1"})
    minute = items[partition, f"USAGE#MIN#{MINUTE}"]
    assert int(minute["expiresAt"]["N"]) == minute_start + 86_400
    running = items[partition, "RUNNING"]
    assert int(running["expiresAt"]["N"]) == int(NOW) + 91 + 86_400  # rounded up, never early
    assert set(running["leases"]["M"]) == {"a"}
    assert float(running["leases"]["M"]["a"]["N"]) == NOW + 90.5
    assert running["version"] == {"N": "3"}  # two acquires and a release moved it


def test_dynamodb_a_release_between_read_and_write_is_not_undone(
    dynamo: DynamoUsage, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An acquire that read a lease which is released before it writes must not bring the
    lease back (the release moves the version, so the acquire reads again)."""
    usage = dynamo
    assert usage.acquire(ALICE, "old", None, NOW, NOW + 60)
    get_item = usage.client.get_item
    raced: list[bool] = []

    def read_then_race(**request: Any) -> Any:
        answer = get_item(**request)
        if not raced:
            raced.append(True)
            usage.release(ALICE, "old")
        return answer

    monkeypatch.setattr(usage.client, "get_item", read_then_race)
    assert usage.acquire(ALICE, "new", 2, NOW, NOW + 60)
    assert raced == [True]
    assert usage.running(ALICE, NOW) == 1  # "new" alone: "old" stayed released
    assert usage.acquire(ALICE, "third", 2, NOW, NOW + 60)
    assert not usage.acquire(ALICE, "fourth", 2, NOW, NOW + 60)


class Refusing:
    """A DynamoDB client every call of which fails with `code`, after `answer` for reads."""

    def __init__(self, code: str, item: dict[str, Any] | None = None) -> None:
        self.code, self.item = code, item

    def fail(self, **_: Any) -> Any:
        raise ClientError({"Error": {"Code": self.code, "Message": "no"}}, "Call")

    def get_item(self, **request: Any) -> Any:
        if self.item is not None:
            return {"Item": self.item}
        return self.fail()

    update_item = transact_write_items = fail


def test_dynamodb_throttling_is_unavailable_not_a_botocore_error() -> None:
    usage = DynamoUsage(TABLE, client=Refusing("ProvisionedThroughputExceededException"))
    for call in (
        lambda: usage.day(ALICE, DAY),
        lambda: usage.add_tokens(ALICE, DAY, 1),
        lambda: usage.count_request(ALICE, DAY, MINUTE, 1),
        lambda: usage.minute_requests(ALICE, MINUTE),
        lambda: usage.acquire(ALICE, "l", 1, NOW, NOW + 1),
        lambda: usage.release(ALICE, "l"),
        lambda: usage.running(ALICE, NOW),
    ):
        with pytest.raises(Unavailable) as caught:
            call()
        assert caught.value.status == 503


def test_dynamodb_acquire_gives_up_after_bounded_conflicts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(store_dynamodb.time, "sleep", lambda _: None)
    item = {"version": {"N": "1"}, "leases": {"M": {}}}
    usage = DynamoUsage(TABLE, client=Refusing(store_dynamodb.CONDITION_FAILED, item))
    with pytest.raises(Unavailable):
        usage.acquire(ALICE, "l", 1, NOW, NOW + 1)


def test_the_dynamodb_module_imports_without_boto3() -> None:
    code = (
        "import sys; sys.modules['boto3'] = sys.modules['botocore'] = None; "
        "from chat_gateway.usage_dynamodb import DynamoUsage; DynamoUsage('t')"
    )
    gateway = Path(__file__).parents[2] / "gateway"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=gateway)


def test_reserve_tokens_takes_what_is_left_and_refuses_when_none_is(usage: UsageStore) -> None:
    assert usage.reserve_tokens(ALICE, DAY, 300, 1000) == 300
    assert usage.reserve_tokens(ALICE, DAY, 600, 1000) == 600
    assert usage.reserve_tokens(ALICE, DAY, 600, 1000) == 100  # bounded by what is left
    assert usage.reserve_tokens(ALICE, DAY, 1, 1000) is None  # nothing left: nothing changed
    assert usage.day(ALICE, DAY) == DayUsage(tokens=1000, requests=0)
    assert usage.reserve_tokens(BOB, DAY, 50, 1000) == 50  # per user
    assert usage.reserve_tokens(ALICE, "2026-12-03", 50, 1000) == 50  # and per day


def test_settle_gives_back_or_adds_the_difference(usage: UsageStore) -> None:
    reserved = usage.reserve_tokens(ALICE, DAY, 600, 1000)
    assert reserved == 600
    usage.settle_tokens(ALICE, DAY, 600, 150)  # cost less: the rest is given back
    assert usage.day(ALICE, DAY).tokens == 150
    assert usage.reserve_tokens(ALICE, DAY, 100, 1000) == 100
    usage.settle_tokens(ALICE, DAY, 100, 130)  # cost more than reserved: added
    usage.settle_tokens(ALICE, DAY, 0, 0)
    assert usage.day(ALICE, DAY).tokens == 280
    for call in (
        lambda: usage.settle_tokens(ALICE, DAY, -1, 0),
        lambda: usage.settle_tokens(ALICE, DAY, 0, -1),
        lambda: usage.reserve_tokens(ALICE, DAY, -5, 1000),
        lambda: usage.reserve_tokens(ALICE, "today", 5, 1000),
    ):
        with pytest.raises(StoreError):
            call()
    assert usage.day(ALICE, DAY).tokens == 280


def test_concurrent_reservations_never_pass_the_limit(usage: UsageStore) -> None:
    reserved: list[int | None] = []

    def reserve() -> bool:
        reserved.append(usage.reserve_tokens(ALICE, DAY, 70, 500))
        return True

    together(12, reserve)
    granted = [n for n in reserved if n is not None]
    assert sum(granted) == usage.day(ALICE, DAY).tokens == 500
    assert sorted(granted)[-7:] == [70] * 7 and len(granted) == 8  # 7 x 70, then the last 10
