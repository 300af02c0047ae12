"""One contract for both conversation stores: SQLite on a temporary file, DynamoDB under moto."""

from __future__ import annotations

import base64
import json
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway import store
from chat_gateway.conversation_export import export_page
from chat_gateway.store import (
    TIMESTAMP_PATTERN,
    BadCursor,
    ConversationStore,
    Message,
    NotFound,
    StoreError,
    TooMany,
    encode_cursor,
)
from chat_gateway.store_dynamodb import PART_BYTES, DynamoStore, split_utf8
from chat_gateway.store_sqlite import SqliteStore

from tests.support.clocks import TickingClock
from tests.support.dynamo import TABLE, dynamo_store, inspector

ALICE, BOB = "alice-sub", "bob-sub"
#: Every kind of character a conversation holds: kana, kanji, full-width, and 4-byte emoji.
JAPANESE = "こんにちは、カタカナと漢字の混ざった長い会話です。東京都渋谷区😀🍣ＡＢＣ\n"


@pytest.fixture
def clock() -> TickingClock:
    return TickingClock()


@pytest.fixture(params=["sqlite", "dynamodb"])
def conversations(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    clock: TickingClock,
) -> Iterator[ConversationStore]:
    if request.param == "sqlite":
        yield SqliteStore(tmp_path / "data" / "conversations.sqlite3", clock=clock)
        return
    yield from dynamo_store(monkeypatch, tmp_path, clock)


def stored_messages(conversations: ConversationStore, user: str) -> set[tuple[str, int]]:
    """(conversation id, message number) of every message row or item the user has left."""
    if isinstance(conversations, SqliteStore):
        with sqlite3.connect(conversations.path) as db:
            rows = db.execute(
                "SELECT conversation_id, seq FROM messages WHERE user = ?", (user,)
            ).fetchall()
        return {(conversation_id, seq) for conversation_id, seq in rows}
    assert isinstance(conversations, DynamoStore)
    found = set()
    for item in scan(conversations):
        sk = item["sk"]["S"]
        if item["pk"]["S"] == f"USER#{user}" and "#MSG#" in sk:
            _, conversation_id, _, seq, _ = sk.split("#")
            found.add((conversation_id, int(seq)))
    return found


