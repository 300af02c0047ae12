"""The conversation routes and /chat with a conversationId, over HTTP as the adapter calls the
gateway (docs/conversations.md §1): a real gateway server, an SQLite store, our server in front
of an engine that records what the model was asked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway import store as store_module
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer
from chat_gateway.store_sqlite import SqliteStore

from tests.support.engines import RecordingEngine
from tests.support.gateway_http import KEY, ORIGIN, UNKNOWN_ID, Client, start_gateway
from tests.support.lambda_events import LambdaContext
from tests.support.live import live_server
from tests.support.upstreams import FaultyServer


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def gateway(engine: RecordingEngine, tmp_path: Path) -> Iterator[GatewayServer]:
    with live_server(engine, api_key=[KEY]) as url:
        server = start_gateway(url, tmp_path / "conversations.sqlite3")
        yield server
        server.shutdown()


def test_create_list_read_rename_delete(alice: Client) -> None:
    first = alice.new()
    assert set(first) == {"id", "title", "createdAt", "updatedAt"} and first["title"] == ""
    second = alice.new("Trip to Kyoto")
    status, listed, headers = alice.call("GET", "/conversations")
    assert status == 200 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert [c["id"] for c in listed["conversations"]] == [second["id"], first["id"]]
    assert listed["nextCursor"] is None

    status, renamed, _ = alice.call("PATCH", f"/conversations/{first['id']}", {"title": " 旅行 "})
    assert status == 200 and renamed["title"] == "旅行" and renamed["id"] == first["id"]
    status, read, _ = alice.call("GET", f"/conversations/{first['id']}")
    assert status == 200 and read["title"] == "旅行" and read["messages"] == []

    status, body, headers = alice.call("DELETE", f"/conversations/{first['id']}")
    assert status == 204 and body is None and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert alice.call("GET", f"/conversations/{first['id']}")[0] == 404
    listed = alice.call("GET", "/conversations")[1]
    assert [c["id"] for c in listed["conversations"]] == [second["id"]]


def test_the_list_pages_and_searches_titles(alice: Client) -> None:
    made = [alice.new(f"topic {i} {'京都' if i % 2 else 'Osaka'}")["id"] for i in range(5)]
    seen: list[str] = []
    cursor = None
    while True:
        query = "/conversations?limit=2" + (f"&cursor={cursor}" if cursor else "")
        status, page, _ = alice.call("GET", query)
        assert status == 200 and len(page["conversations"]) <= 2
        seen += [c["id"] for c in page["conversations"]]
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert seen == made[::-1]
    found = alice.call("GET", "/conversations?q=%E4%BA%AC%E9%83%BD")[1]  # 京都
    assert [c["id"] for c in found["conversations"]] == [made[3], made[1]]
    found = alice.call("GET", "/conversations?q=osaka")[1]
    assert [c["id"] for c in found["conversations"]] == [made[4], made[2], made[0]]


def test_chat_in_a_conversation_keeps_both_turns_and_names_it(
    alice: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new()
    reply = alice.chat(conversation["id"], "What is the capital of Japan?\nAnd why?")
    assert reply["success"] is True and reply["conversationId"] == conversation["id"]
    assert reply["conversation"]["title"] == "What is the capital of Japan?"
    answer = "You said: What is the capital of Japan? And why?"
    assert reply["response"] == answer
    assert alice.messages(conversation["id"]) == [
        ("user", "What is the capital of Japan?\nAnd why?"),
        ("assistant", answer),
    ]
    # The second turn is asked with the stored history; a history in the body is ignored.
    forged = [{"role": "user", "content": "forged"}, {"role": "assistant", "content": "x"}]
    reply = alice.chat(conversation["id"], "Tell me more", conversationHistory=forged)
    assert engine.asked[-1] == [
        ("user", "What is the capital of Japan?\nAnd why?"),
        ("assistant", answer),
        ("user", "Tell me more"),
    ]
    assert [t["content"] for t in reply["conversationHistory"]][-2:] == [
        "Tell me more",
        "You said: Tell me more",
    ]
    assert len(alice.messages(conversation["id"])) == 4
    # A title the user gave is kept.
    named = alice.new("My own title")
    assert alice.chat(named["id"], "hello")["conversation"]["title"] == "My own title"


def test_the_model_sees_the_newest_stored_turns_that_fit_the_limits(
    alice: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new()
    for i in range(5):
        alice.chat(conversation["id"], f"turn {i}")
    assert len(alice.messages(conversation["id"])) == 10  # all kept
    asked = engine.asked[-1]  # MAX_HISTORY_MESSAGES is 6: the newest 6, then this turn
    assert [content for _, content in asked] == [
        "turn 1",
        "You said: turn 1",
        "turn 2",
        "You said: turn 2",
        "turn 3",
        "You said: turn 3",
        "turn 4",
    ]


def test_edit_from_replaces_the_turns_after_it(alice: Client) -> None:
    conversation = alice.new()
    for text in ("one", "two", "three"):
        alice.chat(conversation["id"], text)
    # Edit the second message: it and everything after it give way to the new turn.
    reply = alice.chat(conversation["id"], "TWO", editFrom=2)
    assert alice.messages(conversation["id"]) == [
        ("user", "one"),
        ("assistant", "You said: one"),
        ("user", "TWO"),
        ("assistant", "You said: TWO"),
    ]
    assert len(reply["conversationHistory"]) == 4
    # Regenerate: the last user message again, from its own index: still one answer to it.
    alice.chat(conversation["id"], "TWO", editFrom=2)
    assert len(alice.messages(conversation["id"])) == 4
    for bad in (1, 4, 99, -1, "2", True):
        body = {"message": "x", "conversationId": conversation["id"], "editFrom": bad}
        status, error, _ = alice.call("POST", "/chat", body)
        assert status == 400 and "editFrom" in error["error"], (bad, error)
    assert len(alice.messages(conversation["id"])) == 4


def test_a_streamed_answer_is_kept_and_the_done_event_says_where(alice: Client) -> None:
    conversation = alice.new()
    body = {"message": "stream this please", "conversationId": conversation["id"]}
    status, events, _ = alice.call("POST", "/chat", body, stream=True)
    assert status == 200
    done = events[-1]
    assert done["done"] is True and done["success"] is True
    assert done["conversationId"] == conversation["id"]
    assert done["conversation"]["title"] == "stream this please"
    assert done["conversationHistory"] == [
        {"role": "user", "content": "stream this please"},
        {"role": "assistant", "content": "You said: stream this please"},
    ]
    assert alice.messages(conversation["id"]) == [
        ("user", "stream this please"),
        ("assistant", "You said: stream this please"),
    ]


def test_a_stopped_answer_is_kept_as_it_stood(tmp_path: Path) -> None:
    engine = RecordingEngine(token_delay=0.1)
    with live_server(engine, api_key=[KEY]) as url:
        server = start_gateway(url, tmp_path / "c.sqlite3")
        try:
            alice = Client(server, "alice-sub")
            conversation = alice.new()
            body = {
                "message": " ".join(f"w{i}" for i in range(60)),
                "conversationId": conversation["id"],
            }
            done = alice.stopped(body)
            status, read, _ = alice.call("GET", f"/conversations/{conversation['id']}")
            assert status == 200
            answer = read["messages"][1]
            assert answer["stopped"] is True and answer["content"] == done["response"]
            assert 0 < len(answer["content"]) < len("You said: " + body["message"])
        finally:
            server.shutdown()


def test_a_failed_answer_stores_nothing(tmp_path: Path) -> None:
    faulty = FaultyServer()
    server = start_gateway(faulty.url + "/error500", tmp_path / "c.sqlite3")
    try:
        alice = Client(server, "alice-sub")
        conversation = alice.new()
        status, body, _ = alice.call(
            "POST", "/chat", {"message": "hi", "conversationId": conversation["id"]}
        )
        assert status == 502 and body["success"] is False
        assert alice.messages(conversation["id"]) == []
    finally:
        server.shutdown()
        faulty.stop()


def test_another_users_conversation_is_not_found_on_every_route(
    alice: Client, bob: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new("alice's secrets")
    alice.chat(conversation["id"], "my secret")
    asked = len(engine.asked)
    path = f"/conversations/{conversation['id']}"
    for method, route, body in [
        ("GET", path, None),
        ("PATCH", path, {"title": "mine now"}),
        ("DELETE", path, None),
        ("POST", "/chat", {"message": "hi", "conversationId": conversation["id"]}),
    ]:
        status, reply, _ = bob.call(method, route, body)
        assert status == 404 and reply["success"] is False, (method, route, reply)
        unknown = route.replace(conversation["id"], UNKNOWN_ID)
        if body and "conversationId" in body:
            body = {**body, "conversationId": UNKNOWN_ID}
        # The same answer as for an id nobody has: ids cannot be probed.
        other = bob.call(method, unknown, body)
        assert other[0] == 404
        assert other[1]["error"] == reply["error"].replace(conversation["id"], UNKNOWN_ID)
    status, _, _ = bob.call(
        "POST", "/chat", {"message": "hi", "conversationId": conversation["id"]}, stream=True
    )
    assert status == 404
    assert bob.call("GET", "/conversations")[1]["conversations"] == []
    assert len(engine.asked) == asked  # the model was never asked for bob
    assert alice.messages(conversation["id"])[0] == ("user", "my secret")
    assert alice.call("GET", path)[1]["title"] == "alice's secrets"


@pytest.mark.parametrize(
    ("method", "path", "body", "status", "words"),
    [
        ("GET", "/conversations/not-an-id", None, 400, "not a conversation id"),
        ("GET", "/conversations/" + "A" * 32, None, 400, "not a conversation id"),
        ("GET", "/conversations/" + UNKNOWN_ID + "/messages", None, 404, "Not found"),
        ("POST", "/conversations", {"title": "x" * 201}, 400, "limit is 200"),
        ("POST", "/conversations", {"title": 5}, 400, "'title' must be a string"),
        ("POST", "/conversations", "[1]", 400, "JSON object"),
        ("POST", "/conversations", {"messages": "hi"}, 400, "'messages' must be a list"),
        ("POST", "/conversations", {"messages": [{"role": "system", "content": "x"}]}, 400, "role"),
        ("POST", "/conversations/" + UNKNOWN_ID, {}, 405, "not a method"),
        ("PUT", "/conversations", {}, 405, "not a method"),
        ("GET", "/conversations?limit=0", None, 400, "'limit'"),
        ("GET", "/conversations?limit=abc", None, 400, "'limit'"),
        ("GET", "/conversations?cursor=garbage!!", None, 400, "cursor"),
        ("GET", "/conversations?q=" + "x" * 101, None, 400, "'q'"),
        ("POST", "/chat", {"message": "x", "conversationId": 7}, 400, "'conversationId'"),
        (
            "POST",
            "/chat",
            {"message": "x", "conversationId": "../etc"},
            400,
            "not a conversation id",
        ),
    ],
)
def test_bad_requests_get_a_clear_4xx(
    alice: Client, method: str, path: str, body: Any, status: int, words: str
) -> None:
    got, reply, _ = alice.call(method, path, body)
    assert got == status, reply
    assert reply["success"] is False and words in reply["error"], reply


def test_empty_titles_are_refused_on_rename(alice: Client) -> None:
    conversation = alice.new("kept")
    for title in ("", "   ", None):
        status, reply, _ = alice.call(
            "PATCH", f"/conversations/{conversation['id']}", {"title": title}
        )
        assert status == 400 and "title" in reply["error"]
    assert alice.call("GET", f"/conversations/{conversation['id']}")[1]["title"] == "kept"


def test_too_many_conversations_is_a_409_that_says_what_to_do(
    alice: Client, bob: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_CONVERSATIONS", 3)
    made = [alice.new()["id"] for _ in range(3)]
    status, reply, _ = alice.call("POST", "/conversations", {})
    assert status == 409 and "3" in reply["error"] and "delete" in reply["error"].lower()
    bob.new()  # another user's count is their own
    assert alice.call("DELETE", f"/conversations/{made[0]}")[0] == 204
    alice.new()


def test_importing_what_a_browser_kept(alice: Client) -> None:
    kept = [
        {"role": "user", "content": "昔の質問です\n二行目"},
        {"role": "assistant", "content": "昔の答え", "stopped": True},
    ]
    status, created, _ = alice.call("POST", "/conversations", {"messages": kept})
    assert status == 201 and created["title"] == "昔の質問です"
    status, read, _ = alice.call("GET", f"/conversations/{created['id']}")
    assert [(m["role"], m["content"]) for m in read["messages"]] == [
        ("user", "昔の質問です\n二行目"),
        ("assistant", "昔の答え"),
    ]
    assert read["messages"][1]["stopped"] is True


def test_without_a_store_the_routes_say_what_to_set(engine: RecordingEngine) -> None:
    with live_server(engine, api_key=[KEY]) as url:
        server = start_gateway(url, None)
        try:
            alice = Client(server, "alice-sub")
            for method, path, body in [
                ("GET", "/conversations", None),
                ("POST", "/chat", {"message": "hi", "conversationId": UNKNOWN_ID}),
            ]:
                status, reply, _ = alice.call(method, path, body)
                assert status == 501 and "CONVERSATIONS_TABLE" in reply["error"]
            # The old contract is untouched: history in the body, nothing stored.
            status, reply, _ = alice.call("POST", "/chat", {"message": "hi"})
            assert status == 200 and reply["response"] == "You said: hi"
            assert "conversationId" not in reply
        finally:
            server.shutdown()


def test_the_buffered_lambda_handler_serves_the_routes_too(tmp_path: Path) -> None:
    """index.lambda_handler (a proxy event in, JSON out) shares the routes with the server."""
    gateway = Gateway(
        Config.from_env(
            {"UPSTREAM_URL": "http://127.0.0.1:9", "CONVERSATIONS_DB": str(tmp_path / "c.db")}
        )
    )

    def event(method: str, path: str, body: Any = None, query: Any = None) -> dict[str, Any]:
        return {
            "httpMethod": method,
            "path": path,
            "headers": {"Content-Type": "application/json"},
            "queryStringParameters": query,
            "body": None if body is None else json.dumps(body),
            "requestContext": {"requestId": "r1", "authorizer": {"claims": {"sub": "carol"}}},
        }

    created = gateway.handle(
        event("POST", "/conversations", {"title": "via Lambda"}), LambdaContext()
    )
    assert created["statusCode"] == 201
    conversation_id = json.loads(created["body"])["id"]
    listed = gateway.handle(event("GET", "/conversations", query={"limit": "1"}), LambdaContext())
    assert json.loads(listed["body"])["conversations"][0]["id"] == conversation_id
    bad = gateway.handle(event("GET", "/conversations", query={"limit": "500"}), LambdaContext())
    assert bad["statusCode"] == 400
    preflight = gateway.handle(
        event("OPTIONS", f"/conversations/{conversation_id}"), LambdaContext()
    )
    assert preflight["statusCode"] == 204
    assert "PATCH" in preflight["headers"]["Access-Control-Allow-Methods"]


def test_conversations_outlive_the_gateway(tmp_path: Path, engine: RecordingEngine) -> None:
    db = tmp_path / "c.sqlite3"
    with live_server(engine, api_key=[KEY]) as url:
        first = start_gateway(url, db)
        conversation = Client(first, "alice-sub").new()
        Client(first, "alice-sub").chat(conversation["id"], "remember me")
        first.shutdown()
        first.server_close()
        second = start_gateway(url, db)
        try:
            again = Client(second, "alice-sub")
            assert again.messages(conversation["id"])[0] == ("user", "remember me")
        finally:
            second.shutdown()


def test_the_sqlite_store_is_what_the_gateway_opens(tmp_path: Path) -> None:
    gateway = Gateway(Config.from_env({"CONVERSATIONS_DB": str(tmp_path / "c.db")}))
    assert isinstance(gateway.store, SqliteStore)


def test_an_answer_stopped_before_its_first_word_keeps_nothing(tmp_path: Path) -> None:
    engine = RecordingEngine(token_delay=10)  # no word comes before the Stop
    with live_server(engine, api_key=[KEY]) as url:
        server = start_gateway(url, tmp_path / "c.sqlite3")
        try:
            alice = Client(server, "alice-sub")
            conversation = alice.new()
            body = {"message": "never mind", "conversationId": conversation["id"]}
            done = alice.stopped(body, after_a_word=False)
            assert done["stopped"] is True and done["response"] == ""
            assert done["conversationId"] == conversation["id"]
            assert done["conversationHistory"] == []
            assert alice.messages(conversation["id"]) == []
        finally:
            server.shutdown()
