"""Conversations in one DynamoDB table, a partition per user (docs/conversations.md, section 2)."""

from __future__ import annotations

import builtins
import random
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from chat_gateway import store
from chat_gateway.store import (
    Clock,
    Conversation,
    Message,
    NotFound,
    Page,
    Preset,
    StoreError,
    TooMany,
    Unavailable,
    check_append,
    check_id,
    check_preset_id,
    check_text,
    clean_instructions,
    clean_preset,
    clean_title,
    decode_cursor,
    encode_cursor,
    not_found,
    preset_not_found,
    timestamp,
    too_many_presets,
)

PARTITION_KEY = "pk"
SORT_KEY = "sk"
INDEX_NAME = "byUpdated"
INDEX_SORT_KEY = "byUpdated"
#: The table's keys, for the CDK app and the tests: every key attribute is a string (S).
TABLE_KEYS = {
    "partition_key": PARTITION_KEY,
    "sort_key": SORT_KEY,
    "index_name": INDEX_NAME,
    "index_sort_key": INDEX_SORT_KEY,
}
#: A message is stored in parts of at most this many UTF-8 bytes (an item may have 400 KB).
PART_BYTES = 100_000
#: Message numbers are 6 digits in the sort key and never reused, even after an edit.
SEQ_LIMIT = 1_000_000
PROFILE_SK = "PROFILE"
PRESET_PREFIX = "PRESET#"
#: Tries of a write that lost a race (a transaction conflict, a throttled batch).
ATTEMPTS = 8
CONDITION_FAILED = "ConditionalCheckFailedException"
CANCELLED = "TransactionCanceledException"
#: Errors that mean "later", once botocore's own retries are spent: 503 for the caller.
BUSY = {
    "ProvisionedThroughputExceededException",
    "ThrottlingException",
    "RequestLimitExceeded",
    "InternalServerError",
    "ServiceUnavailable",
    "TransactionInProgressException",
}
TABLE_BUSY = "The conversations table is busy or out of reach; try again in a moment."


@contextmanager
def busy_is_unavailable(message: str) -> Iterator[None]:
    """DynamoDB throttling or out of reach becomes Unavailable (503 and `message`); a failed
    condition and anything unexpected go on to the caller."""
    try:
        yield
    except StoreError:
        raise
    except Exception as exc:
        if error_code(exc) in BUSY or unreachable(exc):
            raise Unavailable(message) from exc
        raise


def unreachable(exc: Exception) -> bool:
    try:
        from botocore import exceptions
    except ImportError:  # no botocore, so this cannot be one of its errors
        return False
    return isinstance(exc, exceptions.ConnectionError | exceptions.HTTPClientError)


