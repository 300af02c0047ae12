"""Export of all of a user's conversations in pages, and import all or nothing, over HTTP as the
adapter calls the gateway (docs/conversations.md §1, "Export and import")."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway import conversation_export, store_sqlite
from chat_gateway.server import GatewayServer
from chat_gateway.store import Unavailable

from tests.support.gateway_http import Client, start_gateway

NOWHERE = "http://127.0.0.1:9"  # these routes never call the model server


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[GatewayServer]:
    server = start_gateway(NOWHERE, tmp_path / "conversations.sqlite3")
    yield server
    server.shutdown()


def make(client: Client, title: str, messages: list[dict[str, Any]]) -> str:
    status, body, _ = client.call("POST", "/conversations", {"title": title, "messages": messages})
    assert status == 201, body
    return str(body["id"])


def pairs(n: int, user: str = "質問", answer: str = "answer") -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(n):
        out += [
            {"role": "user", "content": f"{user} {i}"},
            {"role": "assistant", "content": f"{answer} {i}"},
        ]
    return out


def export_all(client: Client, cursor: str | None = None) -> tuple[list[dict[str, Any]], list[int]]:
    """Every page joined as the web UI joins them; and each page's size in bytes."""
    joined: list[dict[str, Any]] = []
    sizes: list[int] = []
    for _ in range(1000):
        path = "/conversations/export" + (f"?cursor={cursor}" if cursor else "")
        status, page, _ = client.call("GET", path)
        assert status == 200, page
        sizes.append(len(json.dumps(page, ensure_ascii=False).encode()))
        for item in page["conversations"]:
            if item["firstMessage"] and joined and joined[-1]["id"] == item["id"]:
                assert item["firstMessage"] == len(joined[-1]["messages"])
                joined[-1]["messages"] += item["messages"]
            else:
                assert item["firstMessage"] == 0, item
                joined.append({k: v for k, v in item.items() if k != "firstMessage"})
        cursor = page["nextCursor"]
        if cursor is None:
            return joined, sizes
    raise AssertionError("the export never ended")


def comparable(messages: list[dict[str, Any]]) -> list[tuple[str, str, bool]]:
    return [(m["role"], m["content"], m.get("stopped", False)) for m in messages]


