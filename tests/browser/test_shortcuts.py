"""Keyboard shortcuts in Chromium: each one does its job, the `?` dialog lists them (ja/en), and
none acts while an input method is composing (Japanese input)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, expect

from tests.support.conversations_ui import ASSISTANT, answered, make_conversation, qa, send
from tests.support.processes import ServerProcess

MOD = "Control"  # Chromium here runs on Linux: Ctrl (⌘ on a Mac)


@pytest.fixture
def clipboard(browser: Browser, fake_stack: ServerProcess) -> Iterator[BrowserContext]:
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 800})
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=fake_stack.url)
    yield context
    context.close()


def test_new_chat_focus_search_and_copy(
    clipboard: BrowserContext, fake_stack: ServerProcess
) -> None:
    page = clipboard.new_page()
    conversation_id = make_conversation(
        fake_stack, "Shortcut test", qa("first", "the first answer")
    )
    page.goto(f"{fake_stack.url}/?c={conversation_id}")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    send(page, "second")
    answered(page, 2)

    page.keyboard.press(f"{MOD}+Shift+Semicolon")  # copy the last answer
    expect(page.locator("#announcer")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == "You said: second"

    page.locator("#conversation-title").focus()
    page.keyboard.press("Shift+Escape")  # to the message box
    expect(page.locator("#input")).to_be_focused()

    page.keyboard.press(f"{MOD}+Shift+KeyK")  # search, from inside the message box too
    expect(page.locator("#conversation-search")).to_be_focused()
    page.keyboard.type("Shortcut")
    expect(page.locator("#conversation-list li").first).to_contain_text("Shortcut test")

    page.keyboard.press(f"{MOD}+Shift+KeyO")  # a new chat
    expect(page).not_to_have_url(re.compile(r"c="))
    expect(page.locator("#conversation-title")).to_have_text("New chat")
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#input")).to_be_focused()
    page.keyboard.press(f"{MOD}+Shift+Semicolon")  # nothing to copy in a new chat: said so
    expect(page.locator("#announcer")).to_have_text("There is no answer to copy yet.")


def test_escape_stops_the_answer(page: Page, fake_stack: ServerProcess) -> None:
    held: list[Route] = []
    page.route("**/api/chat", lambda route: held.append(route))  # an answer that never comes
    page.goto(fake_stack.url)
    with page.expect_request("**/api/chat"):
        send(page, "a question to stop")
    expect(page.locator("#stop-button")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#error-text")).to_have_text("Stopped.")
    expect(page.locator("#input")).to_have_value("a question to stop")  # back in the box
    assert held  # the request was made, and the page stopped waiting for it
    # Escape when nothing is answering does nothing (it is the dialogs' and the drawer's key).
    page.keyboard.press("Escape")
    expect(page.locator("#input")).to_have_value("a question to stop")


def test_the_help_dialog_lists_them_in_both_languages(
    page: Page, fake_stack: ServerProcess
) -> None:
    page.goto(fake_stack.url)
    expect(page.locator("#input")).to_be_focused()
    page.keyboard.press("?")  # typed in the message box: a question mark, not the dialog
    expect(page.locator("#input")).to_have_value("?")
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    page.keyboard.press(f"{MOD}+Slash")  # works from the box
    dialog = page.locator("#shortcuts-dialog")
    expect(dialog).to_be_visible()
    expect(page.locator("#shortcuts-close")).to_be_focused()
    expect(dialog.locator("dt")).to_have_text(
        [
            "New chat",
            "Go to the message box",
            "Stop the answer",
            "Search conversations",
            "Copy the last answer",
            "Show these shortcuts",
        ]
    )
    expect(dialog.locator("dd").first).to_have_text("Ctrl + Shift + O")
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.locator("#input")).to_be_focused()  # back where it was
    page.select_option("#language-select", "ja")
    page.locator("#conversation-title").focus()
    page.keyboard.press("?")  # outside a text field
    expect(dialog).to_be_visible()
    expect(page.locator("#shortcuts-title")).to_have_text("キーボードショートカット")
    expect(dialog.locator("dt").first).to_have_text("新しいチャット")
    page.click("#shortcuts-close")
    page.click("#shortcuts-button")  # and by a button, for a mouse or a touch screen
    expect(dialog).to_be_visible()


def composing_keydown(page: Page, init: dict[str, Any], *, key_code_229: bool = False) -> None:
    """A keydown as Chromium sends it while an IME composes: isComposing, or keyCode 229."""
    page.evaluate(
        """([init, legacy]) => {
        const e = new KeyboardEvent("keydown", {bubbles: true, cancelable: true, ...init});
        if (legacy) Object.defineProperty(e, "keyCode", {value: 229});
        (document.activeElement || document.body).dispatchEvent(e);
    }""",
        [init, key_code_229],
    )


def test_no_shortcut_acts_while_an_ime_composes(page: Page, fake_stack: ServerProcess) -> None:
    conversation_id = make_conversation(fake_stack, "IME test", qa("日本語", "はい"))
    page.goto(f"{fake_stack.url}/?c={conversation_id}")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    page.locator("#conversation-title").focus()
    strokes = [
        {"key": "O", "code": "KeyO", "ctrlKey": True, "shiftKey": True},
        {"key": "K", "code": "KeyK", "ctrlKey": True, "shiftKey": True},
        {"key": "?", "code": "Slash", "shiftKey": True},
        {"key": "/", "code": "Slash", "ctrlKey": True},
        {"key": "Escape", "code": "Escape", "shiftKey": True},
    ]
    for stroke in strokes:
        for legacy in (False, True):
            init = stroke if legacy else {**stroke, "isComposing": True}
            composing_keydown(page, init, key_code_229=legacy)
    expect(page.locator("#shortcuts-dialog")).to_be_hidden()
    assert conversation_id in page.url  # no new chat
    expect(page.locator("#conversation-title")).to_be_focused()  # nor the box, nor the search
    # The same strokes without composition do act (the check above is not vacuous).
    composing_keydown(page, strokes[2])
    expect(page.locator("#shortcuts-dialog")).to_be_visible()


def test_a_shortcut_typed_during_a_real_composition_does_nothing(
    page: Page, fake_stack: ServerProcess
) -> None:
    """Chromium's own IME events (over CDP): a composition open in the box, then Ctrl+Shift+O."""
    conversation_id = make_conversation(fake_stack, "IME in the box", qa("a", "b"))
    page.goto(f"{fake_stack.url}/?c={conversation_id}")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    page.locator("#input").focus()
    page.evaluate(
        """() => { window.seen = [];
        document.addEventListener("keydown",
          (e) => window.seen.push([e.code, e.isComposing, e.keyCode]), true); }"""
    )
    cdp = page.context.new_cdp_session(page)
    cdp.send(
        "Input.imeSetComposition", {"text": "にほんご", "selectionStart": 4, "selectionEnd": 4}
    )
    page.keyboard.press("Control+Shift+KeyO")
    assert ["KeyO", True, 79] in page.evaluate("window.seen")  # Chromium says: composing
    cdp.send("Input.insertText", {"text": "日本語"})
    expect(page.locator("#input")).to_have_value("日本語")
    assert conversation_id in page.url