def scan(dynamo: DynamoStore) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    request: dict[str, Any] = {"TableName": TABLE}
    while True:
        page = inspector().scan(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            return items
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def item_bytes(item: dict[str, Any]) -> int:
    """DynamoDB's size of an item: attribute names plus values, strings in UTF-8."""
    size = 0
    for name, value in item.items():
        ((kind, raw),) = value.items()
        size += len(name.encode()) + (len(raw.encode()) if kind in ("S", "N") else 1)
    return size


def turn(text: str, answer: str = "", *, stopped: bool = False) -> list[Message]:
    return [
        Message("user", text),
        Message("assistant", answer or f"answer to {text}", stopped=stopped),
    ]


def listed(conversations: ConversationStore, user: str = ALICE, **kwargs: Any) -> list[str]:
    return [c.id for c in conversations.list(user, limit=100, **kwargs).conversations]


def test_create_lists_newest_first(conversations: ConversationStore) -> None:
    first = conversations.create(ALICE)
    second = conversations.create(ALICE, "  Trip   plans ")
    third = conversations.create(ALICE)
    assert first.title == "" and second.title == "Trip plans"
    assert first.created_at == first.updated_at
    assert TIMESTAMP_PATTERN.fullmatch(first.created_at)
    page = conversations.list(ALICE)
    assert page.conversations == [third, second, first]
    assert page.next_cursor is None


def test_append_moves_a_conversation_to_the_top(conversations: ConversationStore) -> None:
    old, newer = conversations.create(ALICE), conversations.create(ALICE)
    assert listed(conversations) == [newer.id, old.id]
    appended = conversations.append(ALICE, old.id, turn("hello"))
    assert appended.updated_at > newer.updated_at
    assert appended.created_at == old.created_at
    assert conversations.list(ALICE).conversations == [appended, newer]
    assert conversations.get(ALICE, old.id)[0] == appended


def test_rename_changes_the_title_but_not_the_order(conversations: ConversationStore) -> None:
    """A rename is not activity: updatedAt stays, so the list still orders by last message."""
    old, newer = conversations.create(ALICE), conversations.create(ALICE)
    renamed = conversations.rename(ALICE, old.id, " 名前を  変えた ")
    assert renamed.title == "名前を 変えた"
    assert renamed.updated_at == old.updated_at
    assert listed(conversations) == [newer.id, old.id]
    assert conversations.get(ALICE, old.id)[0] == renamed
    assert listed(conversations, query="変えた") == [old.id]
    with pytest.raises(StoreError):
        conversations.rename(ALICE, old.id, "   ")
    with pytest.raises(StoreError):
        conversations.rename(ALICE, old.id, "x" * (store.MAX_TITLE_CHARS + 1))


def test_pages_cover_the_list_once_in_order(conversations: ConversationStore) -> None:
    ids = [conversations.create(ALICE, f"chat {n}").id for n in range(7)]
    seen, sizes, cursor = [], [], None
    while True:
        page = conversations.list(ALICE, limit=3, cursor=cursor)
        sizes.append(len(page.conversations))
        seen += [c.id for c in page.conversations]
        cursor = page.next_cursor
        if cursor is None:
            break
        assert "alice" not in base64.urlsafe_b64decode(cursor + "==").decode()
    assert sizes == [3, 3, 1]
    assert seen == listed(conversations) == ids[::-1]
    # A page that ends exactly at the end says so: no cursor to an empty page.
    assert conversations.list(ALICE, limit=7).next_cursor is None
    last = conversations.list(ALICE, limit=6)
    assert conversations.list(ALICE, limit=1, cursor=last.next_cursor).next_cursor is None


def test_a_page_continues_after_the_conversation_before_moved(
    conversations: ConversationStore,
) -> None:
    ids = [conversations.create(ALICE).id for _ in range(4)]
    page = conversations.list(ALICE, limit=2)
    assert [c.id for c in page.conversations] == [ids[3], ids[2]]
    conversations.append(ALICE, ids[2], turn("bump"))  # the cursor's row is no longer there
    rest = conversations.list(ALICE, limit=2, cursor=page.next_cursor)
    assert [c.id for c in rest.conversations] == [ids[1], ids[0]]


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "e30",  # {}
        base64.urlsafe_b64encode(b'["2026-01-01T00:00:00.000Z"]').decode(),
        base64.urlsafe_b64encode(b'["yesterday", "' + b"0" * 32 + b'"]').decode(),
        encode_cursor("2026-01-01T00:00:00.000Z", "USER#bob"),
        base64.urlsafe_b64encode(json.dumps({"pk": "USER#bob", "sk": "PROFILE"}).encode()).decode(),
    ],
)
def test_a_bad_cursor_is_refused(conversations: ConversationStore, cursor: str) -> None:
    conversations.create(ALICE)
    with pytest.raises(BadCursor) as caught:
        conversations.list(ALICE, cursor=cursor)
    assert caught.value.status == 400


def test_a_cursor_never_reaches_another_user(conversations: ConversationStore) -> None:
    for _ in range(3):
        conversations.create(ALICE)
    cursor = conversations.list(ALICE, limit=1).next_cursor
    assert cursor is not None
    assert conversations.list(BOB, cursor=cursor).conversations == []


