"""Export and import in Chromium against a stack of its own (so "all conversations" is known):
one conversation as Markdown and JSON, all of them as JSON and back in equal, ChatGPT's
conversations.json, bad files, and the old browser history kept when its import fails."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.conversations_ui import (
    ENTRY,
    api,
    fingerprint,
    make_conversation,
    old_history,
    qa,
    stored,
)
from tests.support.processes import ServerProcess

CODE_ANSWER = "Use `reversed`:\n\n```python\nprint(list(reversed([1, 2, 3])))\n```"


@pytest.fixture(scope="module")
def stack(own_fake_stack: ServerProcess) -> ServerProcess:
    return own_fake_stack


def everything(stack: ServerProcess) -> list[dict[str, Any]]:
    """Every conversation of the local user, with its messages, newest first."""
    status, listed = api(stack, "GET", "/conversations?limit=100")
    assert status == 200
    return [stored(stack, c["id"]) for c in listed["conversations"]]


def comparable(conversations: list[dict[str, Any]]) -> list[tuple[str, list[tuple[Any, ...]]]]:
    return sorted(
        (
            c["title"],
            [(m["role"], m["content"], m.get("stopped", False)) for m in c["messages"]],
        )
        for c in conversations
    )


def delete_all(stack: ServerProcess) -> None:
    for conversation in everything(stack):
        assert api(stack, "DELETE", f"/conversations/{conversation['id']}")[0] == 204


def import_file(page: Page, path: Path) -> None:
    page.click("#import-open-button")
    expect(page.locator("#import-dialog")).to_be_visible()
    expect(page.locator("#import-file")).to_be_focused()
    page.set_input_files("#import-file", str(path))
    page.click("#import-start")


def test_export_all_then_import_gives_the_same_conversations(
    page: Page, stack: ServerProcess, tmp_path: Path
) -> None:
    delete_all(stack)
    stopped: list[dict[str, Any]] = [
        {"role": "user", "content": "止めて"},
        {"role": "assistant", "content": "途中まで", "stopped": True},
    ]
    make_conversation(
        stack, "日本語の会話", [*qa("こんにちは\n二行目", "はい、こんにちは。"), *stopped]
    )
    make_conversation(stack, "Code", qa("How do I reverse a list?", CODE_ANSWER))
    make_conversation(stack, "Long", qa("q" * 8000, "a" * 60000) * 20)
    before = everything(stack)
    page.goto(stack.url)
    expect(page.locator(ENTRY)).to_have_count(3)
    with page.expect_download() as download:
        page.click("#export-all-button")
    expect(page.locator("#export-status")).to_have_text("Exported 3 conversations.")
    saved = tmp_path / "export.json"
    download.value.save_as(saved)
    assert download.value.suggested_filename.startswith("simplechat-conversations-")
    data = json.loads(saved.read_text())
    assert data["format"] == "simplechat.conversations" and data["version"] == 1
    assert comparable(data["conversations"]) == comparable(before)

    delete_all(stack)
    page.reload()
    expect(page.locator("#list-status")).to_have_text("No conversations yet.")
    import_file(page, saved)
    expect(page.locator("#import-progress")).to_have_text("Imported 3 of 3 conversations.")
    expect(page.locator("#announcer")).to_have_text("Imported 3 of 3 conversations.")
    expect(page.locator(ENTRY)).to_have_count(3)  # in the list without a reload
    assert comparable(everything(stack)) == comparable(before)
    page.keyboard.press("Escape")
    expect(page.locator("#import-dialog")).to_be_hidden()
    expect(page.locator("#import-open-button")).to_be_focused()


def test_one_conversation_as_markdown_and_json(
    page: Page, stack: ServerProcess, tmp_path: Path
) -> None:
    conversation_id = make_conversation(stack, "リストを逆順に", qa("How?", CODE_ANSWER))
    page.goto(f"{stack.url}/?c={conversation_id}")
    expect(page.locator("#export-one")).to_be_visible()
    with page.expect_download() as download:
        page.get_by_role("group", name="Save this conversation").get_by_role(
            "button", name="Markdown"
        ).click()
    assert download.value.suggested_filename == "simplechat-リストを逆順に.md"
    markdown = Path(download.value.path()).read_text()
    assert markdown == f"# リストを逆順に\n\n## User\n\nHow?\n\n## Assistant\n\n{CODE_ANSWER}\n"
    with page.expect_download() as download:
        page.click("#export-json")
    one = json.loads(Path(download.value.path()).read_text())
    assert [c["title"] for c in one["conversations"]] == ["リストを逆順に"]
    # A file of one conversation imports like one of all.
    path = tmp_path / "one.json"
    path.write_text(json.dumps(one))
    import_file(page, path)
    expect(page.locator("#import-progress")).to_have_text("Imported 1 of 1 conversations.")
    expect(page.locator(ENTRY, has_text="リストを逆順に")).to_have_count(2)
    page.click("#import-close")
    page.click("#new-chat-button")
    expect(page.locator("#export-one")).to_be_hidden()  # nothing stored yet to save


def chatgpt_node(
    node_id: str, parent: str | None, role: str | None, text: str, children: list[str]
) -> dict[str, Any]:
    message = None
    if role:
        message = {
            "id": node_id,
            "author": {"role": role},
            "content": {"content_type": "text", "parts": [text]},
        }
    return {"id": node_id, "message": message, "parent": parent, "children": children}


def test_a_chatgpt_export_imports_the_branch_that_was_shown(
    page: Page, stack: ServerProcess, tmp_path: Path
) -> None:
    mapping = {
        "root": chatgpt_node("root", None, None, "", ["sys"]),
        "sys": chatgpt_node("sys", "root", "system", "You are ChatGPT", ["u1", "u1b"]),
        "u1": chatgpt_node("u1", "sys", "user", "first try", ["a1"]),
        "a1": chatgpt_node("a1", "u1", "assistant", "old answer", []),
        "u1b": chatgpt_node("u1b", "sys", "user", "edited question", ["a1b"]),
        "a1b": chatgpt_node("a1b", "u1b", "assistant", "the answer shown", ["u2"]),
        "u2": chatgpt_node("u2", "a1b", "user", "thanks", []),
    }
    image_only = {
        "root": chatgpt_node("root", None, None, "", ["img"]),
        "img": {
            "id": "img",
            "parent": "root",
            "children": [],
            "message": {
                "author": {"role": "user"},
                "content": {"content_type": "multimodal_text", "parts": [{"asset": "x"}]},
            },
        },
    }
    export = [
        {"title": "From ChatGPT", "current_node": "u2", "mapping": mapping},
        {"title": "A picture", "current_node": "img", "mapping": image_only},
    ]
    path = tmp_path / "conversations.json"
    path.write_text(json.dumps(export))
    page.goto(stack.url)
    import_file(page, path)
    expect(page.locator("#import-progress")).to_have_text("Imported 1 of 2 conversations.")
    expect(page.locator("#import-problems")).to_have_text(
        "Not imported: “A picture”: it has no text messages."
    )
    imported = next(c for c in everything(stack) if c["title"] == "From ChatGPT")
    assert [(m["role"], m["content"]) for m in imported["messages"]] == [
        ("user", "edited question"),
        ("assistant", "the answer shown"),
        ("user", "thanks"),
    ]


def test_bad_files_say_what_is_wrong_and_store_nothing_half(
    page: Page, stack: ServerProcess, tmp_path: Path
) -> None:
    page.goto(stack.url)
    count = len(everything(stack))
    cases = [
        ("not json {", "This file is not JSON."),
        ('{"hello": 1}', "neither a simplechat export nor ChatGPT's conversations.json"),
        ('{"format": "simplechat.conversations", "version": 2}', "version 2"),
    ]
    for index, (text, words) in enumerate(cases):
        path = tmp_path / f"bad{index}.json"
        path.write_text(text)
        import_file(page, path)
        expect(page.locator("#import-file-error")).to_contain_text(words)
        expect(page.locator("#import-file")).to_be_focused()
        page.click("#import-close")
    # One conversation over the limits among good ones: the others come in, it does not at all.
    too_many = [{"role": "user", "content": "x"}] * 1001
    too_long = [{"role": "user", "content": "y" * 8001}]
    file = {
        "format": "simplechat.conversations",
        "version": 1,
        "conversations": [
            {"title": "fine one", "messages": qa("hi", "hello")},
            {"title": "too many", "messages": too_many},
            {"title": "too long", "messages": too_long},
            {"title": "wrong shape", "messages": [{"author": "me"}]},
            {"title": "huge", "messages": [{"role": "assistant", "content": "a" * 64000}] * 70},
        ],
    }
    path = tmp_path / "mixed.json"
    path.write_text(json.dumps(file))
    import_file(page, path)
    expect(page.locator("#import-progress")).to_have_text("Imported 1 of 5 conversations.")
    problems = page.locator("#import-problems li")
    expect(problems).to_have_count(4)
    expect(problems.nth(0)).to_contain_text(
        "“too many”: 'messages' has 1001 messages; the limit is 1000."
    )
    expect(problems.nth(1)).to_contain_text("the limit is 8000")
    expect(problems.nth(2)).to_contain_text("role user or assistant")
    expect(problems.nth(3)).to_contain_text("the limit is 4194304 (one conversation per request)")
    titles = [c["title"] for c in everything(stack)]
    assert len(titles) == count + 1 and "fine one" in titles


def test_a_failed_import_of_the_old_browser_history_keeps_it(
    page: Page, stack: ServerProcess
) -> None:
    """#40 item 7: the server refuses (or fails) the import: the browser's history stays, with
    the offer and the server's words, and a later try succeeds."""
    turns = qa("kept in the browser", "an old answer")
    page.goto(stack.url)
    old_history(page, turns, {"1": fingerprint("an old answer")})
    page.reload()

    def refuse(route: Any) -> None:
        if route.request.method == "POST":
            body = {"success": False, "error": "The database is busy; try again in a moment."}
            route.fulfill(status=503, json=body)
        else:
            route.continue_()

    page.route("**/api/conversations", refuse)
    page.click("#import-button")
    expect(page.locator("#import-error")).to_have_text(
        "Could not import it: The database is busy; try again in a moment."
    )
    expect(page.locator("#import-notice")).to_be_visible()
    assert page.evaluate("localStorage.getItem('simplechat.history.local')") is not None
    page.unroute("**/api/conversations", refuse)
    page.route("**/api/conversations", lambda route: route.abort())  # the network, this time
    page.click("#import-button")
    expect(page.locator("#import-error")).to_contain_text("Could not reach the chat service")
    assert page.evaluate("localStorage.getItem('simplechat.history.local')") is not None
    page.unroute("**/api/conversations")
    page.click("#import-button")
    expect(page.locator("#import-notice")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('simplechat.history.local')") is None
    expect(page.locator("#messages .message.user")).to_have_text(["kept in the browser"])