def table_definition(name: str) -> dict[str, Any]:
    """The `create_table` arguments of the conversations table (the CDK app builds the same)."""
    string = "S"
    return {
        "TableName": name,
        "KeySchema": [
            {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
            {"AttributeName": SORT_KEY, "KeyType": "RANGE"},
        ],
        "AttributeDefinitions": [
            {"AttributeName": PARTITION_KEY, "AttributeType": string},
            {"AttributeName": SORT_KEY, "AttributeType": string},
            {"AttributeName": INDEX_SORT_KEY, "AttributeType": string},
        ],
        "LocalSecondaryIndexes": [
            {
                "IndexName": INDEX_NAME,
                "KeySchema": [
                    {"AttributeName": PARTITION_KEY, "KeyType": "HASH"},
                    {"AttributeName": INDEX_SORT_KEY, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "ALL"},
            }
        ],
        "BillingMode": "PAY_PER_REQUEST",
    }


class DynamoStore:
    """`ConversationStore` over one table. boto3's low-level client is thread safe, so one
    store serves every thread.

    An untitled conversation's META has no `title`/`titleSearch` attributes (read as ""), so
    the first message can name it with `if_not_exists` in the same update that adds it."""

    def __init__(self, table_name: str, client: Any = None, clock: Clock = time.time) -> None:
        self.table_name = table_name
        self.clock = clock
        self._client = client
        self._client_lock = threading.Lock()

    @property
    def client(self) -> Any:
        # Made on first use: the module imports (and the gateway starts) without boto3.
        if self._client is None:
            with self._client_lock:
                if self._client is None:
                    import boto3

                    self._client = boto3.client("dynamodb")
        return self._client

    @busy_is_unavailable(TABLE_BUSY)
    def create(self, user: str, title: str = "", instructions: str = "") -> Conversation:
        title = clean_title(title, required=False)
        instructions = clean_instructions(instructions)
        now = timestamp(self.clock)
        conversation = Conversation(
            uuid.uuid4().hex, title, now, now, instructions, "user" if title else ""
        )
        meta = {
            **key(user, meta_sk(conversation.id)),
            "createdAt": text(now),
            "updatedAt": text(now),
            INDEX_SORT_KEY: text(f"{now}#{conversation.id}"),
            "nextSeq": number(0),
            "messageCount": number(0),
        }
        if title:
            meta |= {
                "title": text(title),
                "titleSearch": text(title.casefold()),
                "titleSource": text("user"),
            }
        if instructions:
            meta["instructions"] = text(instructions)
        # The count lives in the same transaction as the put, so concurrent creates cannot
        # pass the limit together.
        codes = self._put_counted(user, meta, "conversationCount", store.MAX_CONVERSATIONS)
        if codes[1:2] == ["ConditionalCheckFailed"]:
            raise TooMany(
                f"You keep {store.MAX_CONVERSATIONS} conversations, the most there can be; "
                "delete some to start a new one."
            )
        if codes:  # the random id was taken: 2**-122 odds, but say so rather than overwrite
            raise Unavailable("A new conversation's id was taken; try again.")
        return conversation

    @busy_is_unavailable(TABLE_BUSY)
    def list(
        self, user: str, *, limit: int = 50, cursor: str | None = None, query: str = ""
    ) -> Page:
        if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1:
            raise StoreError("'limit' must be a whole number of at least 1.")
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "IndexName": INDEX_NAME,
            "KeyConditionExpression": "pk = :pk",
            "ExpressionAttributeValues": {":pk": text(partition(user))},
            "ScanIndexForward": False,
        }
        if cursor:
            # Only the position comes from the client; the partition is always the caller's.
            updated_at, last_id = decode_cursor(cursor)
            request["ExclusiveStartKey"] = {
                **key(user, meta_sk(last_id)),
                INDEX_SORT_KEY: text(f"{updated_at}#{last_id}"),
            }
        if query:
            request["FilterExpression"] = "contains(titleSearch, :q)"
            request["ExpressionAttributeValues"][":q"] = text(check_text(query, "'q'").casefold())
        else:
            # Limit counts items read before the filter, so it only helps without one.
            request["Limit"] = limit + 1
        found: builtins.list[Conversation] = []
        # One match more than asked for tells whether there is a next page.
        for item in self._query(request):
            found.append(conversation_of(item))
            if len(found) > limit:
                break
        last = found[limit - 1] if len(found) > limit else None
        return Page(found[:limit], encode_cursor(last.updated_at, last.id) if last else None)

    @busy_is_unavailable(TABLE_BUSY)
    def get(self, user: str, conversation_id: str) -> tuple[Conversation, builtins.list[Message]]:
        check_id(conversation_id)
        meta, messages = self._items(user, conversation_id)
        return conversation_of(meta), [message for _, message, _ in messages if message]

    @busy_is_unavailable(TABLE_BUSY)
    def rename(self, user: str, conversation_id: str, title: str) -> Conversation:
        return self._set_title(user, conversation_id, title, "user")

    @busy_is_unavailable(TABLE_BUSY)
    def name_by_model(self, user: str, conversation_id: str, title: str) -> Conversation:
        return self._set_title(user, conversation_id, title, "model")

    def _set_title(self, user: str, conversation_id: str, title: str, source: str) -> Conversation:
        check_id(conversation_id)
        title = clean_title(title, required=True)
        condition = "attribute_exists(pk)"
        values = {
            ":title": text(title),
            ":search": text(title.casefold()),
            ":source": text(source),
        }
        if source != "user":  # the user's title is never replaced
            condition += " AND (attribute_not_exists(titleSource) OR titleSource <> :user)"
            values[":user"] = text("user")
        try:
            return self._update_meta(
                user,
                conversation_id,
                "SET title = :title, titleSearch = :search, titleSource = :source",
                condition,
                values,
            )
        except NotFound:
            if source == "user":
                raise
            return self.get(user, conversation_id)[0]  # the user's rename came first

    @busy_is_unavailable(TABLE_BUSY)
    def set_instructions(self, user: str, conversation_id: str, instructions: str) -> Conversation:
        check_id(conversation_id)
        instructions = clean_instructions(instructions)
        if not instructions:
            return self._update_meta(
                user, conversation_id, "REMOVE instructions", "attribute_exists(pk)", None
            )
        return self._update_meta(
            user,
            conversation_id,
            "SET instructions = :instructions",
            "attribute_exists(pk)",
            {":instructions": text(instructions)},
        )

    def _update_meta(
        self,
        user: str,
        conversation_id: str,
        expression: str,
        condition: str,
        values: dict[str, Any] | None,
    ) -> Conversation:
        """One conditional update of the META; NotFound (from `not_found`, or meaning "the
        condition failed") when it is not done."""
        request: dict[str, Any] = {
            "TableName": self.table_name,
            "Key": key(user, meta_sk(conversation_id)),
            "UpdateExpression": expression,
            "ConditionExpression": condition,
            "ReturnValues": "ALL_NEW",
        }
        if values:
            request["ExpressionAttributeValues"] = values
        try:
            answer = self.client.update_item(**request)
        except Exception as exc:
            if error_code(exc) == CONDITION_FAILED:
                raise not_found(conversation_id) from None
            raise
        return conversation_of(answer["Attributes"])

    @busy_is_unavailable(TABLE_BUSY)
    def presets(self, user: str) -> builtins.list[Preset]:
        items = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {
                    ":pk": text(partition(user)),
                    ":prefix": text(PRESET_PREFIX),
                },
                "ConsistentRead": True,
            }
        )
        found = [preset_of(item) for item in items]
        return sorted(found, key=lambda preset: (preset.created_at, preset.id))

    @busy_is_unavailable(TABLE_BUSY)
    def save_preset(
        self, user: str, name: str, instructions: str, preset_id: str | None = None
    ) -> Preset:
        name, instructions = clean_preset(name, instructions)
        now = timestamp(self.clock)
        if preset_id is not None:
            check_preset_id(preset_id)
            try:
                answer = self.client.update_item(
                    TableName=self.table_name,
                    Key=key(user, preset_sk(preset_id)),
                    UpdateExpression="SET #name = :name, instructions = :instructions, "
                    "updatedAt = :now",
                    ConditionExpression="attribute_exists(pk)",
                    ExpressionAttributeNames={"#name": "name"},  # a reserved word
                    ExpressionAttributeValues={
                        ":name": text(name),
                        ":instructions": text(instructions),
                        ":now": text(now),
                    },
                    ReturnValues="ALL_NEW",
                )
            except Exception as exc:
                if error_code(exc) == CONDITION_FAILED:
                    raise preset_not_found(preset_id) from None
                raise
            return preset_of(answer["Attributes"])
        preset = Preset(uuid.uuid4().hex, name, instructions, now, now)
        item = {
            **key(user, preset_sk(preset.id)),
            "name": text(name),
            "instructions": text(instructions),
            "createdAt": text(now),
            "updatedAt": text(now),
        }
        codes = self._put_counted(user, item, "presetCount", store.MAX_PRESETS)
        if codes[1:2] == ["ConditionalCheckFailed"]:
            raise too_many_presets()
        if codes:
            raise Unavailable("A new preset's id was taken; try again.")
        return preset

    @busy_is_unavailable(TABLE_BUSY)
    def delete_preset(self, user: str, preset_id: str) -> None:
        check_preset_id(preset_id)
        codes = self._delete_counted(user, preset_sk(preset_id), "presetCount")
        if codes:
            raise preset_not_found(preset_id)

    @busy_is_unavailable(TABLE_BUSY)
    def delete(self, user: str, conversation_id: str) -> None:
        check_id(conversation_id)
        codes = self._delete_counted(user, meta_sk(conversation_id), "conversationCount")
        if codes:
            raise not_found(conversation_id)
        # The META went first, so the conversation is gone at once; its messages follow.
        leftovers = self._query(
            {
                "TableName": self.table_name,
                "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                "ExpressionAttributeValues": {
                    ":pk": text(partition(user)),
                    ":prefix": text(f"CONV#{conversation_id}#"),
                },
                "ProjectionExpression": "pk, sk",
                "ConsistentRead": True,
            }
        )
        self._batch_write([{"DeleteRequest": {"Key": item}} for item in leftovers])

    @busy_is_unavailable(TABLE_BUSY)
    def append(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        *,
        keep: int | None = None,
        title: str = "",
    ) -> Conversation:
        check_id(conversation_id)
        title = clean_title(title, required=False)
        now = timestamp(self.clock)
        if keep is None:
            check_append(messages, None, 0)  # the count is checked by the update's condition
            meta = self._add(user, conversation_id, messages, now, title)
        else:
            meta = self._replace_from(user, conversation_id, messages, keep, now, title)
        first_seq = int(meta["nextSeq"]["N"]) - len(messages)
        self._batch_write(
            [
                {"PutRequest": {"Item": item}}
                for offset, message in enumerate(messages)
                for item in message_items(user, conversation_id, first_seq + offset, message, now)
            ]
        )
        return conversation_of(meta)

    def _reserve(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        now: str,
        title: str,
        *,
        seen_next_seq: int | None = None,
        kept: int = 0,
    ) -> dict[str, Any]:
        """Takes the next message numbers on the META and updates it; the META afterwards.
        Without `seen_next_seq`, messages are added to the count under the condition that they
        fit; with it (an edit), the count becomes `kept` + new ones, provided nobody added
        messages since `seen_next_seq` was read. NotFound, TooMany, or Conflict."""
        count = len(messages)
        values: dict[str, Any] = {
            ":now": text(now),
            ":by": text(f"{now}#{conversation_id}"),
            ":n": number(count),
            ":seq_room": number(SEQ_LIMIT - count),
        }
        sets = ["updatedAt = :now", f"{INDEX_SORT_KEY} = :by"]
        adds = ["nextSeq :n"]
        condition = "attribute_exists(pk) AND nextSeq <= :seq_room"
        if seen_next_seq is None:
            adds.append("messageCount :n")
            condition += " AND messageCount <= :room"
            values[":room"] = number(store.MAX_MESSAGES - count)
        else:
            sets.append("messageCount = :count")
            condition += " AND nextSeq = :seen"
            values |= {":count": number(kept + count), ":seen": number(seen_next_seq)}
        if title:
            sets += [
                "title = if_not_exists(title, :title)",
                "titleSearch = if_not_exists(titleSearch, :search)",
                "titleSource = if_not_exists(titleSource, :first)",
            ]
            values |= {
                ":title": text(title),
                ":search": text(title.casefold()),
                ":first": text("first"),
            }
        try:
            answer = self.client.update_item(
                TableName=self.table_name,
                Key=key(user, meta_sk(conversation_id)),
                UpdateExpression=f"SET {', '.join(sets)} ADD {', '.join(adds)}",
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
                ReturnValues="ALL_NEW",
            )
        except Exception as exc:
            if error_code(exc) != CONDITION_FAILED:
                raise
        else:
            return dict(answer["Attributes"])
        # Which part of the condition failed: read the META to tell the caller.
        meta = self.client.get_item(
            TableName=self.table_name,
            Key=key(user, meta_sk(conversation_id)),
            ConsistentRead=True,
        ).get("Item")
        if meta is None:
            raise not_found(conversation_id)
        next_seq, stored = int(meta["nextSeq"]["N"]), int(meta["messageCount"]["N"])
        if next_seq + count > SEQ_LIMIT or (
            seen_next_seq is None and stored + count > store.MAX_MESSAGES
        ):
            raise TooMany(
                f"A conversation keeps at most {store.MAX_MESSAGES} messages; "
                "start a new conversation."
            )
        raise Conflict()

    def _add(
        self, user: str, conversation_id: str, messages: Sequence[Message], now: str, title: str
    ) -> dict[str, Any]:
        """Reserves numbers for `messages` after the stored ones (tried again should an edit
        have changed the count while the condition was checked)."""
        for attempt in range(ATTEMPTS):
            try:
                return self._reserve(user, conversation_id, messages, now, title)
            except Conflict:
                backoff(attempt)
        raise Unavailable("The conversation kept changing while messages were added; try again.")

    def _replace_from(
        self,
        user: str,
        conversation_id: str,
        messages: Sequence[Message],
        keep: int,
        now: str,
        title: str,
    ) -> dict[str, Any]:
        """An edit: reserves numbers for `messages` and deletes the stored ones from `keep` on
        (and any left half written). Retried if another append comes in between."""
        for attempt in range(ATTEMPTS):
            meta_item, stored = self._items(user, conversation_id)
            complete = [seq for seq, message, _ in stored if message is not None]
            kept = check_append(messages, keep, len(complete))
            dropped = set(complete[kept:]) | {seq for seq, message, _ in stored if message is None}
            try:
                meta = self._reserve(
                    user,
                    conversation_id,
                    messages,
                    now,
                    title,
                    seen_next_seq=int(meta_item["nextSeq"]["N"]),
                    kept=kept,
                )
            except Conflict:
                backoff(attempt)
                continue
            self._batch_write(
                [
                    {"DeleteRequest": {"Key": key(user, item_sk)}}
                    for seq, _, sks in stored
                    if seq in dropped
                    for item_sk in sks
                ]
            )
            return meta
        raise Unavailable("The conversation kept changing while it was edited; try again.")

    def _items(
        self, user: str, conversation_id: str
    ) -> tuple[dict[str, Any], builtins.list[tuple[int, Message | None, builtins.list[str]]]]:
        """The META item and the messages in order as (seq, message or None if incomplete,
        the sort keys of its parts); NotFound without a META."""
        items = list(
            self._query(
                {
                    "TableName": self.table_name,
                    "KeyConditionExpression": "pk = :pk AND begins_with(sk, :prefix)",
                    "ExpressionAttributeValues": {
                        ":pk": text(partition(user)),
                        ":prefix": text(f"CONV#{conversation_id}#"),
                    },
                    "ConsistentRead": True,
                }
            )
        )
        # "META" sorts before "MSG#", so a conversation's first item is its META.
        if not items or items[0]["sk"]["S"] != meta_sk(conversation_id):
            raise not_found(conversation_id)
        return items[0], assemble(items[1:])

    def _put_counted(
        self, user: str, item: dict[str, Any], counter: str, limit: int
    ) -> builtins.list[str]:
        """Puts a new `item` and adds one to the PROFILE's `counter` in one transaction, so
        concurrent puts cannot pass `limit` together; `transact`'s codes (the second one
        ConditionalCheckFailed: the limit)."""
        return self.transact(
            [
                {
                    "Put": {
                        "TableName": self.table_name,
                        "Item": item,
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": key(user, PROFILE_SK),
                        "UpdateExpression": f"ADD {counter} :one",
                        "ConditionExpression": f"attribute_not_exists({counter}) "
                        f"OR {counter} < :max",
                        "ExpressionAttributeValues": {":one": number(1), ":max": number(limit)},
                    }
                },
            ]
        )

    def _delete_counted(self, user: str, sort_key: str, counter: str) -> builtins.list[str]:
        """Deletes an item that must exist and takes one from the PROFILE's `counter`, in one
        transaction; `transact`'s codes (any: there was no such item)."""
        return self.transact(
            [
                {
                    "Delete": {
                        "TableName": self.table_name,
                        "Key": key(user, sort_key),
                        "ConditionExpression": "attribute_exists(pk)",
                    }
                },
                {
                    "Update": {
                        "TableName": self.table_name,
                        "Key": key(user, PROFILE_SK),
                        "UpdateExpression": f"ADD {counter} :minus_one",
                        "ExpressionAttributeValues": {":minus_one": number(-1)},
                    }
                },
            ]
        )

    def _query(self, request: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every item the query finds, page after page (a page stops at 1 MB)."""
        request = dict(request)
        while True:
            answer = self.client.query(**request)
            yield from answer.get("Items", [])
            if "LastEvaluatedKey" not in answer:
                return
            request["ExclusiveStartKey"] = answer["LastEvaluatedKey"]

    def transact(self, actions: builtins.list[dict[str, Any]]) -> builtins.list[str]:
        """[] once written; each action's cancellation code when a condition failed.
        A conflict with another transaction on the same items is tried again."""
        for attempt in range(ATTEMPTS):
            try:
                self.client.transact_write_items(TransactItems=actions)
            except Exception as exc:
                if error_code(exc) != CANCELLED:
                    raise
                response = getattr(exc, "response", {})
                codes = [
                    reason.get("Code", "None") for reason in response.get("CancellationReasons", [])
                ]
                if "ConditionalCheckFailed" in codes:
                    return codes
                backoff(attempt)
            else:
                return []
        raise Unavailable("The conversations table is busy with other changes; try again.")

    def _batch_write(self, requests: builtins.list[dict[str, Any]]) -> None:
        """BatchWriteItem 25 at a time, sending again whatever DynamoDB left unprocessed."""
        for start in range(0, len(requests), 25):
            pending = requests[start : start + 25]
            for attempt in range(ATTEMPTS):
                answer = self.client.batch_write_item(RequestItems={self.table_name: pending})
                pending = answer.get("UnprocessedItems", {}).get(self.table_name, [])
                if not pending:
                    break
                backoff(attempt)
            else:
                raise Unavailable("The conversations table kept refusing writes; try again.")


class Conflict(Exception):
    """Another append changed the conversation between our read and our update."""


def partition(user: str) -> str:
    if not isinstance(user, str) or not user:
        raise StoreError("No user: conversations are kept per signed-in user.")
    return f"USER#{user}"


def meta_sk(conversation_id: str) -> str:
    return f"CONV#{conversation_id}#META"


def preset_sk(preset_id: str) -> str:
    return PRESET_PREFIX + preset_id


def message_sk(conversation_id: str, seq: int, part: int) -> str:
    return f"CONV#{conversation_id}#MSG#{seq:06d}#{part:03d}"


def key(user: str, sort_key: str) -> dict[str, Any]:
    return {PARTITION_KEY: text(partition(user)), SORT_KEY: text(sort_key)}


def text(value: str) -> dict[str, str]:
    return {"S": value}


def number(value: int) -> dict[str, str]:
    return {"N": str(value)}


def conversation_of(item: dict[str, Any]) -> Conversation:
    conversation_id = item["sk"]["S"].split("#")[1]
    return Conversation(
        conversation_id,
        item.get("title", {}).get("S", ""),
        item["createdAt"]["S"],
        item["updatedAt"]["S"],
        item.get("instructions", {}).get("S", ""),
        item.get("titleSource", {}).get("S", ""),
    )


def preset_of(item: dict[str, Any]) -> Preset:
    return Preset(
        item["sk"]["S"][len(PRESET_PREFIX) :],
        item["name"]["S"],
        item["instructions"]["S"],
        item["createdAt"]["S"],
        item["updatedAt"]["S"],
    )


def split_utf8(content: str, limit: int = PART_BYTES) -> list[str]:
    """`content` in pieces of at most `limit` UTF-8 bytes, each cut between two characters."""
    data = content.encode("utf-8")
    parts, start = [], 0
    while True:
        end = min(start + limit, len(data))
        while end < len(data) and data[end] & 0xC0 == 0x80:  # inside a character: step back
            end -= 1
        parts.append(data[start:end].decode("utf-8"))
        start = end
        if start >= len(data):
            return parts


def message_items(
    user: str, conversation_id: str, seq: int, message: Message, now: str
) -> list[dict[str, Any]]:
    parts = split_utf8(message.content)
    items = []
    for index, part in enumerate(parts):
        item = {
            **key(user, message_sk(conversation_id, seq, index)),
            "role": text(message.role),
            "content": text(part),
            "createdAt": text(now),
            # Every part knows how many there are, so a message half written (or half
            # deleted) is recognised and left out instead of shown cut short.
            "parts": number(len(parts)),
        }
        if message.stopped:
            item["stopped"] = {"BOOL": True}
        items.append(item)
    return items


def assemble(items: list[dict[str, Any]]) -> list[tuple[int, Message | None, list[str]]]:
    """Message items in sort-key order → (seq, the message or None if incomplete, sort keys)."""
    by_seq: dict[int, list[dict[str, Any]]] = {}
    for item in items:
        seq = int(item["sk"]["S"].split("#")[3])
        by_seq.setdefault(seq, []).append(item)
    messages: list[tuple[int, Message | None, list[str]]] = []
    for seq, parts in by_seq.items():
        sks = [part["sk"]["S"] for part in parts]
        numbers = [int(sk.split("#")[4]) for sk in sks]
        first = parts[0]
        message = None
        if numbers == list(range(int(first["parts"]["N"]))):
            message = Message(
                first["role"]["S"],
                "".join(part["content"]["S"] for part in parts),
                first["createdAt"]["S"],
                first.get("stopped", {}).get("BOOL", False),
            )
        messages.append((seq, message, sks))
    return messages


def error_code(exc: Exception) -> str:
    """botocore's error code ("ConditionalCheckFailedException"), "" for other exceptions."""
    response = getattr(exc, "response", None)
    if not isinstance(response, dict):
        return ""
    return str(response.get("Error", {}).get("Code", ""))


def backoff(attempt: int) -> None:
    # Full jitter, so writers that collided do not collide again in step.
    time.sleep(random.uniform(0, min(1.0, 0.02 * 2**attempt)))
