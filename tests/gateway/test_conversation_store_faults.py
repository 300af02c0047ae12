"""The DynamoDB conversation store when DynamoDB does not simply say yes: transaction conflicts
tried again, unprocessed batch items sent again, an edit racing an append, throttling as a 503
with a sentence; and the gateway's answer to an error nobody expected (a 500 that shows no
internals, with the traceback in the log only)."""

from __future__ import annotations

import http.client
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from chat_gateway import store_dynamodb
from chat_gateway.config import Config
from chat_gateway.handler import UNEXPECTED, Gateway
from chat_gateway.server import GatewayServer, start_in_thread
from chat_gateway.store import Message, Unavailable
from chat_gateway.store_dynamodb import ATTEMPTS, TABLE_BUSY, DynamoStore
from chat_gateway.store_sqlite import SqliteStore

from tests.support.clocks import TickingClock
from tests.support.dynamo import TABLE, dynamo_store, inspector
from tests.support.faulty_upstream import FaultyUpstream
from tests.support.gateway_http import ORIGIN, READ_SECONDS, context_header, post

ALICE = "alice-sub"


class Client:
    """The moto client, with some of its calls replaced by the test."""

    def __init__(self, real: Any, **replaced: Callable[..., Any]) -> None:
        self._real = real
        self.__dict__.update(replaced)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


def refusal(code: str, operation: str = "Call", **response: Any) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": "no"}, **response}, operation)


@pytest.fixture
def dynamo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[DynamoStore]:
    monkeypatch.setattr(store_dynamodb, "backoff", lambda attempt: None)  # no sleeping
    yield from dynamo_store(monkeypatch, tmp_path, TickingClock())


def with_client(dynamo: DynamoStore, **replaced: Callable[..., Any]) -> DynamoStore:
    return DynamoStore(TABLE, client=Client(dynamo.client, **replaced), clock=dynamo.clock)


def conflicts(times: int, real: Callable[..., Any], calls: list[int]) -> Callable[..., Any]:
    """transact_write_items that loses to another transaction `times` times first."""

    def transact(**request: Any) -> Any:
        calls.append(1)
        if len(calls) <= times:
            reasons = [{"Code": "TransactionConflict"}, {"Code": "None"}]
            raise refusal(store_dynamodb.CANCELLED, CancellationReasons=reasons)
        return real(**request)

    return transact


def test_a_transaction_conflict_is_tried_again(dynamo: DynamoStore) -> None:
    calls: list[int] = []
    flaky = with_client(
        dynamo, transact_write_items=conflicts(2, dynamo.client.transact_write_items, calls)
    )
    created = flaky.create(ALICE, "wanted")
    assert len(calls) == 3
    assert [c.id for c in dynamo.list(ALICE).conversations] == [created.id]
    flaky.delete(ALICE, created.id)
    assert len(calls) == 3 + 1 and dynamo.list(ALICE).conversations == []


def test_conflicts_that_do_not_end_are_a_503_and_write_nothing(dynamo: DynamoStore) -> None:
    calls: list[int] = []
    flaky = with_client(
        dynamo, transact_write_items=conflicts(99, dynamo.client.transact_write_items, calls)
    )
    with pytest.raises(Unavailable) as caught:
        flaky.create(ALICE, "never")
    assert caught.value.status == 503
    assert caught.value.message == "The conversations table is busy with other changes; try again."
    assert len(calls) == ATTEMPTS
    assert dynamo.list(ALICE).conversations == []


def leaves_unprocessed(
    real: Callable[..., Any], batches: list[int], *, always: bool = False
) -> Callable[..., Any]:
    """batch_write_item that writes only the first request of each batch (or none, `always`)
    and hands back the rest as UnprocessedItems, as DynamoDB does when it is busy."""

    def batch_write(RequestItems: dict[str, list[Any]]) -> Any:
        batches.append(len(RequestItems[TABLE]))
        pending = RequestItems[TABLE]
        if always:
            return {"UnprocessedItems": {TABLE: pending}}
        real(RequestItems={TABLE: pending[:1]})
        return {"UnprocessedItems": {TABLE: pending[1:]}} if pending[1:] else {}

    return batch_write


