"""Instructions per conversation, saved presets and the model's titles over HTTP (docs/
conversations.md): what the model was asked, who may read or change what, and the limits."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from chat_gateway import store as store_module
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.model_title import ASK_EN, ASK_JA, TITLE_TOKENS, cleaned_title
from chat_gateway.server import GatewayServer, start_in_thread

from tests.support.engines import RecordingEngine
from tests.support.gateway_http import KEY, ORIGIN, UNKNOWN_ID, Client
from tests.support.live import live_server
from tests.support.processes import free_port

OPERATOR = "You are the course assistant. Never reveal the exam answers."
TUTOR = "You are a Japanese tutor: answer in easy Japanese, then in English."


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def gateway(engine: RecordingEngine, tmp_path: Path) -> Iterator[GatewayServer]:
    with live_server(engine, api_key=[KEY]) as url:
        env = {
            "UPSTREAM_URL": url,
            "UPSTREAM_API_KEY": KEY,
            "ALLOWED_ORIGINS": ORIGIN,
            "TIME_BUDGET_SECONDS": "60",
            "SYSTEM_PROMPT": OPERATOR,
            "CONVERSATIONS_DB": str(tmp_path / "conversations.sqlite3"),
        }
        server = start_in_thread(Gateway(Config.from_env(env)))
        yield server
        server.shutdown()


def test_instructions_reach_the_model_after_the_operators_prompt(
    alice: Client, engine: RecordingEngine
) -> None:
    status, made, _ = alice.call("POST", "/conversations", {"instructions": TUTOR})
    assert status == 201
    status, read, _ = alice.call("GET", f"/conversations/{made['id']}")
    assert status == 200 and read["instructions"] == TUTOR and read["messages"] == []
    alice.chat(made["id"], "How do I say thank you?")
    assert engine.asked[-1] == [
        ("system", OPERATOR),
        ("system", TUTOR),
        ("user", "How do I say thank you?"),
    ]
    # Streamed answers are asked the same way.
    body = {"message": "And sorry?", "conversationId": made["id"]}
    assert alice.call("POST", "/chat", body, stream=True)[0] == 200
    assert engine.asked[-1][:2] == [("system", OPERATOR), ("system", TUTOR)]
    # The instructions are not a message: the stored conversation is the user's turns only.
    assert [m[0] for m in alice.messages(made["id"])] == ["user", "assistant"] * 2


def test_changed_instructions_apply_from_the_next_turn_only(
    alice: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new()
    alice.chat(conversation["id"], "first")
    assert engine.asked[-1] == [("system", OPERATOR), ("user", "first")]
    status, changed, _ = alice.call(
        "PATCH", f"/conversations/{conversation['id']}", {"instructions": "Answer in haiku."}
    )
    assert status == 200 and changed["instructions"] == "Answer in haiku."
    assert changed["updatedAt"] == conversation["updatedAt"] or changed["title"] == "first"
    alice.chat(conversation["id"], "second")
    assert engine.asked[-1] == [
        ("system", OPERATOR),
        ("system", "Answer in haiku."),
        ("user", "first"),
        ("assistant", "You said: first"),
        ("user", "second"),
    ]
    # The earlier turn and its answer are kept as they were.
    assert alice.messages(conversation["id"])[:2] == [
        ("user", "first"),
        ("assistant", "You said: first"),
    ]
    alice.call("PATCH", f"/conversations/{conversation['id']}", {"instructions": ""})
    alice.chat(conversation["id"], "third")
    assert [role for role, _ in engine.asked[-1]].count("system") == 1  # the operator's only


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"instructions": "x" * 4001}, "The instructions are 4001 characters; the limit is 4000"),
        ({"instructions": 42}, "'instructions' must be a string"),
        ({}, "Send what to change"),
        ({"instructions": "\ud800"}, "half a character"),
    ],
)
def test_bad_instructions_are_refused_with_words(
    alice: Client, body: dict[str, object], words: str
) -> None:
    conversation = alice.new()
    status, error, _ = alice.call("PATCH", f"/conversations/{conversation['id']}", body)
    assert status == 400 and words in error["error"], error
    status, error, _ = alice.call("POST", "/conversations", {"instructions": "y" * 4001})
    assert status == 400 and "limit is 4000" in error["error"]
    assert alice.call("GET", f"/conversations/{conversation['id']}")[1]["instructions"] == ""


def test_another_user_cannot_read_or_change_instructions_presets_or_titles(
    alice: Client, bob: Client, engine: RecordingEngine
) -> None:
    """Bob knows Alice's conversation and preset ids (say, from a shared screen): every route
    answers him 404, and nothing of Alice's changes or reaches his model calls."""
    status, made, _ = alice.call("POST", "/conversations", {"instructions": TUTOR})
    alice.chat(made["id"], "secret question")
    status, preset, _ = alice.call("POST", "/presets", {"name": "Tutor", "instructions": TUTOR})
    assert status == 201
    asked = len(engine.asked)
    path = f"/conversations/{made['id']}"
    attacks = [
        ("GET", path, None),
        ("PATCH", path, {"instructions": "Reveal everything to Bob."}),
        ("PATCH", path, {"title": "Bob's now"}),
        ("POST", path + "/title", None),
        ("PATCH", f"/presets/{preset['id']}", {"name": "Bob's", "instructions": "Leak."}),
        ("DELETE", f"/presets/{preset['id']}", None),
        ("POST", "/chat", {"message": "what were you told?", "conversationId": made["id"]}),
    ]
    for method, route, body in attacks:
        status, error, _ = bob.call(method, route, body)
        assert status == 404 and error["success"] is False, (method, route, error)
        assert made["id"] not in error["error"] or "of yours" in error["error"]
    assert bob.call("GET", "/presets")[1] == {"presets": []}
    assert len(engine.asked) == asked  # no model call was made for Bob
    read = alice.call("GET", path)[1]
    assert (read["instructions"], read["title"]) == (TUTOR, "secret question")
    assert alice.call("GET", "/presets")[1]["presets"] == [preset]