def test_search_is_case_insensitive_and_pages(conversations: ConversationStore) -> None:
    titles = [
        "Tokyo trip",
        "groceries",
        "東京の天気",
        "TOKYO food",
        "recipes",
        "Weekend in tokyo",
        "東京タワー",
        "100% done_",
        "Straße names",
    ]
    ids = {title: conversations.create(ALICE, title).id for title in titles}
    assert listed(conversations, query="tokyo") == [
        ids["Weekend in tokyo"],
        ids["TOKYO food"],
        ids["Tokyo trip"],
    ]
    assert listed(conversations, query="東京") == [ids["東京タワー"], ids["東京の天気"]]
    assert listed(conversations, query="STRASSE") == [ids["Straße names"]]
    assert listed(conversations, query="0% d") == [ids["100% done_"]]
    assert listed(conversations, query="%") == [ids["100% done_"]]  # text, not a pattern
    assert listed(conversations, query="nothing like it") == []
    # Matches spread among others still come in full pages, and the last page says it is.
    first = conversations.list(ALICE, limit=2, query="O")
    assert [c.title for c in first.conversations] == ["100% done_", "Weekend in tokyo"]
    second = conversations.list(ALICE, limit=2, query="O", cursor=first.next_cursor)
    assert [c.title for c in second.conversations] == ["TOKYO food", "groceries"]
    third = conversations.list(ALICE, limit=2, query="O", cursor=second.next_cursor)
    assert [c.title for c in third.conversations] == ["Tokyo trip"]
    assert third.next_cursor is None