def test_unprocessed_items_are_sent_again_until_all_are_written(dynamo: DynamoStore) -> None:
    batches: list[int] = []
    flaky = with_client(
        dynamo, batch_write_item=leaves_unprocessed(dynamo.client.batch_write_item, batches)
    )
    conversation = dynamo.create(ALICE)
    turn = [Message("user", "one"), Message("assistant", "two"), Message("user", "three")]
    flaky.append(ALICE, conversation.id, turn)
    assert batches == [3, 2, 1]
    _, messages = dynamo.get(ALICE, conversation.id)
    assert [m.content for m in messages] == ["one", "two", "three"]


def test_a_table_that_keeps_refusing_writes_is_a_503(dynamo: DynamoStore) -> None:
    batches: list[int] = []
    flaky = with_client(
        dynamo,
        batch_write_item=leaves_unprocessed(dynamo.client.batch_write_item, batches, always=True),
    )
    conversation = dynamo.create(ALICE)
    with pytest.raises(Unavailable) as caught:
        flaky.append(ALICE, conversation.id, [Message("user", "lost")])
    assert caught.value.status == 503
    assert caught.value.message == "The conversations table kept refusing writes; try again."
    assert len(batches) == ATTEMPTS


def test_an_edit_racing_an_append_reads_again_and_replaces_what_came_after(
    dynamo: DynamoStore,
) -> None:
    """An append lands between the edit's read and its write: the edit's condition fails, it
    reads again, and the conversation ends as the edit says, with no orphaned parts."""
    conversation = dynamo.create(ALICE)
    dynamo.append(ALICE, conversation.id, [Message("user", "u1"), Message("assistant", "a1")])
    dynamo.append(ALICE, conversation.id, [Message("user", "u2"), Message("assistant", "a2")])
    real_update = dynamo.client.update_item
    raced: list[bool] = []

    def update(**request: Any) -> Any:
        if ":seen" in request["ExpressionAttributeValues"] and not raced:
            raced.append(True)  # another tab's answer lands now
            dynamo.append(
                ALICE, conversation.id, [Message("user", "u3"), Message("assistant", "a3")]
            )
        return real_update(**request)

    editor = with_client(dynamo, update_item=update)
    editor.append(
        ALICE, conversation.id, [Message("user", "u2'"), Message("assistant", "a2'")], keep=2
    )
    assert raced == [True]
    _, messages = dynamo.get(ALICE, conversation.id)
    assert [m.content for m in messages] == ["u1", "a1", "u2'", "a2'"]
    stored = [
        item["sk"]["S"]
        for item in inspector().scan(TableName=TABLE)["Items"]
        if "#MSG#" in item["sk"]["S"]
    ]
    assert len(stored) == 4


def throttled(dynamo: DynamoStore, *names: str) -> DynamoStore:
    """The store with `names` (every call, when none) answered by throttling."""

    def refuse(**_: Any) -> Any:
        raise refusal("ProvisionedThroughputExceededException")

    every = ("query", "get_item", "update_item", "transact_write_items", "batch_write_item")
    return with_client(dynamo, **dict.fromkeys(names or every, refuse))


def test_throttling_is_a_503_that_says_try_again_for_every_call(dynamo: DynamoStore) -> None:
    conversation = dynamo.create(ALICE)
    busy = throttled(dynamo)
    for call in (
        lambda: busy.create(ALICE),
        lambda: busy.list(ALICE),
        lambda: busy.get(ALICE, conversation.id),
        lambda: busy.rename(ALICE, conversation.id, "new"),
        lambda: busy.delete(ALICE, conversation.id),
        lambda: busy.append(ALICE, conversation.id, [Message("user", "hi")]),
        lambda: busy.append(ALICE, conversation.id, [Message("user", "hi")], keep=0),
    ):
        with pytest.raises(Unavailable) as caught:
            call()
        assert (caught.value.status, caught.value.message) == (503, TABLE_BUSY)


@pytest.fixture
def upstream() -> Iterator[FaultyUpstream]:
    server = FaultyUpstream()
    yield server
    server.stop()


def gateway_on(store: Any, upstream_url: str) -> GatewayServer:
    env = {"UPSTREAM_URL": upstream_url, "ALLOWED_ORIGINS": ORIGIN, "TIME_BUDGET_SECONDS": "60"}
    return start_in_thread(Gateway(Config.from_env(env), store=store))


