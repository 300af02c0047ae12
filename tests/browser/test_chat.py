"""The chat in real Chromium against the local stack with the bundled model."""

import json
import re

from playwright.sync_api import Browser, Page, Route, expect

from tests.support.browser import screenshot
from tests.support.processes import ServerProcess

ASSISTANT = "#messages .message.assistant"
USER = "#messages .message.user"


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def answered(page: Page) -> None:
    """Waits until the answer has streamed to its end (its first words come long before)."""
    expect(page.locator(ASSISTANT)).not_to_have_count(0)
    expect(page.locator(f'{ASSISTANT}[data-streaming="true"]')).to_have_count(0)
    expect(page.locator("#stop-button")).to_be_hidden()


def test_send_a_message_and_see_the_models_answer(page: Page, model_stack: ServerProcess) -> None:
    page.goto(model_stack.url)
    expect(page.locator("#empty-hint")).to_be_visible()
    screenshot(page, "01-empty-chat")
    send(page, "What is the capital city of Japan?")
    expect(page.locator(USER)).to_have_text("What is the capital city of Japan?")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    expect(page.locator(ASSISTANT)).to_contain_text(re.compile(r"\w+"))
    expect(page.locator("#input")).to_be_focused()
    expect(page.locator("#stop-button")).to_be_hidden()
    screenshot(page, "02-answer")


def test_the_conversation_survives_a_reload_and_new_chat_starts_empty(
    page: Page, model_stack: ServerProcess
) -> None:
    page.goto(model_stack.url)
    send(page, "Hello!")
    answered(page)
    answer = page.locator(ASSISTANT).inner_text()
    assert "?c=" in page.url  # stored on the server, named in the URL
    page.reload()
    expect(page.locator(USER)).to_have_text("Hello!")
    expect(page.locator(ASSISTANT)).to_have_text(answer)
    page.click("#new-chat-button")
    expect(page.locator("#messages .message")).to_have_count(0)
    page.reload()
    expect(page.locator("#messages .message")).to_have_count(0)
    expect(page.locator("#empty-hint")).to_be_visible()


def test_second_turn_names_the_stored_conversation(page: Page, model_stack: ServerProcess) -> None:
    page.goto(model_stack.url)
    send(page, "My name is Taro.")
    answered(page)
    with page.expect_request("**/api/chat") as request_info:
        send(page, "What is my name?")
    sent = request_info.value.post_data_json
    assert sent is not None
    assert sent["message"] == "What is my name?"
    # The server keeps the history: the turn names the conversation instead of carrying it.
    assert re.fullmatch(r"[0-9a-f]{32}", sent["conversationId"])
    assert "conversationHistory" not in sent and "editFrom" not in sent
    assert f"c={sent['conversationId']}" in page.url
    expect(page.locator(ASSISTANT)).to_have_count(2)


def test_stop_before_any_word_puts_the_message_back(page: Page, model_stack: ServerProcess) -> None:
    page.goto(model_stack.url)
    page.route("**/api/chat", lambda route: None)  # held: no answer has started yet
    send(page, "Write a very long story about the sea.")
    page.locator("#stop-button").click()
    expect(page.locator("#error-box")).to_contain_text("Stopped")
    expect(page.locator(USER)).to_have_count(0)
    expect(page.locator("#input")).to_have_value("Write a very long story about the sea.")
    expect(page.locator("#send-button")).to_be_visible()


def test_japanese_ui_and_language_switch(browser: Browser, model_stack: ServerProcess) -> None:
    context = browser.new_context(locale="ja-JP")
    page = context.new_page()
    page.goto(model_stack.url)
    expect(page.locator("#send-button")).to_have_text("送信")
    expect(page.locator("html")).to_have_attribute("lang", "ja")
    screenshot(page, "03-japanese")
    page.select_option("#language-select", "en")
    expect(page.locator("#send-button")).to_have_text("Send")
    page.reload()  # the choice is remembered
    expect(page.locator("#send-button")).to_have_text("Send")
    context.close()


def test_phone_sized_screen(browser: Browser, model_stack: ServerProcess) -> None:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="ja-JP")
    page = context.new_page()
    page.goto(model_stack.url)
    send(page, "こんにちは")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing overflows sideways
    expect(page.locator("#send-button")).to_be_in_viewport()
    screenshot(page, "04-phone")
    context.close()


def test_controls_are_labelled_and_keyboard_reachable(
    page: Page, model_stack: ServerProcess
) -> None:
    page.goto(model_stack.url)
    expect(page.get_by_label("Message", exact=True)).to_be_visible()
    # By role: conversations stored by earlier tests may have "Language" in their titles.
    expect(page.get_by_role("combobox", name="Language")).to_be_visible()
    expect(page.get_by_role("navigation", name="Conversations")).to_be_visible()
    # The page's first stop (shown when focused) leads past the conversation list to the box.
    skip = page.locator(".skip-link")
    first = "document.querySelector('a, button, input, select, textarea')"
    assert page.evaluate(f"{first} === document.querySelector('.skip-link')")
    skip.focus()
    expect(skip).to_be_in_viewport()
    reached = []
    # The list holds what earlier tests stored (three stops each): tab until the Send button.
    for _ in range(400):
        page.keyboard.press("Tab")
        reached.append(page.evaluate("document.activeElement.id"))
        if reached[-1] == "send-button":
            break
    wanted = {"language-select", "new-chat-button", "conversation-search", "demo-note-link"}
    assert wanted | {"demo-note-close", "input", "send-button"} <= set(reached)
    skip.focus()
    page.keyboard.press("Enter")
    expect(page.locator("#input")).to_be_focused()


def test_a_message_typed_while_waiting_stays_in_the_box(
    page: Page, fake_stack: ServerProcess
) -> None:
    held: list[Route] = []
    page.route("**/api/chat", lambda route: held.append(route))  # answered when the test says
    page.goto(fake_stack.url)
    with page.expect_request("**/api/chat"):  # a new chat is stored first, then asked
        send(page, "first")
    expect(page.locator("#stop-button")).to_be_visible()
    send(page, "second, typed while waiting")
    expect(page.locator("#input")).to_have_value("second, typed while waiting")
    history = [{"role": "user", "content": "first"}, {"role": "assistant", "content": "ok"}]
    held[0].fulfill(
        status=200,
        content_type="application/json",
        body=json.dumps({"success": True, "response": "ok", "conversationHistory": history}),
    )
    expect(page.locator(ASSISTANT)).to_have_text("ok")
    expect(page.locator("#input")).to_have_value("second, typed while waiting")
    assert len(held) == 1  # the second was not sent while the first was running
