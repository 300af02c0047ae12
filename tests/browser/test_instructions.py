"""Instructions per conversation, presets and the model's titles in real Chromium, with the real
bundled model behind the local stack: a pass-through in front of the model server keeps what
the model was asked (docs/conversations.md)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from chat_gateway.model_title import ASK_EN
from playwright.sync_api import Page, expect

from tests.support.browser import SCREENSHOTS, start_stack
from tests.support.conversations_ui import (
    ASSISTANT,
    api,
    entry,
    open_id,
    send,
    stored,
    unique,
)
from tests.support.processes import ServerProcess
from tests.support.recording_upstream import RecordingUpstream

TUTOR = "You are a Japanese tutor. Answer in easy Japanese, then in English."
BRIEF = "Answer in one short sentence."
#: The README's picture of the dialog: copy it with
#:   cp test-output/screenshots/instructions-dialog.png docs/images/
DOCS_IMAGE = "instructions-dialog"


@pytest.fixture(scope="module")
def recorder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RecordingUpstream]:
    folder = tmp_path_factory.mktemp("instructions-model")
    model = ServerProcess(["--default-max-tokens", "48"], folder / "server.log")
    recorder = RecordingUpstream(model.url)
    yield recorder
    recorder.stop()
    model.stop()


@pytest.fixture(scope="module")
def stack(
    recorder: RecordingUpstream, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerProcess]:
    """The stack (UI and gateway) in front of the recorder, in front of the bundled model."""
    folder = tmp_path_factory.mktemp("instructions-stack")
    stack = start_stack(folder, "--upstream", recorder.url, "--default-max-tokens", "48")
    yield stack
    stack.stop()


def answered(page: Page, count: int) -> None:
    """Waits until `count` answers are stored and shown: the real model on a busy machine (and
    the model's title for the turn before, asked meanwhile) can take a while."""
    expect(page.locator(f"{ASSISTANT}[data-index]")).to_have_count(count, timeout=120_000)
    expect(page.locator("#stop-button")).to_be_hidden(timeout=120_000)


def asked_with(recorder: RecordingUpstream, message: str) -> list[dict[str, str]]:
    """The history the model server received with `message` (the newest such request)."""
    found = [r for r in recorder.chats() if r["message"] == message]
    assert found, [r["message"] for r in recorder.chats()]
    history: list[dict[str, str]] = found[-1]["conversationHistory"]
    return history


def set_instructions(page: Page, text: str) -> None:
    page.click("#instructions-button")
    expect(page.locator("#instructions-dialog")).to_be_visible()
    expect(page.locator("#instructions-input")).to_be_focused()
    page.fill("#instructions-input", text)
    page.click("#instructions-form button[type=submit]")
    expect(page.locator("#instructions-dialog")).to_be_hidden()
    expect(page.locator("#instructions-button")).to_be_focused()


def until(check: Any, what: str, seconds: float = 60) -> Any:
    """Polls `check()` until it answers something true, within a deadline."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if value := check():
            return value
        time.sleep(0.2)
    raise AssertionError(f"not within {seconds} s: {what}")


def test_a_preset_is_saved_applied_and_seen_by_the_model(
    page: Page, stack: ServerProcess, recorder: RecordingUpstream
) -> None:
    name = "Japanese tutor"
    page.goto(stack.url)
    page.click("#instructions-button")
    expect(page.locator("#instructions-input")).to_be_focused()
    expect(page.locator("#instructions-help")).to_contain_text("from the next answer on")
    page.fill("#instructions-input", TUTOR)
    expect(page.locator("#instructions-count")).to_have_text(f"{len(TUTOR)} of 4000 characters")
    page.fill("#preset-name", name)
    page.click("#preset-save")
    expect(page.locator("#announcer")).to_have_text(f"Preset “{name}” saved.")
    expect(page.locator("#preset-select option:checked")).to_have_text(name)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.locator("#instructions-dialog").screenshot(path=str(SCREENSHOTS / f"{DOCS_IMAGE}.png"))
    page.click("#instructions-form button[type=submit]")
    expect(page.locator("#instructions-line")).to_have_text(f"Instructions: {TUTOR}")
    expect(page.locator("#instructions-button")).to_be_focused()

    question = unique("Hello! How do I say thank you?")
    send(page, question)
    answered(page, 1)
    # The model server was asked with the instructions as the first turn (this stack's gateway
    # has no SYSTEM_PROMPT of its own), before the question.
    assert asked_with(recorder, question) == [{"role": "system", "content": TUTOR}]
    assert stored(stack, open_id(page))["instructions"] == TUTOR

    # A new chat starts without instructions; the preset brings them back in two clicks.
    page.click("#new-chat-button")
    expect(page.locator("#instructions-line")).to_be_hidden()
    page.click("#instructions-button")
    expect(page.locator("#instructions-input")).to_have_value("")
    page.select_option("#preset-select", label=name)
    page.click("#preset-apply")
    expect(page.locator("#instructions-input")).to_have_value(TUTOR)
    page.click("#instructions-form button[type=submit]")
    again = unique("Good morning")
    send(page, again)
    answered(page, 1)
    assert asked_with(recorder, again) == [{"role": "system", "content": TUTOR}]

    # Deleted, it is gone from the picker and from the server.
    page.click("#instructions-button")
    page.select_option("#preset-select", label=name)
    page.click("#preset-delete")
    expect(page.locator("#announcer")).to_have_text(f"Preset “{name}” deleted.")
    expect(page.locator("#preset-select option", has_text=name)).to_have_count(0)
    page.keyboard.press("Escape")
    assert name not in [p["name"] for p in api(stack, "GET", "/presets")[1]["presets"]]


def test_instructions_changed_mid_conversation_apply_from_the_next_turn(
    page: Page, stack: ServerProcess, recorder: RecordingUpstream
) -> None:
    page.goto(stack.url)
    set_instructions(page, TUTOR)
    first = unique("What is sushi?")
    send(page, first)
    answered(page, 1)
    set_instructions(page, BRIEF)
    expect(page.locator("#announcer")).to_have_text(
        "Instructions saved: they apply from the next answer."
    )
    second = unique("And ramen?")
    send(page, second)
    answered(page, 2)
    answer = page.locator(ASSISTANT).first.inner_text()
    assert asked_with(recorder, first) == [{"role": "system", "content": TUTOR}]
    history = asked_with(recorder, second)
    assert history[0] == {"role": "system", "content": BRIEF}
    assert [turn["role"] for turn in history] == ["system", "user", "assistant"]
    assert history[1]["content"] == first and history[2]["content"] in answer
    assert TUTOR not in str(history)
    # The first answer stays as it was written; the conversation keeps the new instructions.
    conversation = stored(stack, open_id(page))
    assert conversation["instructions"] == BRIEF and len(conversation["messages"]) == 4
    page.reload()
    expect(page.locator("#instructions-line")).to_have_text(f"Instructions: {BRIEF}")


def test_the_models_title_arrives_after_the_answer_and_a_later_rename_wins(
    page: Page, stack: ServerProcess, recorder: RecordingUpstream
) -> None:
    page.goto(stack.url)
    question = unique("How do I cook rice in a pot?")
    send(page, question)
    answered(page, 1)
    conversation_id = open_id(page)
    named = until(
        lambda: (c := stored(stack, conversation_id))["titleSource"] == "model" and c,
        "the model's title stored",
    )
    title = named["title"]
    assert title and title != question
    title_request = [r for r in recorder.chats() if r["message"] == ASK_EN][-1]
    assert title_request["conversationHistory"][0]["content"] == question
    expect(page.locator("#conversation-title")).to_have_text(title)
    expect(entry(page, title)).to_have_count(1)
    # A rename afterwards is kept, through a reload.
    entry(page, title).locator(".conv-rename").click()
    page.fill("#rename-input", "Rice, my way")
    page.press("#rename-input", "Enter")
    page.reload()
    expect(page.locator("#conversation-title")).to_have_text("Rice, my way")
    assert stored(stack, conversation_id)["titleSource"] == "user"


def test_a_rename_before_the_models_title_wins(
    page: Page, stack: ServerProcess, recorder: RecordingUpstream
) -> None:
    """The title request is held at the model server's door until the user has renamed."""
    recorder.hold_titles()
    try:
        page.goto(stack.url)
        question = unique("Tell me about Kyoto")
        send(page, question)
        answered(page, 1)
        assert recorder.titles_waiting.wait(60)
        conversation_id = open_id(page)
        entry(page, question).locator(".conv-rename").click()
        page.fill("#rename-input", "My Kyoto notes")
        page.press("#rename-input", "Enter")
        expect(page.locator("#conversation-title")).to_have_text("My Kyoto notes")
        with page.expect_response(lambda r: r.url.endswith("/title")) as titled:
            recorder.release_titles()
        assert titled.value.json()["title"] == "My Kyoto notes"
    finally:
        recorder.release_titles()
    expect(page.locator("#conversation-title")).to_have_text("My Kyoto notes")
    expect(entry(page, "My Kyoto notes")).to_have_count(1)
    read = stored(stack, conversation_id)
    assert (read["title"], read["titleSource"]) == ("My Kyoto notes", "user")


def test_the_dialog_in_japanese_on_a_phone(
    browser: Any, stack: ServerProcess, tmp_path: Path
) -> None:
    context = browser.new_context(locale="ja-JP", viewport={"width": 375, "height": 740})
    page = context.new_page()
    page.goto(stack.url)
    expect(page.locator("#instructions-button")).to_have_text("指示")
    page.click("#instructions-button")
    expect(page.locator("#instructions-title")).to_have_text("この会話への指示")
    expect(page.get_by_label("指示", exact=True)).to_be_focused()
    page.fill("#instructions-input", "x" * 4000)
    expect(page.locator("#instructions-count")).to_have_text("4000 / 4000 文字")
    # Nothing wider than the phone: every control of the dialog is in view.
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    for control in ("#preset-save", "#instructions-cancel", "#preset-name"):
        box = page.locator(control).bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 375, control
    page.screenshot(path=str(SCREENSHOTS / "instructions-ja-phone.png"))
    page.keyboard.press("Escape")
    expect(page.locator("#instructions-button")).to_be_focused()
    context.close()