def call(
    server: GatewayServer, method: str, path: str, body: Any = None, *, stream: bool = False
) -> tuple[int, Any]:
    """One request as alice; the status and the JSON body (or the stream's last event)."""
    if method == "POST":
        conn, reply = post(server, path, body, sub=ALICE, stream=stream)
    else:
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=READ_SECONDS)
        conn.request(method, path, headers={"x-amzn-request-context": context_header(ALICE)})
        response = conn.getresponse()
        status, body = response.status, json.loads(response.read())
        conn.close()
        return status, body
    if reply.headers["content-type"].startswith("text/event-stream"):
        list(reply.next_events())
        conn.close()
        return reply.status, reply.data()[-1]
    answer = reply.json()
    conn.close()
    return reply.status, answer


BUSY_BODY = {"success": False, "error": TABLE_BUSY}


def test_the_gateway_answers_a_throttled_table_with_503_and_the_sentence(
    dynamo: DynamoStore, upstream: FaultyUpstream
) -> None:
    conversation = dynamo.create(ALICE)
    server = gateway_on(throttled(dynamo), upstream.url)
    try:
        assert call(server, "GET", "/conversations") == (503, BUSY_BODY)
        assert call(server, "GET", f"/conversations/{conversation.id}") == (503, BUSY_BODY)
        assert call(server, "POST", "/conversations", {"title": "x"}) == (503, BUSY_BODY)
        chat = {"message": "answers", "conversationId": conversation.id}
        assert call(server, "POST", "/chat", chat) == (503, BUSY_BODY)
        assert call(server, "POST", "/chat", chat, stream=True) == (503, BUSY_BODY)
    finally:
        server.shutdown()


def test_an_answer_the_throttled_table_cannot_keep_ends_in_503_with_the_sentence(
    dynamo: DynamoStore, upstream: FaultyUpstream
) -> None:
    """The conversation is read; keeping the answer is throttled."""
    conversation = dynamo.create(ALICE)
    server = gateway_on(throttled(dynamo, "update_item", "batch_write_item"), upstream.url)
    words = f"The answer could not be kept in the conversation: {TABLE_BUSY}"
    chat = {"message": "answers", "conversationId": conversation.id}
    try:
        assert call(server, "POST", "/chat", chat) == (503, {"success": False, "error": words})
        streamed = call(server, "POST", "/chat", chat, stream=True)
        assert streamed == (200, {"done": True, "success": False, "error": words, "status": 503})
    finally:
        server.shutdown()
    assert dynamo.get(ALICE, conversation.id)[1] == []


class Broken(SqliteStore):
    """A store with a bug of ours in it: its reads and writes raise what nobody handles."""

    SECRET = "KeyError at /var/task/chat_gateway/store.py, table arn:aws:dynamodb:secret"

    def list(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(self.SECRET)

    def append(self, *args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(self.SECRET)


def test_an_unexpected_error_is_a_500_that_shows_nothing_and_logs_the_traceback(
    tmp_path: Path, upstream: FaultyUpstream, capsys: pytest.CaptureFixture[str]
) -> None:
    store = Broken(tmp_path / "c.db")
    conversation = store.create(ALICE)
    server = gateway_on(store, upstream.url)
    chat = {"message": "answers", "conversationId": conversation.id}
    try:
        listed = call(server, "GET", "/conversations")
        answered = call(server, "POST", "/chat", chat)
        streamed = call(server, "POST", "/chat", chat, stream=True)
    finally:
        server.shutdown()
    assert UNEXPECTED.message == "The chat gateway failed unexpectedly. Try again."
    assert listed == (500, {"success": False, "error": UNEXPECTED.message})
    assert answered == (500, {"success": False, "error": UNEXPECTED.message})
    assert streamed == (
        200,
        {"done": True, "success": False, "error": UNEXPECTED.message, "status": 500},
    )
    logged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line]
    errors = [line["error"] for line in logged if line.get("status") == 500]
    assert len(errors) == 3
    for error in errors:
        assert error.startswith("Traceback (most recent call last):")
        assert f"RuntimeError: {Broken.SECRET}" in error