def test_export_in_pages_then_import_gives_the_same_conversations(
    alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept = [
        *pairs(30),
        {"role": "user", "content": "止めた"},
        {"role": "assistant", "content": "途中", "stopped": True},
    ]
    ids = [make(alice, "長い会話", kept), make(alice, "short", pairs(1)), make(alice, "empty", [])]
    # Pages of ~600 bytes: the long conversation runs over several pages.
    monkeypatch.setattr(conversation_export, "PAGE_BYTES", 600)
    exported, sizes = export_all(alice)
    assert len(sizes) > 3
    assert [c["title"] for c in exported] == ["empty", "short", "長い会話"]  # newest first
    for item in exported:
        status, stored, _ = alice.call("GET", f"/conversations/{item['id']}")
        assert status == 200 and item["messages"] == stored["messages"]
    assert comparable(exported[2]["messages"]) == comparable(kept)
    # The file's conversations come back in as new ones, equal in title and messages.
    for item in exported:
        body = {"title": item["title"], "messages": item["messages"]}
        status, created, _ = alice.call("POST", "/conversations", body)
        assert status == 201 and created["id"] not in ids and created["title"] == item["title"]
        status, read, _ = alice.call("GET", f"/conversations/{created['id']}")
        assert comparable(read["messages"]) == comparable(item["messages"])


def test_a_history_over_lambdas_6_mb_comes_in_pages_under_it(alice: Client) -> None:
    big = []
    for i in range(40):
        big += [
            {"role": "user", "content": f"{i} " + "q" * 7000},
            {"role": "assistant", "content": f"{i} " + "a" * 50000},
        ]
    for n in range(6):
        make(alice, f"big {n}", big)  # each ~2.3 MB; 13.7 MB in all
    exported, sizes = export_all(alice)
    assert sum(sizes) > 12 * 1024 * 1024
    assert max(sizes) < conversation_export.PAGE_BYTES + 100_000
    assert [len(c["messages"]) for c in exported] == [80] * 6
    assert comparable(exported[0]["messages"]) == comparable(big)


def test_nobody_exports_another_users_conversations(
    alice: Client, bob: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    secret = make(alice, "alice's secrets", pairs(20, user="my secret"))
    make(bob, "bob's own", pairs(1))
    exported, _ = export_all(bob)
    assert [c["title"] for c in exported] == ["bob's own"]
    # Alice's own cursor, pointing into her conversation, reads nothing of hers for bob.
    monkeypatch.setattr(conversation_export, "PAGE_BYTES", 300)
    status, page, _ = alice.call("GET", "/conversations/export")
    assert status == 200 and page["conversations"][0]["id"] == secret
    assert secret in base64.urlsafe_b64decode(page["nextCursor"] + "==").decode()
    stolen, _ = export_all(bob, page["nextCursor"])
    assert all(c["id"] != secret for c in stolen)
    assert "my secret" not in json.dumps(stolen)


@pytest.mark.parametrize(
    "cursor", ["garbage!!", "WzEsMiwzXQ", base64.urlsafe_b64encode(b'[null,"../x",0]').decode()]
)
def test_a_cursor_the_export_did_not_give_is_a_400(alice: Client, cursor: str) -> None:
    status, reply, _ = alice.call("GET", f"/conversations/export?cursor={cursor}")
    assert status == 400 and "start the export again" in reply["error"], reply


@pytest.mark.parametrize("method", ["POST", "PATCH", "DELETE"])
def test_the_export_is_read_only(alice: Client, method: str) -> None:
    status, reply, headers = alice.call(method, "/conversations/export", {})
    assert status == 405 and "not a method of /conversations/export" in reply["error"], reply
    assert headers["Allow"] == "OPTIONS, GET"


def count(client: Client) -> int:
    return len(client.call("GET", "/conversations?limit=100")[1]["conversations"])


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"messages": pairs(501)}, 400, "1002 messages; the limit is 1000"),
        ({"messages": [{"role": "user", "content": "x" * 8001}]}, 400, "limit is 8000"),
        ({"messages": [{"role": "assistant", "content": "x" * 64001}]}, 400, "limit is 64000"),
        ({"messages": [{"role": "user", "text": "hi"}]}, 400, "messages[0].content"),
        ({"messages": [{"author": "user"}]}, 400, "role user or assistant"),
        ({"messages": {"0": "hi"}}, 400, "'messages' must be a list"),
        ({"title": ["x"], "messages": pairs(1)}, 400, "'title' must be a string"),
        ({"messages": pairs(1), "pad": "x" * (4 * 1024 * 1024)}, 413, "the limit is 4194304"),
        ({"pad": "x" * 300_000}, 413, "the limit is 262144"),
    ],
)
def test_a_bad_import_is_a_clear_4xx_and_creates_nothing(
    alice: Client, body: dict[str, Any], status: int, words: str
) -> None:
    got, reply, _ = alice.call("POST", "/conversations", body)
    assert got == status and words in reply["error"], reply
    assert count(alice) == 0


def test_an_import_that_fails_after_creating_leaves_no_half_conversation(
    alice: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    def busy(*_: Any, **__: Any) -> Any:
        raise Unavailable("The database is busy; try again in a moment.")

    make(alice, "before", pairs(1))
    monkeypatch.setattr(store_sqlite.SqliteStore, "append", busy)
    status, reply, _ = alice.call("POST", "/conversations", {"messages": pairs(2)})
    assert status == 503 and "try again" in reply["error"], reply
    assert [c["title"] for c in alice.call("GET", "/conversations")[1]["conversations"]] == [
        "before"
    ]
