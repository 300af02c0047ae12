"""Conversations kept on the server (docs/conversations.md), in real Chromium against the local
stack: the list, switching, the URL, rename, delete, search, regenerate, edit, copy, the import of
the browser's old history, the phone drawer, Japanese.

The fake engine answers "You said: <message>". The session's stacks share one store across tests:
each test makes what it needs, under titles no other test uses, and finds it by them.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import SCREENSHOTS, expect_focused, start_stack
from tests.support.conversations_ui import (
    ASSISTANT,
    ENTRY,
    USER,
    answered,
    api,
    entry,
    fingerprint,
    make_conversation,
    old_history,
    open_id,
    qa,
    send,
    stored,
    unique,
)
from tests.support.processes import ServerProcess


def test_two_conversations_and_switching_between_them(
    page: Page, fake_stack: ServerProcess
) -> None:
    alpha, beta = unique("Alpha"), unique("Beta")
    page.goto(fake_stack.url)
    expect(page.locator("#conversation-title")).to_have_text("New chat")
    send(page, alpha)
    answered(page, 1)
    alpha_id = open_id(page)  # stored when its first message was sent
    expect(page.locator("#conversation-title")).to_have_text(alpha)
    expect(entry(page, alpha).locator(".conv-link")).to_have_attribute("aria-current", "page")
    page.click("#new-chat-button")
    expect(page.locator("#messages .message")).to_have_count(0)
    assert "c=" not in page.url
    send(page, beta)
    answered(page, 1)
    beta_id = open_id(page)
    assert beta_id != alpha_id
    # The newest first, both named by their first message.
    titles = page.locator(f"{ENTRY} .conv-link").all_inner_texts()
    assert titles.index(beta) < titles.index(alpha)
    entry(page, alpha).locator(".conv-link").click()
    expect(page.locator(USER)).to_have_text([alpha])
    expect(page.locator(ASSISTANT)).to_have_text([f"You said: {alpha}"])
    assert open_id(page) == alpha_id
    expect(entry(page, alpha).locator(".conv-link")).to_have_attribute("aria-current", "page")
    expect(entry(page, beta).locator(".conv-link")).not_to_have_attribute("aria-current", "page")
    # A second turn goes on in the conversation that is open.
    send(page, "and more")
    answered(page, 2)
    assert [m["content"] for m in stored(fake_stack, alpha_id)["messages"]] == [
        alpha, f"You said: {alpha}", "and more", "You said: and more",
    ]  # fmt: skip
    assert len(stored(fake_stack, beta_id)["messages"]) == 2


def test_reload_and_back_forward_follow_the_url(page: Page, fake_stack: ServerProcess) -> None:
    first, second = unique("First"), unique("Second")
    page.goto(fake_stack.url)
    send(page, first)
    answered(page, 1)
    first_id = open_id(page)
    page.click("#new-chat-button")
    send(page, second)
    answered(page, 1)
    second_id = open_id(page)
    page.reload()
    expect(page.locator(USER)).to_have_text([second])
    assert open_id(page) == second_id
    entry(page, first).locator(".conv-link").click()
    expect(page.locator(USER)).to_have_text([first])
    page.go_back()
    expect(page.locator(USER)).to_have_text([second])
    assert open_id(page) == second_id
    expect(entry(page, second).locator(".conv-link")).to_have_attribute("aria-current", "page")
    # The new chat it was started from became this conversation: one step further back is the first.
    page.go_back()
    expect(page.locator(USER)).to_have_text([first])
    assert open_id(page) == first_id
    page.go_forward()
    expect(page.locator(USER)).to_have_text([second])
    page.go_forward()
    expect(page.locator(USER)).to_have_text([first])
    expect(entry(page, first).locator(".conv-link")).to_have_attribute("aria-current", "page")


def test_an_unknown_conversation_in_the_url_says_so_and_starts_a_new_chat(
    page: Page, fake_stack: ServerProcess
) -> None:
    page.goto(f"{fake_stack.url}/?c={uuid.uuid4().hex}")
    expect(page.locator("#chat-notice")).to_contain_text("was not found")
    expect(page.locator("#messages .message")).to_have_count(0)
    assert "c=" not in page.url
    send(page, unique("After a missing one"))
    answered(page, 1)
    expect(page.locator("#chat-notice")).to_be_hidden()


def test_rename_with_the_keyboard_survives_a_reload(page: Page, fake_stack: ServerProcess) -> None:
    old, new = unique("Old name"), unique("New name")
    conversation_id = make_conversation(fake_stack, old, qa("hi", "You said: hi"))
    page.goto(f"{fake_stack.url}/?c={conversation_id}")
    expect(page.locator(USER)).to_have_text(["hi"])
    rename = entry(page, old).locator(".conv-rename")
    expect(rename).to_have_attribute("aria-label", f"Rename “{old}”")
    rename.focus()
    page.keyboard.press("Enter")
    dialog = page.locator("#rename-dialog")
    expect(dialog).to_be_visible()
    expect_focused(page.locator("#rename-input"))
    expect(page.locator("#rename-input")).to_have_value(old)
    page.keyboard.press("Escape")  # cancels: nothing changes
    expect(dialog).to_be_hidden()
    expect_focused(rename)
    page.keyboard.press("Enter")
    page.fill("#rename-input", "   ")
    page.keyboard.press("Enter")
    expect(page.locator("#rename-error")).to_have_text("Enter a title.")
    page.fill("#rename-input", new)
    page.keyboard.press("Enter")
    expect(dialog).to_be_hidden()
    expect(entry(page, new)).to_have_count(1)
    expect(entry(page, old)).to_have_count(0)
    expect(page.locator("#conversation-title")).to_have_text(new)
    expect_focused(entry(page, new).locator(".conv-rename"))
    page.reload()
    expect(entry(page, new)).to_have_count(1)
    expect(page.locator("#conversation-title")).to_have_text(new)
    assert stored(fake_stack, conversation_id)["title"] == new


def test_delete_asks_first_and_the_conversation_is_gone(
    page: Page, fake_stack: ServerProcess
) -> None:
    kept, doomed = unique("Kept"), unique("Doomed")
    make_conversation(fake_stack, kept, qa("stay", "You said: stay"))
    doomed_id = make_conversation(fake_stack, doomed, qa("go", "You said: go"))
    page.goto(f"{fake_stack.url}/?c={doomed_id}")
    expect(page.locator(USER)).to_have_text(["go"])
    entry(page, doomed).locator(".conv-delete").click()
    dialog = page.locator("#delete-dialog")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text(f"“{doomed}” and all its messages will be deleted")
    expect(page.locator("#delete-cancel")).to_be_focused()  # the safe choice first
    page.click("#delete-cancel")
    expect(dialog).to_be_hidden()
    expect(entry(page, doomed)).to_have_count(1)
    assert stored(fake_stack, doomed_id)["title"] == doomed
    entry(page, doomed).locator(".conv-delete").click()
    page.click("#delete-confirm")
    expect(dialog).to_be_hidden()
    expect(entry(page, doomed)).to_have_count(0)
    expect(page.locator("#announcer")).to_have_text("Conversation deleted.")
    # It was the open one: a new chat now.
    expect(page.locator("#messages .message")).to_have_count(0)
    assert "c=" not in page.url
    assert api(fake_stack, "GET", f"/conversations/{doomed_id}")[0] == 404
    page.reload()
    expect(entry(page, kept)).to_have_count(1)
    expect(entry(page, doomed)).to_have_count(0)


def test_search_by_title_and_show_more(page: Page, fake_stack: ServerProcess) -> None:
    token = uuid.uuid4().hex[:8]
    make_conversation(fake_stack, f"Kyoto trip {token}", qa("temples?", "Many."))
    make_conversation(fake_stack, f"Osaka food {token}", qa("takoyaki?", "Yes."))
    for n in range(31):  # more than one page (the list asks for 30 at a time)
        make_conversation(fake_stack, f"Paged {token} #{n:02d}", qa(f"q{n}", f"a{n}"))
    page.goto(fake_stack.url)
    with page.expect_request(re.compile(r"/api/conversations\?.*q=kyoto")) as searched:
        page.fill("#conversation-search", f"kyoto TRIP {token}")  # any case
    assert "q=kyoto+TRIP" in searched.value.url
    expect(page.locator(f"{ENTRY} .conv-link")).to_have_text([f"Kyoto trip {token}"])
    page.fill("#conversation-search", f"no such title {token}")
    expect(page.locator("#list-status")).to_have_text(
        f"No conversation title contains “no such title {token}”."
    )
    expect(page.locator(ENTRY)).to_have_count(0)
    page.fill("#conversation-search", f"Paged {token}")
    expect(page.locator(ENTRY)).to_have_count(30)
    expect(page.locator("#more-button")).to_be_visible()
    page.click("#more-button")
    expect(page.locator(ENTRY)).to_have_count(31)
    expect(page.locator("#more-button")).to_be_hidden()
    titles = page.locator(f"{ENTRY} .conv-link").all_inner_texts()
    assert sorted(titles) == [f"Paged {token} #{n:02d}" for n in range(31)]  # each once
    page.fill("#conversation-search", "osaka")
    expect(entry(page, f"Osaka food {token}")).to_have_count(1)
    expect(entry(page, f"Kyoto trip {token}")).to_have_count(0)
    page.fill("#conversation-search", "")  # all of them again, newest first
    expect(entry(page, f"Paged {token} #30")).to_have_count(1)
    expect(entry(page, f"Osaka food {token}")).to_have_count(0)  # older: on a later page


def test_regenerate_the_last_answer_replaces_it(page: Page, fake_stack: ServerProcess) -> None:
    question = unique("Regenerate")
    page.goto(fake_stack.url)
    send(page, question)
    answered(page, 1)
    conversation_id = open_id(page)
    again = page.locator(f"{ASSISTANT} .regenerate")
    expect(again).to_have_attribute("aria-label", "Regenerate answer")
    with page.expect_request("**/api/chat") as request:
        again.click()
    assert request.value.post_data_json == {
        "message": question, "conversationId": conversation_id, "editFrom": 0,
    }  # fmt: skip
    answered(page, 1)
    expect(page.locator(USER)).to_have_text([question])
    expect(page.locator(ASSISTANT)).to_have_text([f"You said: {question}"])
    messages = stored(fake_stack, conversation_id)["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]  # one answer, not two
    # Only the last answer can be regenerated.
    send(page, "next")
    answered(page, 2)
    expect(page.locator(f"{ASSISTANT} .regenerate:visible")).to_have_count(1)
    expect(page.locator(f"{ASSISTANT}").last.locator(".regenerate")).to_be_visible()


def test_edit_a_sent_message_and_resend_from_there(page: Page, fake_stack: ServerProcess) -> None:
    first, second, third, edited = (unique(w) for w in ("One", "Two", "Three", "Two edited"))
    page.goto(fake_stack.url)
    for n, text in enumerate((first, second, third), start=1):
        send(page, text)
        answered(page, n)
    conversation_id = open_id(page)
    page.locator(USER).nth(1).locator(".edit-message").click()
    box = page.get_by_label("Edited text")
    expect(box).to_be_focused()
    expect(box).to_have_value(second)
    page.keyboard.press("Escape")  # cancels: nothing changes
    expect(box).to_have_count(0)
    expect(page.locator(USER)).to_have_text([first, second, third])
    page.locator(USER).nth(1).locator(".edit-message").click()
    box.fill(edited)
    with page.expect_request("**/api/chat") as request:
        page.get_by_role("button", name="Resend", exact=True).click()
    assert (request.value.post_data_json or {})["editFrom"] == 2
    answered(page, 2)
    expect(page.locator(USER)).to_have_text([first, edited])
    expect(page.locator(ASSISTANT)).to_have_text([f"You said: {first}", f"You said: {edited}"])
    assert [m["content"] for m in stored(fake_stack, conversation_id)["messages"]] == [
        first, f"You said: {first}", edited, f"You said: {edited}",
    ]  # fmt: skip
    page.reload()
    expect(page.locator(USER)).to_have_text([first, edited])


def test_a_server_that_keeps_no_conversations(page: Page, fake_stack: ServerProcess) -> None:
    """A gateway without a store answers the conversation routes with 501: the chat goes on as
    before conversations were stored (the history in each turn), and the list says why it is
    empty."""
    refusal = {"success": False, "error": "Set CONVERSATIONS_TABLE to keep conversations."}
    page.route(
        re.compile(r"/api/conversations"),
        lambda route: route.fulfill(status=501, json=refusal),
    )
    page.goto(fake_stack.url)
    expect(page.locator("#list-status")).to_contain_text("Set CONVERSATIONS_TABLE")
    send(page, "one")
    answered(page, 1)
    with page.expect_request("**/api/chat") as request:
        send(page, "two")
    assert request.value.post_data_json == {
        "message": "two",
        "conversationHistory": [
            {"role": "user", "content": "one"},
            {"role": "assistant", "content": "You said: one"},
        ],
    }
    answered(page, 2)
    assert "c=" not in page.url
    # Editing works on the page's own copy: the turns from the edited one on are not sent.
    page.locator(USER).nth(1).locator(".edit-message").click()
    page.get_by_label("Edited text").fill("two, edited")
    with page.expect_request("**/api/chat") as request:
        page.keyboard.press("Enter")
    assert len((request.value.post_data_json or {})["conversationHistory"]) == 2
    answered(page, 2)
    expect(page.locator(USER)).to_have_text(["one", "two, edited"])


@pytest.fixture
def clipboard_page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(
        locale="en-US", viewport={"width": 1100, "height": 800},
        permissions=["clipboard-read", "clipboard-write"],
    )  # fmt: skip
    yield context.new_page()
    context.close()


def test_copy_an_answer_and_a_code_block(clipboard_page: Page, fake_stack: ServerProcess) -> None:
    page = clipboard_page
    answer = (
        "Reverse it with slicing:\n\n```python\nitems = [1, 2, 3]\nprint(items[::-1])\n```\n\n"
        "Or `reversed()`."
    )
    conversation_id = make_conversation(
        fake_stack, unique("Copy"), qa("How to reverse a list?", answer)
    )
    page.goto(f"{fake_stack.url}/?c={conversation_id}")
    copy = page.locator(f"{ASSISTANT} .copy-answer")
    copy.click()
    expect(copy).to_have_attribute("data-copied", "Copied")  # the visible "Copied"
    expect(page.locator("#announcer")).to_have_text("Copied")
    assert page.evaluate("navigator.clipboard.readText()") == answer
    code = page.locator(f"{ASSISTANT} .code-block .copy-code")
    expect(code).to_have_attribute("aria-label", "Copy code")
    code.click()
    expect(code).to_have_attribute("data-copied", "Copied")
    assert (
        page.evaluate("navigator.clipboard.readText()") == "items = [1, 2, 3]\nprint(items[::-1])"
    )
    # The buttons add no text to the message: it reads as it was written.
    expect(page.locator(ASSISTANT)).to_have_text(re.compile(r"^Reverse it with slicing:"))
    assert "Copy" not in page.locator(ASSISTANT).inner_text()


def test_the_old_browser_history_is_imported_once(page: Page, fake_stack: ServerProcess) -> None:
    question = unique("Kept in the browser")
    turns = qa(question, "An answer from before.") + qa("And then?", "It was stopped here")
    page.goto(fake_stack.url)
    old_history(page, turns, {"3": fingerprint("It was stopped here")})
    page.reload()
    notice = page.locator("#import-notice")
    expect(notice).to_contain_text("This browser kept a conversation from before (4 messages)")
    page.click("#import-button")
    expect(notice).to_be_hidden()
    expect(page.locator(USER)).to_have_text([question, "And then?"])
    expect(page.locator(f'{ASSISTANT}[data-stopped="true"]')).to_have_count(1)
    expect(page.locator("#conversation-title")).to_have_text(question)
    messages = stored(fake_stack, open_id(page))["messages"]
    assert [m["content"] for m in messages] == [t["content"] for t in turns]
    assert messages[3].get("stopped") is True and "stopped" not in messages[1]
    assert page.evaluate("Object.keys(localStorage).filter(k => /history|stopped/.test(k))") == []
    page.goto(fake_stack.url)
    expect(page.locator("#input")).to_be_visible()
    page.wait_for_load_state("networkidle")
    expect(notice).to_be_hidden()  # offered once
    expect(entry(page, question)).to_have_count(1)  # and imported once


def test_the_old_browser_history_can_be_dismissed(page: Page, fake_stack: ServerProcess) -> None:
    question = unique("Not wanted")
    page.goto(fake_stack.url)
    old_history(page, qa(question, "old answer"), {})
    page.reload()
    expect(page.locator("#import-notice")).to_be_visible()
    page.click("#import-dismiss")
    expect(page.locator("#import-notice")).to_be_hidden()
    assert page.evaluate("localStorage.getItem('simplechat.history.local')") is None
    page.reload()
    page.wait_for_load_state("networkidle")
    expect(page.locator("#import-notice")).to_be_hidden()
    page.fill("#conversation-search", question)
    expect(page.locator("#list-status")).to_contain_text("No conversation title contains")


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 375, "height": 740}, locale="ja-JP")
    yield context
    context.close()


def test_on_a_phone_the_list_is_a_drawer(phone: BrowserContext, fake_stack: ServerProcess) -> None:
    title = unique("電話から")
    make_conversation(fake_stack, title, qa("こんにちは", "You said: こんにちは"))
    page = phone.new_page()
    page.goto(fake_stack.url)
    button = page.get_by_role("button", name="会話一覧")
    expect(page.locator("#sidebar")).to_be_hidden()  # off-screen and out of the tab order
    expect(button).to_have_attribute("aria-expanded", "false")
    button.click()
    expect(page.locator("#sidebar")).to_be_visible()
    expect(button).to_have_attribute("aria-expanded", "true")
    expect(page.locator("#conversation-search")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(button).to_be_focused()
    button.click()
    page.mouse.click(360, 400)  # beside the drawer
    expect(page.locator("#sidebar")).to_be_hidden()
    button.click()
    entry(page, title).locator(".conv-link").click()  # a choice closes it
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator(USER)).to_have_text(["こんにちは"])
    expect(page.locator("#conversation-title")).to_have_text(title)
    assert page.evaluate("document.documentElement.scrollWidth") <= 375
    button.click()
    page.click("#new-chat-button")
    expect(page.locator("#sidebar")).to_be_hidden()
    expect(page.locator("#messages .message")).to_have_count(0)


def test_japanese_labels(browser: Browser, fake_stack: ServerProcess) -> None:
    title = unique("日本語の会話")
    make_conversation(fake_stack, title, qa("質問", "回答です。\n\n```\nprint(1)\n```"))
    context = browser.new_context(locale="ja-JP", viewport={"width": 1100, "height": 800})
    page = context.new_page()
    page.goto(fake_stack.url)
    expect(page.get_by_role("navigation", name="会話一覧")).to_be_visible()
    expect(page.locator("#new-chat-button")).to_have_text("新しいチャット")
    expect(page.get_by_label("会話を検索")).to_have_attribute("placeholder", "タイトルで検索")
    expect(page.locator("#conversation-title")).to_have_text("新しいチャット")
    entry(page, title).locator(".conv-link").click()
    expect(entry(page, title).locator(".conv-rename")).to_have_attribute(
        "aria-label", f"「{title}」の名前を変更"
    )
    expect(entry(page, title).locator(".conv-delete")).to_have_attribute(
        "aria-label", f"「{title}」を削除"
    )
    expect(page.locator(f"{ASSISTANT} .copy-answer")).to_have_attribute(
        "aria-label", "回答をコピー"
    )
    expect(page.locator(f"{ASSISTANT} .copy-code")).to_have_attribute(
        "aria-label", "コードをコピー"
    )
    expect(page.locator(f"{USER} .edit-message")).to_have_attribute("aria-label", "編集して再送信")
    expect(page.locator(f"{ASSISTANT} .regenerate")).to_have_attribute("aria-label", "回答を再生成")
    entry(page, title).locator(".conv-delete").click()
    expect(page.locator("#delete-dialog h2")).to_have_text("この会話を削除しますか？")
    expect(page.locator("#delete-confirm")).to_have_text("削除")
    page.keyboard.press("Escape")
    page.select_option("#language-select", "en")  # switched: the list and the tools follow
    expect(page.locator("#new-chat-button")).to_have_text("New chat")
    expect(page.locator(f"{ASSISTANT} .copy-answer")).to_have_attribute("aria-label", "Copy answer")
    expect(entry(page, title).locator(".conv-delete")).to_have_attribute(
        "aria-label", f"Delete “{title}”"
    )
    context.close()


# The README's pictures: realistic conversations in a stack of their own. To refresh them:
#   .venv/bin/pytest tests/browser/test_conversations.py -k readme
#   cp test-output/screenshots/conversations-*.png docs/images/
SHOWCASE = [
    (
        "Weekend trip ideas near Tokyo",
        qa(
            "Ideas for a weekend trip near Tokyo, by train?",
            "A few that work well without a car:\n\n"
            "1. **Kamakura**: temples, the Great Buddha, a beach walk.\n"
            "2. **Hakone**: hot springs and views of Mount Fuji; the Free Pass covers the loop.\n"
            "3. **Nikko**: Toshogu Shrine and the Kegon Falls, two hours from Asakusa.",
        ),
    ),
    (
        "会議の議事録を要約して",
        qa(
            "次の議事録を3行で要約してください。",
            "1. 新機能のリリースは来月10日に決定。\n"
            "2. テスト担当を2名追加する。\n"
            "3. 次回の定例は金曜15時。",
        ),
    ),
    (
        "Explain HTTP caching headers",
        qa(
            "What do Cache-Control and ETag do?",
            "`Cache-Control` says how long a response may be reused; `ETag` names a version, so "
            "the browser can ask *has it changed?* and get a short `304 Not Modified` if not.",
        ),
    ),
    (
        "敬語のメールの書き方",
        qa(
            "取引先に納期の延長をお願いするメールの書き方を教えて",
            "件名で用件を伝え、理由と新しい納期を具体的に書くのが基本です。\n\n"
            "> 誠に恐縮ではございますが、納期を5月20日までご猶予いただけますでしょうか。",
        ),
    ),
    (
        "Pythonでリストを逆順にするには？",
        qa(
            "Pythonでリストを逆順にするには？",
            "スライスを使うのが手軽です：\n\n"
            "```python\nitems = [1, 2, 3]\nprint(items[::-1])  # [3, 2, 1]\n```\n\n"
            "元のリストをその場で並べ替えるなら `items.reverse()` を使います。",
        ),
    ),
]


@pytest.fixture(scope="module")
def showcase_stack(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[ServerProcess, dict[str, str]]]:
    stack = start_stack(tmp_path_factory.mktemp("showcase-stack"), "--engine", "fake")
    ids = {title: make_conversation(stack, title, messages) for title, messages in SHOWCASE}
    yield stack, ids
    stack.stop()


def shot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path))  # the viewport only: small files for the README
    return path


def test_readme_screenshots(
    browser: Browser, showcase_stack: tuple[ServerProcess, dict[str, str]]
) -> None:
    stack, ids = showcase_stack
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 700})
    page = context.new_page()
    page.goto(f"{stack.url}/?c={ids['Pythonでリストを逆順にするには？']}")
    expect(page.locator(f"{ASSISTANT} .code-block")).to_have_count(1)
    expect(page.locator(ENTRY)).to_have_count(len(SHOWCASE))
    page.evaluate("document.activeElement.blur()")  # the picture is of the list, not a focus ring
    assert shot(page, "conversations-desktop").stat().st_size < 400_000
    context.close()
    context = browser.new_context(locale="ja-JP", viewport={"width": 390, "height": 760})
    page = context.new_page()
    page.goto(f"{stack.url}/?c={ids['会議の議事録を要約して']}")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    page.get_by_role("button", name="会話一覧").click()
    expect(page.locator("#sidebar")).to_be_visible()
    page.wait_for_timeout(400)  # the drawer's slide
    assert shot(page, "conversations-phone").stat().st_size < 400_000
    context.close()