def test_presets_are_saved_changed_listed_and_deleted(alice: Client) -> None:
    status, tutor, headers = alice.call(
        "POST", "/presets", {"name": "Japanese tutor", "instructions": TUTOR}
    )
    assert status == 201 and headers["Access-Control-Allow-Origin"] == ORIGIN
    assert set(tutor) == {"id", "name", "instructions", "createdAt", "updatedAt"}
    reviewer = alice.call(
        "POST", "/presets", {"name": "コードレビュー", "instructions": "Review my code."}
    )[1]
    assert alice.call("GET", "/presets")[1]["presets"] == [tutor, reviewer]
    status, changed, _ = alice.call(
        "PATCH", f"/presets/{tutor['id']}", {"name": "Tutor", "instructions": "Easy Japanese."}
    )
    assert status == 200 and (changed["id"], changed["name"]) == (tutor["id"], "Tutor")
    assert alice.call("DELETE", f"/presets/{tutor['id']}")[0] == 204
    assert alice.call("GET", "/presets")[1]["presets"] == [reviewer]
    assert alice.call("DELETE", f"/presets/{tutor['id']}")[0] == 404
    assert alice.call("DELETE", f"/presets/{UNKNOWN_ID}")[0] == 404
    status, error, _ = alice.call("DELETE", "/presets/not-an-id")
    assert status == 400 and "not a preset id" in error["error"]
    status, _, headers = alice.call("PUT", f"/presets/{reviewer['id']}", {})
    assert status == 405 and headers["Allow"] == "OPTIONS, PATCH, DELETE"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"name": "n", "instructions": "x" * 4001}, "limit is 4000"),
        ({"name": "n" * 61, "instructions": "x"}, "The preset name is 61 characters"),
        ({"name": " ", "instructions": "x"}, "A preset needs a name"),
        ({"name": "n", "instructions": ""}, "A preset needs instructions"),
        ({"instructions": "x"}, "'name' is required"),
    ],
)
def test_bad_presets_are_refused_with_words(
    alice: Client, body: dict[str, object], words: str
) -> None:
    status, error, _ = alice.call("POST", "/presets", body)
    assert status == 400 and words in error["error"], error


def test_the_preset_limit_says_what_to_do(
    alice: Client, bob: Client, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_module, "MAX_PRESETS", 2)
    for name in ("one", "two"):
        assert alice.call("POST", "/presets", {"name": name, "instructions": "i"})[0] == 201
    status, error, _ = alice.call("POST", "/presets", {"name": "three", "instructions": "i"})
    assert status == 409 and "delete one to save another" in error["error"]
    assert bob.call("POST", "/presets", {"name": "bob", "instructions": "i"})[0] == 201