def test_a_300000_character_japanese_conversation_comes_back_whole(
    conversations: ConversationStore,
) -> None:
    long = (JAPANESE * (300_000 // len(JAPANESE) + 1))[:300_000]
    assert len(long.encode()) > 400_000 * 2
    conversation = conversations.create(ALICE)
    messages = [
        Message("user", "長い文章を要約してください。"),
        Message("assistant", long),
        Message("user", long[:150_001] + "😀"),
        Message("assistant", "", stopped=True),
        Message("user", "ありがとう"),
    ]
    conversations.append(ALICE, conversation.id, messages[:2])
    conversations.append(ALICE, conversation.id, messages[2:])
    _, stored = conversations.get(ALICE, conversation.id)
    assert [(m.role, m.content, m.stopped) for m in stored] == [
        (m.role, m.content, m.stopped) for m in messages
    ]
    if isinstance(conversations, DynamoStore):
        items = scan(conversations)
        assert max(item_bytes(item) for item in items) < 400_000
        long_parts = [i for i in items if "#MSG#000001#" in i["sk"]["S"]]
        assert len(long_parts) == len(split_utf8(long)) >= len(long.encode()) // PART_BYTES
        assert "".join(i["content"]["S"] for i in long_parts) == long
        assert all(len(i["content"]["S"].encode()) <= PART_BYTES for i in items if "content" in i)


def test_split_utf8_cuts_only_between_characters() -> None:
    for text in ("a" * 9, "😀" * 9, "aあ😀" * 7, ""):
        for limit in (4, 5, 7):
            parts = split_utf8(text, limit)
            assert "".join(parts) == text
            assert all(len(part.encode()) <= limit for part in parts)
            assert all(parts) or text == ""


def test_delete_removes_every_message(conversations: ConversationStore) -> None:
    kept = conversations.create(ALICE)
    conversations.append(ALICE, kept.id, turn("keep me"))
    doomed = conversations.create(ALICE)
    conversations.append(ALICE, doomed.id, turn("a", JAPANESE * 5_000))
    conversations.append(ALICE, doomed.id, turn("b"))
    conversations.delete(ALICE, doomed.id)
    for call in (
        lambda: conversations.get(ALICE, doomed.id),
        lambda: conversations.delete(ALICE, doomed.id),
        lambda: conversations.rename(ALICE, doomed.id, "back"),
        lambda: conversations.append(ALICE, doomed.id, turn("c")),
    ):
        with pytest.raises(NotFound):
            call()
    assert listed(conversations) == [kept.id]
    assert stored_messages(conversations, ALICE) == {(kept.id, 0), (kept.id, 1)}
    if isinstance(conversations, DynamoStore):
        assert not [i for i in scan(conversations) if doomed.id in i["sk"]["S"]]


def test_another_users_conversation_is_not_found(conversations: ConversationStore) -> None:
    mine = conversations.create(ALICE, "private")
    conversations.append(ALICE, mine.id, turn("secret"))
    for call in (
        lambda: conversations.get(BOB, mine.id),
        lambda: conversations.rename(BOB, mine.id, "taken"),
        lambda: conversations.delete(BOB, mine.id),
        lambda: conversations.append(BOB, mine.id, turn("intrusion")),
        lambda: conversations.append(BOB, mine.id, turn("intrusion"), keep=0),
        lambda: conversations.get(ALICE, "0" * 32),  # unknown: the same answer
    ):
        with pytest.raises(NotFound) as caught:
            call()
        assert caught.value.status == 404
    assert conversations.list(BOB).conversations == []
    assert conversations.list(BOB, query="private").conversations == []
    conversation, messages = conversations.get(ALICE, mine.id)
    assert conversation.title == "private" and len(messages) == 2
    assert stored_messages(conversations, BOB) == set()
    with pytest.raises(StoreError) as malformed:
        conversations.get(ALICE, "../" + mine.id)
    assert malformed.value.status == 400 and not isinstance(malformed.value, NotFound)


def test_conversation_limit(
    conversations: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_CONVERSATIONS", 3)
    made = [conversations.create(ALICE) for _ in range(3)]
    with pytest.raises(TooMany) as caught:
        conversations.create(ALICE)
    assert caught.value.status == 409
    assert len(listed(conversations)) == 3
    conversations.create(BOB)  # the limit is per user
    conversations.delete(ALICE, made[0].id)
    conversations.create(ALICE)
    with pytest.raises(TooMany):
        conversations.create(ALICE)


def test_message_limit(conversations: ConversationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_MESSAGES", 4)
    conversation = conversations.create(ALICE)
    conversations.append(ALICE, conversation.id, turn("one"))
    full = conversations.append(ALICE, conversation.id, turn("two"))
    with pytest.raises(TooMany) as caught:
        conversations.append(ALICE, conversation.id, [Message("user", "three")])
    assert caught.value.status == 409
    stored, messages = conversations.get(ALICE, conversation.id)
    assert stored == full and len(messages) == 4
    # An edit that ends within the limit works; one that would pass it changes nothing.
    conversations.append(ALICE, conversation.id, turn("two again"), keep=2)
    with pytest.raises(TooMany):
        conversations.append(ALICE, conversation.id, [*turn("x"), Message("user", "y")], keep=2)
    assert [m.content for m in conversations.get(ALICE, conversation.id)[1]][2] == "two again"
    fresh = conversations.create(ALICE)
    with pytest.raises(TooMany):
        conversations.append(ALICE, fresh.id, [Message("user", "m")] * 5)
    assert conversations.get(ALICE, fresh.id)[1] == []


def test_keep_replaces_the_messages_from_that_index(conversations: ConversationStore) -> None:
    conversation = conversations.create(ALICE)
    conversations.append(ALICE, conversation.id, turn("first"))
    conversations.append(ALICE, conversation.id, turn("second"))
    _, before = conversations.get(ALICE, conversation.id)
    edited = conversations.append(
        ALICE, conversation.id, turn("second, edited", "cut short", stopped=True), keep=2
    )
    _, after = conversations.get(ALICE, conversation.id)
    assert [(m.role, m.content, m.stopped) for m in after] == [
        ("user", "first", False),
        ("assistant", "answer to first", False),
        ("user", "second, edited", False),
        ("assistant", "cut short", True),
    ]
    assert after[:2] == before[:2]
    assert all(TIMESTAMP_PATTERN.fullmatch(m.created_at) for m in after)
    assert after[2].created_at == after[3].created_at == edited.updated_at > before[2].created_at
    assert len(stored_messages(conversations, ALICE)) == 4  # the replaced ones are gone
    # Regenerate the last answer: the last user message again, from its index.
    conversations.append(ALICE, conversation.id, turn("second, edited", "better"), keep=2)
    assert [m.content for m in conversations.get(ALICE, conversation.id)[1]][-1] == "better"
    # keep = the number of messages is a plain append; past it there is nothing to edit.
    conversations.append(ALICE, conversation.id, turn("third"), keep=4)
    assert len(conversations.get(ALICE, conversation.id)[1]) == 6
    for keep in (7, -1):
        with pytest.raises(StoreError):
            conversations.append(ALICE, conversation.id, turn("nope"), keep=keep)
    conversations.append(ALICE, conversation.id, turn("start over"), keep=0)
    assert [m.content for m in conversations.get(ALICE, conversation.id)[1]] == [
        "start over",
        "answer to start over",
    ]
    assert len(stored_messages(conversations, ALICE)) == 2


def test_the_first_message_names_an_untitled_conversation(
    conversations: ConversationStore,
) -> None:
    untitled = conversations.create(ALICE)
    named = conversations.append(ALICE, untitled.id, turn("hi"), title="旅行の計画")
    assert named.title == "旅行の計画"
    again = conversations.append(ALICE, untitled.id, turn("more"), title="Something else")
    assert again.title == "旅行の計画"
    assert listed(conversations, query="旅行") == [untitled.id]
    titled = conversations.create(ALICE, "Chosen")
    assert conversations.append(ALICE, titled.id, turn("x"), title="Auto").title == "Chosen"
    assert conversations.append(ALICE, titled.id, turn("y")).title == "Chosen"


def test_messages_no_store_can_keep_are_refused(conversations: ConversationStore) -> None:
    conversation = conversations.create(ALICE)
    for bad in (Message("system", "hi"), Message("user", "half an emoji \ud83d")):
        with pytest.raises(StoreError):
            conversations.append(ALICE, conversation.id, [bad])
    with pytest.raises(StoreError):
        conversations.list(ALICE, limit=0)
    assert conversations.get(ALICE, conversation.id)[1] == []


def test_concurrent_appends_lose_nothing(conversations: ConversationStore) -> None:
    conversation = conversations.create(ALICE)
    threads, rounds = 8, 3
    start = threading.Barrier(threads)
    errors: list[BaseException] = []

    def chat(worker: int) -> None:
        try:
            start.wait()
            for n in range(rounds):
                conversations.append(ALICE, conversation.id, turn(f"{worker}-{n}"))
        except BaseException as exc:  # reported below, with the thread's failure
            errors.append(exc)

    workers = [threading.Thread(target=chat, args=(w,)) for w in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert errors == []
    _, messages = conversations.get(ALICE, conversation.id)
    asked = [m.content for m in messages if m.role == "user"]
    assert sorted(asked) == sorted(f"{w}-{n}" for w in range(threads) for n in range(rounds))
    # One append's messages stay together, and each worker's turns stay in its order.
    for question, answer in zip(messages[::2], messages[1::2], strict=True):
        assert answer.content == f"answer to {question.content}"
    for w in range(threads):
        assert [a for a in asked if a.startswith(f"{w}-")] == [f"{w}-{n}" for n in range(rounds)]
    assert len(stored_messages(conversations, ALICE)) == threads * rounds * 2


def test_concurrent_creates_keep_the_limit(
    conversations: ConversationStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "MAX_CONVERSATIONS", 5)
    start = threading.Barrier(8)
    outcomes: list[str] = []

    def create() -> None:
        start.wait()
        try:
            conversations.create(ALICE)
            outcomes.append("made")
        except TooMany:
            outcomes.append("too many")

    workers = [threading.Thread(target=create) for _ in range(8)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert sorted(outcomes) == ["made"] * 5 + ["too many"] * 3
    assert len(listed(conversations)) == 5


def test_sqlite_keeps_conversations_across_restarts(tmp_path: Path, clock: TickingClock) -> None:
    path = tmp_path / "new" / "folder" / "conversations.sqlite3"
    first = SqliteStore(path, clock=clock)
    conversation = first.create(ALICE, "survives")
    first.append(ALICE, conversation.id, turn("still here?"))
    again = SqliteStore(str(path), clock=clock)
    assert again.list(ALICE).conversations == first.list(ALICE).conversations
    assert again.get(ALICE, conversation.id) == first.get(ALICE, conversation.id)
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_instructions_are_kept_with_the_conversation(conversations: ConversationStore) -> None:
    """Set at create or later, replaced whole, removed with "", never moving the list."""
    tutor = conversations.create(ALICE, instructions="  日本語の先生として答えて。\n")
    plain, newer = conversations.create(ALICE), conversations.create(ALICE)
    assert tutor.instructions == "日本語の先生として答えて。" and plain.instructions == ""
    assert conversations.get(ALICE, tutor.id)[0].instructions == tutor.instructions
    changed = conversations.set_instructions(ALICE, plain.id, "Review code tersely.")
    assert changed.instructions == "Review code tersely."
    assert changed.updated_at == plain.updated_at
    assert listed(conversations) == [newer.id, plain.id, tutor.id]
    conversations.append(ALICE, plain.id, turn("hello"))
    assert conversations.get(ALICE, plain.id)[0].instructions == "Review code tersely."
    assert conversations.set_instructions(ALICE, plain.id, "   ").instructions == ""
    assert conversations.get(ALICE, plain.id)[0].instructions == ""
    longest = "指" * store.MAX_INSTRUCTIONS_CHARS
    assert conversations.set_instructions(ALICE, plain.id, longest).instructions == longest
    with pytest.raises(StoreError) as too_long:
        conversations.set_instructions(ALICE, plain.id, longest + "x")
    assert too_long.value.status == 400 and "limit is 4000" in too_long.value.message
    with pytest.raises(StoreError):
        conversations.create(ALICE, instructions=longest + "x")
    with pytest.raises(NotFound):
        conversations.set_instructions(BOB, tutor.id, "Reveal everything.")
    assert conversations.get(ALICE, tutor.id)[0].instructions == tutor.instructions


def test_the_model_names_a_conversation_but_never_over_the_users_title(
    conversations: ConversationStore,
) -> None:
    first_line = conversations.create(ALICE)
    conversations.append(ALICE, first_line.id, turn("how do I cook rice?"), title="how do I")
    assert conversations.get(ALICE, first_line.id)[0].title_source == "first"
    named = conversations.name_by_model(ALICE, first_line.id, "Cooking rice")
    assert (named.title, named.title_source) == ("Cooking rice", "model")
    assert listed(conversations, query="cooking") == [first_line.id]
    # A rename after the model's title wins, and a later model title does not undo it.
    renamed = conversations.rename(ALICE, first_line.id, "Dinner")
    assert renamed.title_source == "user"
    kept = conversations.name_by_model(ALICE, first_line.id, "Rice again")
    assert (kept.title, kept.title_source) == ("Dinner", "user")
    # A rename before the model's title wins too, as does a title given at creation.
    early = conversations.create(ALICE)
    conversations.rename(ALICE, early.id, "Mine")
    conversations.append(ALICE, early.id, turn("q"), title="q")
    assert conversations.name_by_model(ALICE, early.id, "Model's").title == "Mine"
    given = conversations.create(ALICE, "Given")
    assert conversations.name_by_model(ALICE, given.id, "Model's").title == "Given"
    assert conversations.get(ALICE, given.id)[0].title == "Given"
    with pytest.raises(NotFound):
        conversations.name_by_model(BOB, first_line.id, "Bob's")
    with pytest.raises(NotFound):
        conversations.name_by_model(ALICE, "f" * 32, "nobody's")


def test_presets_are_kept_per_user(conversations: ConversationStore) -> None:
    tutor = conversations.save_preset(ALICE, " Japanese  tutor ", "Answer as a Japanese teacher.")
    reviewer = conversations.save_preset(ALICE, "コードレビュー", "Review the code you are shown.")
    assert tutor.name == "Japanese tutor" and TIMESTAMP_PATTERN.fullmatch(tutor.created_at)
    assert conversations.presets(ALICE) == [tutor, reviewer]
    assert conversations.presets(BOB) == []
    changed = conversations.save_preset(ALICE, "Tutor", "Answer in easy Japanese.", tutor.id)
    assert (changed.id, changed.name, changed.created_at) == (tutor.id, "Tutor", tutor.created_at)
    assert changed.updated_at > tutor.updated_at
    assert conversations.presets(ALICE) == [changed, reviewer]
    # Another user can neither change nor delete them.
    with pytest.raises(NotFound):
        conversations.save_preset(BOB, "mine now", "Reveal secrets.", tutor.id)
    with pytest.raises(NotFound):
        conversations.delete_preset(BOB, tutor.id)
    assert conversations.presets(ALICE) == [changed, reviewer]
    conversations.delete_preset(ALICE, tutor.id)
    assert conversations.presets(ALICE) == [reviewer]
    with pytest.raises(NotFound):
        conversations.delete_preset(ALICE, tutor.id)
    for name, instructions in [("", "x"), ("x" * (store.MAX_PRESET_NAME_CHARS + 1), "x"),
                               ("named", "  "), ("named", "x" * 4001), (None, "x")]:  # fmt: skip
        with pytest.raises(StoreError) as refused:
            conversations.save_preset(ALICE, name, instructions)  # type: ignore[arg-type]
        assert refused.value.status == 400
    with pytest.raises(StoreError):
        conversations.delete_preset(ALICE, "../PROFILE")


def test_preset_limit(conversations: ConversationStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(store, "MAX_PRESETS", 2)
    first = conversations.save_preset(ALICE, "one", "1")
    conversations.save_preset(ALICE, "two", "2")
    with pytest.raises(TooMany) as caught:
        conversations.save_preset(ALICE, "three", "3")
    assert caught.value.status == 409 and "delete one" in caught.value.message
    conversations.save_preset(ALICE, "one, changed", "1!", first.id)  # a change is no new one
    conversations.save_preset(BOB, "bob's", "b")  # the limit is per user
    conversations.delete_preset(ALICE, first.id)
    conversations.save_preset(ALICE, "three", "3")
    assert [p.name for p in conversations.presets(ALICE)] == ["two", "three"]


def test_sqlite_adds_the_new_columns_to_an_older_file(tmp_path: Path, clock: TickingClock) -> None:
    """A conversations file from before instructions and model titles opens and works."""
    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:
        db.executescript(
            "CREATE TABLE conversations (user TEXT NOT NULL, id TEXT NOT NULL, title TEXT NOT "
            "NULL, title_search TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT "
            "NULL, next_seq INTEGER NOT NULL, PRIMARY KEY (user, id));"
            f"INSERT INTO conversations VALUES ('{ALICE}', '{'a' * 32}', 'old', 'old', "
            "'2026-01-01T00:00:00.000Z', '2026-01-01T00:00:00.000Z', 0);"
        )
    opened = SqliteStore(path, clock=clock)
    old = opened.get(ALICE, "a" * 32)[0]
    assert (old.title, old.instructions) == ("old", "")
    assert opened.set_instructions(ALICE, old.id, "be brief").instructions == "be brief"


def test_the_export_pages_through_both_stores(conversations: ConversationStore) -> None:
    """conversation_export over each store: pages of a few hundred bytes join into every
    conversation, newest first; one deleted mid-export is left out; another user's cursor
    reads nothing of this user's."""
    ids = []
    for n in range(4):
        made = conversations.create(ALICE, f"talk {n}")
        turns = [
            Message("user" if i % 2 == 0 else "assistant", f"{JAPANESE}{n}-{i}") for i in range(6)
        ]
        conversations.append(ALICE, made.id, turns)
        ids.append(made.id)
    joined: dict[str, list[str]] = {}
    order: list[str] = []
    cursor, pages = None, 0
    while True:
        page = export_page(conversations, ALICE, cursor, budget=400)
        pages += 1
        if pages == 2:
            conversations.delete(ALICE, ids[0])  # the oldest: not reached yet
            stolen = export_page(conversations, BOB, page["nextCursor"], budget=400)
            assert stolen["conversations"] == []
        for part in page["conversations"]:
            if part["id"] not in joined:
                assert part["firstMessage"] == 0
                order.append(part["id"])
                joined[part["id"]] = []
            assert part["firstMessage"] == len(joined[part["id"]])
            joined[part["id"]] += [m["content"] for m in part["messages"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages > 4
    assert order == [ids[3], ids[2], ids[1]]
    for conversation_id in order:
        _, messages = conversations.get(ALICE, conversation_id)
        assert joined[conversation_id] == [m.content for m in messages]
