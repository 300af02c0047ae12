"""Each user's usage in the conversations' DynamoDB table, beside them in the user's partition."""

from __future__ import annotations

import math
from typing import Any

from chat_gateway.store import Unavailable
from chat_gateway.store_dynamodb import (
    ATTEMPTS,
    CONDITION_FAILED,
    DynamoStore,
    backoff,
    busy_is_unavailable,
    error_code,
    key,
    number,
)
from chat_gateway.usage import (
    DayUsage,
    check_lease,
    check_tokens,
    day_start,
    is_live,
    minute_start,
)

RUNNING_SK = "RUNNING"
#: How long DynamoDB keeps each item (TTL on `expiresAt`): a day's counts outlive a month's
#: report, a minute's its minute, the running leases their last expiry.
DAY_KEPT_S = 40 * 86_400
MINUTE_KEPT_S = 86_400
RUNNING_KEPT_S = 86_400


def day_sk(day: str) -> str:
    return f"USAGE#DAY#{day}"


def minute_sk(minute: str) -> str:
    return f"USAGE#MIN#{minute}"


def epoch(seconds: float) -> dict[str, str]:
    """A TTL value: whole epoch seconds, rounded up so an item never goes early."""
    return number(math.ceil(seconds))


def instant(seconds: float) -> dict[str, str]:
    """A lease's expiry to the millisecond, written fixed-point (never as an exponent)."""
    return {"N": f"{seconds:.3f}"}