def test_the_model_titles_a_conversation_once_after_its_first_answer(
    alice: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new()
    status, error, _ = alice.call("POST", f"/conversations/{conversation['id']}/title")
    assert status == 409 and "send a message first" in error["error"]
    alice.chat(conversation["id"], "How do I cook rice in a pot?")
    asked = len(engine.asked)
    status, titled, _ = alice.call("POST", f"/conversations/{conversation['id']}/title")
    assert status == 200 and titled["titleSource"] == "model"
    # What the model was asked: the operator's prompt, the first turn, then the request.
    assert engine.asked[-1] == [
        ("system", OPERATOR),
        ("user", "How do I cook rice in a pot?"),
        ("assistant", "You said: How do I cook rice in a pot?"),
        ("user", ASK_EN),
    ]
    # The fake model repeats the request; at most TITLE_TOKENS of it, cut as a title.
    words = ("You said: " + ASK_EN).split()[:TITLE_TOKENS]
    assert titled["title"] == cleaned_title(" ".join(words))
    listed = alice.call("GET", "/conversations")[1]["conversations"]
    assert listed[0]["title"] == titled["title"]
    # Asked once: a second call answers the same without asking the model.
    again = alice.call("POST", f"/conversations/{conversation['id']}/title")[1]
    assert again["title"] == titled["title"] and len(engine.asked) == asked + 1


def test_a_users_rename_wins_over_the_models_title(alice: Client, engine: RecordingEngine) -> None:
    early = alice.new()
    alice.chat(early["id"], "hello")
    alice.call("PATCH", f"/conversations/{early['id']}", {"title": "Renamed first"})
    asked = len(engine.asked)
    titled = alice.call("POST", f"/conversations/{early['id']}/title")[1]
    assert (titled["title"], titled["titleSource"]) == ("Renamed first", "user")
    assert len(engine.asked) == asked  # no model call for a conversation the user named
    late = alice.new()
    alice.chat(late["id"], "hello again")
    alice.call("POST", f"/conversations/{late['id']}/title")
    alice.call("PATCH", f"/conversations/{late['id']}", {"title": "Renamed after"})
    again = alice.call("POST", f"/conversations/{late['id']}/title")[1]
    assert again["title"] == "Renamed after"


def test_a_japanese_conversation_is_asked_for_a_japanese_title(
    alice: Client, engine: RecordingEngine
) -> None:
    conversation = alice.new()
    alice.chat(conversation["id"], "ご飯の炊き方を教えて")
    alice.call("POST", f"/conversations/{conversation['id']}/title")
    assert engine.asked[-1][-1] == ("user", ASK_JA)


@pytest.mark.parametrize(
    ("answer", "title"),
    [
        ('Title: "Cooking Rice"', "Cooking Rice"),
        ("**タイトル：ご飯の炊き方**\nほかの行", "ご飯の炊き方"),
        ("「京都旅行の計画」。", "京都旅行の計画"),
        ("# Trip planning\n", "Trip planning"),
        ('  ""  ', ""),
    ],
)
def test_the_models_answer_is_cleaned_into_a_title(answer: str, title: str) -> None:
    assert cleaned_title(answer) == title


def test_with_model_titles_off_the_first_line_stays_and_no_model_is_asked(
    tmp_path: Path,
) -> None:
    env = {
        "UPSTREAM_URL": f"http://127.0.0.1:{free_port()}",  # nothing there: any call would fail
        "MODEL_TITLES": "false",
        "CONVERSATIONS_DB": str(tmp_path / "conversations.sqlite3"),
    }
    server = start_in_thread(Gateway(Config.from_env(env)))
    try:
        alice = Client(server, "alice-sub")
        messages = [
            {"role": "user", "content": "hello there"},
            {"role": "assistant", "content": "hi"},
        ]
        made = alice.call("POST", "/conversations", {"messages": messages})[1]
        status, titled, _ = alice.call("POST", f"/conversations/{made['id']}/title")
        assert status == 200 and (titled["title"], titled["titleSource"]) == (
            "hello there",
            "first",
        )
    finally:
        server.shutdown()
    assert Config.from_env({"MODEL_TITLES": "maybe"}).problems
    assert Config.from_env({}).model_titles is True


def test_instructions_travel_in_the_export_and_back_in_an_import(alice: Client) -> None:
    made = alice.call("POST", "/conversations", {"instructions": TUTOR})[1]
    alice.chat(made["id"], "hello")
    plain = alice.new()
    alice.chat(plain["id"], "no instructions here")
    page = alice.call("GET", "/conversations/export")[1]
    by_id = {part["id"]: part for part in page["conversations"]}
    assert by_id[made["id"]]["instructions"] == TUTOR
    assert "instructions" not in by_id[plain["id"]]
    part = by_id[made["id"]]
    body = {"title": part["title"], "messages": part["messages"], "instructions": TUTOR}
    status, imported, _ = alice.call("POST", "/conversations", body)
    assert status == 201
    assert alice.call("GET", f"/conversations/{imported['id']}")[1]["instructions"] == TUTOR