class DynamoUsage:
    """`UsageStore` in the conversations' table. Every call is one atomic DynamoDB request
    (a transaction for a request's two counts), except `acquire`, which reads the RUNNING item
    and writes it back only if nobody changed it in between (its `version`)."""

    def __init__(
        self, table_name: str, client: Any = None, *, store: DynamoStore | None = None
    ) -> None:
        self.table_name = table_name
        # The conversation store makes the client on first use (so boto3 is imported only
        # then) and retries transaction conflicts; the usage items share both (and, given the
        # gateway's own store, its one client).
        self._store = store or DynamoStore(table_name, client=client)

    @property
    def client(self) -> Any:
        return self._store.client

    def day(self, user: str, day: str) -> DayUsage:
        day_start(day)
        item = self._get(user, day_sk(day))
        return DayUsage(count(item, "tokens"), count(item, "requests"))

    def add_tokens(self, user: str, day: str, tokens: int) -> None:
        self._add_tokens(user, day, check_tokens(tokens))

    def _add_tokens(self, user: str, day: str, tokens: int) -> None:
        """An atomic add (negative: a reservation given back) that keeps the day's item."""
        kept_until = day_start(day) + DAY_KEPT_S
        with usage_busy():
            self.client.update_item(
                TableName=self.table_name,
                Key=key(user, day_sk(day)),
                UpdateExpression="SET expiresAt = :kept ADD tokens :n",
                ExpressionAttributeValues={":n": number(tokens), ":kept": epoch(kept_until)},
            )

    def reserve_tokens(self, user: str, day: str, wanted: int, limit: int) -> int | None:
        kept_until = day_start(day) + DAY_KEPT_S
        check_tokens(wanted)
        check_tokens(limit)
        for attempt in range(ATTEMPTS):
            used = count(self._get(user, day_sk(day)), "tokens")
            if used >= limit:
                return None
            reserved = min(wanted, limit - used)
            try:
                with usage_busy():
                    # Only while the day still has room for all of it: a reservation that
                    # another gateway added since the read makes this one read again.
                    self.client.update_item(
                        TableName=self.table_name,
                        Key=key(user, day_sk(day)),
                        UpdateExpression="SET expiresAt = :kept ADD tokens :n",
                        ConditionExpression="attribute_not_exists(tokens) OR tokens <= :room",
                        ExpressionAttributeValues={
                            ":n": number(reserved),
                            ":room": number(limit - reserved),
                            ":kept": epoch(kept_until),
                        },
                    )
            except Exception as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                backoff(attempt)
            else:
                return reserved
        raise Unavailable("Too many answers started at once to count yours; try again.")

    def settle_tokens(self, user: str, day: str, reserved: int, used: int) -> None:
        self._add_tokens(user, day, check_tokens(used) - check_tokens(reserved))

    def count_request(self, user: str, day: str, minute: str, per_minute: int | None) -> bool:
        day_kept, minute_kept = day_start(day) + DAY_KEPT_S, minute_start(minute) + MINUTE_KEPT_S
        if per_minute is not None and per_minute <= 0:
            return False  # the condition below admits a minute's first request whatever the limit
        minute_update: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(user, minute_sk(minute)),
            "UpdateExpression": "SET expiresAt = :kept ADD requests :one",
            "ExpressionAttributeValues": {":one": number(1), ":kept": epoch(minute_kept)},
        }
        if per_minute is not None:
            minute_update["ConditionExpression"] = (
                "attribute_not_exists(requests) OR requests < :limit"
            )
            minute_update["ExpressionAttributeValues"][":limit"] = number(per_minute)
        day_update = {
            "TableName": self.table_name,
            "Key": key(user, day_sk(day)),
            "UpdateExpression": "SET expiresAt = :kept ADD requests :one",
            "ExpressionAttributeValues": {":one": number(1), ":kept": epoch(day_kept)},
        }
        # One transaction: the day counts exactly the requests the minute admitted.
        with usage_busy():
            codes = self._store.transact([{"Update": minute_update}, {"Update": day_update}])
        return not codes

    def minute_requests(self, user: str, minute: str) -> int:
        minute_start(minute)
        return count(self._get(user, minute_sk(minute)), "requests")

    def acquire(self, user: str, lease: str, limit: int | None, now: float, expires: float) -> bool:
        check_lease(lease)
        for attempt in range(ATTEMPTS):
            item = self._get(user, RUNNING_SK)
            leases = {held: until for held, until in leases_of(item).items() if is_live(until, now)}
            # Taking a lease one already holds renews it; it is not a second answer.
            if limit is not None and len(leases.keys() - {lease}) >= limit:
                return False
            leases[lease] = expires
            values: dict[str, Any] = {
                ":leases": {"M": {held: instant(until) for held, until in leases.items()}},
                ":next": number(version_of(item) + 1),
                ":kept": epoch(max(leases.values()) + RUNNING_KEPT_S),
            }
            if item is None:
                condition = "attribute_not_exists(pk)"
            else:
                condition = "version = :seen"
                values[":seen"] = number(version_of(item))
            try:
                with usage_busy():
                    self.client.update_item(
                        TableName=self.table_name,
                        Key=key(user, RUNNING_SK),
                        UpdateExpression="SET leases = :leases, version = :next, expiresAt = :kept",
                        ConditionExpression=condition,
                        ExpressionAttributeValues=values,
                    )
            except Exception as exc:
                if error_code(exc) != CONDITION_FAILED:
                    raise
                backoff(attempt)  # another gateway took or gave back a lease: read again
            else:
                return True
        raise Unavailable("Too many answers started at once to count yours; try again.")

    def release(self, user: str, lease: str) -> None:
        check_lease(lease)
        try:
            with usage_busy():
                # The version moves too, so an acquire that read the lease before this cannot
                # write it back: its condition fails and it reads again.
                self.client.update_item(
                    TableName=self.table_name,
                    Key=key(user, RUNNING_SK),
                    UpdateExpression="REMOVE leases.#lease ADD version :one",
                    ConditionExpression="attribute_exists(leases.#lease)",
                    ExpressionAttributeNames={"#lease": lease},
                    ExpressionAttributeValues={":one": number(1)},
                )
        except Exception as exc:
            if error_code(exc) != CONDITION_FAILED:  # already gone: released or expired
                raise

    def running(self, user: str, now: float) -> int:
        leases = leases_of(self._get(user, RUNNING_SK))
        return sum(1 for until in leases.values() if is_live(until, now))

    def _get(self, user: str, sort_key: str) -> dict[str, Any] | None:
        # Consistent: a limit read from a stale copy could admit past it.
        with usage_busy():
            answer = self.client.get_item(
                TableName=self.table_name, Key=key(user, sort_key), ConsistentRead=True
            )
        item = answer.get("Item")
        return dict(item) if item is not None else None


def count(item: dict[str, Any] | None, name: str) -> int:
    return int(item[name]["N"]) if item and name in item else 0


def version_of(item: dict[str, Any] | None) -> int:
    return count(item, "version")


def leases_of(item: dict[str, Any] | None) -> dict[str, float]:
    held = item.get("leases", {}).get("M", {}) if item else {}
    return {lease: float(value["N"]) for lease, value in held.items()}


def usage_busy() -> Any:
    return busy_is_unavailable("The usage table is busy or out of reach; try again.")
