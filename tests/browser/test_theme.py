"""Dark mode in Chromium: it follows the system setting, a choice is kept per browser, and every
screen and dialog (code blocks included) reads at WCAG AA contrast (4.5:1) in both themes.
Screenshots of both go to test-output/screenshots/ (copy them to docs/images/ for the README)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import DEMO_PASSWORD, DEMO_USER
from tests.support.conversations_ui import api, make_conversation, qa
from tests.support.processes import ServerProcess

# Not docs/images directly: a test run must leave the working tree as it found it.
IMAGES = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
CODE_ANSWER = (
    "Reverse it with slicing, or `reversed()`:\n\n```python\nitems = [1, 2, 3]\n"
    "print(items[::-1])\n```\n\nA [link](https://example.com) and **bold** text."
)
#: In the page: {selector: the WCAG contrast ratio of its text against what is behind it}.
CONTRAST = (Path(__file__).parent / "contrast.js").read_text()
CHAT_ELEMENTS = [
    "body",
    ".brand",
    ".language > span",
    "#theme-select",
    "#language-select",
    "#shortcuts-button",
    "#new-chat-button",
    "#conversation-search",
    ".conv-link[aria-current='page']",
    ".conv-link:not([aria-current])",
    "#export-all-button",
    "#import-open-button",
    "#conversation-title",
    "#export-markdown",
    "#messages .message.user .message-body",
    "#messages .message.assistant .message-body p",
    "#messages .message.assistant .message-body a",
    "#messages .message.assistant code:not(pre code)",
    "#messages .message.assistant pre code",
    "#messages .message-tools .icon-button",
    "#input",
    "#send-button",
    "#chat-notice",
]


def contrast(page: Page, selectors: list[str]) -> dict[str, float]:
    ratios: dict[str, Any] = page.evaluate(CONTRAST, selectors)
    missing = [s for s, r in ratios.items() if r is None]
    assert not missing, f"not on the page: {missing}"
    return ratios


def assert_readable(page: Page, selectors: list[str], where: str) -> None:
    ratios = contrast(page, selectors)
    low = {s: r for s, r in ratios.items() if r < 4.5}
    assert not low, f"{where}: below 4.5:1: {low}"


@pytest.fixture
def dark_system(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(
        locale="en-US", viewport={"width": 1100, "height": 720}, color_scheme="dark"
    )
    yield context
    context.close()


def theme(page: Page) -> str:
    return str(page.evaluate("document.documentElement.dataset.theme"))


@pytest.fixture(scope="module")
def stack(own_fake_stack: ServerProcess) -> ServerProcess:
    return own_fake_stack


def open_showcase(page: Page, stack: ServerProcess) -> None:
    listed = api(stack, "GET", "/conversations")[1]["conversations"]
    if not listed:
        make_conversation(stack, "会議の議事録を要約して", qa("要約して", "はい。"))
        make_conversation(
            stack, "Reverse a list", qa("How do I reverse a list in Python?", CODE_ANSWER)
        )
        listed = api(stack, "GET", "/conversations")[1]["conversations"]
    conversation_id = listed[0]["id"]
    page.goto(f"{stack.url}/?c={conversation_id}")
    expect(page.locator("#messages .code-block")).to_have_count(1)
    # A notice is part of the screen too (the one a conversation that is gone gives).
    page.evaluate("document.getElementById('chat-notice').textContent = 'A notice.'")
    page.evaluate("document.activeElement.blur()")


def check_dialogs(page: Page, where: str) -> None:
    page.click("#shortcuts-button")
    expect(page.locator("#shortcuts-dialog")).to_be_visible()
    assert_readable(
        page,
        ["#shortcuts-title", "#shortcuts-list dt", "#shortcuts-list kbd", "#shortcuts-close"],
        where,
    )
    page.keyboard.press("Escape")
    page.click("#import-open-button")
    page.set_input_files(
        "#import-file", {"name": "x.json", "mimeType": "text/plain", "buffer": b"x"}
    )
    page.click("#import-start")
    expect(page.locator("#import-file-error")).to_contain_text("not JSON")
    assert_readable(
        page,
        [
            "#import-title",
            "#import-help",
            "label[for='import-file']",
            "#import-file",
            "#import-file-error",
            "#import-close",
            "#import-start",
        ],
        where,
    )
    page.keyboard.press("Escape")
    page.click("#usage-button")
    expect(page.locator("#usage-body .usage-row").first).to_be_visible()
    assert_readable(page, ["#usage-title", "#usage-body .usage-today", "#usage-close"], where)
    page.keyboard.press("Escape")
    page.locator("#conversation-list li").first.hover()
    page.locator("#conversation-list .conv-rename").first.click()
    expect(page.locator("#rename-dialog")).to_be_visible()
    page.fill("#rename-input", "")
    page.locator("#rename-form button[type=submit]").click()
    assert_readable(
        page,
        ["#rename-title", "label[for='rename-input']", "#rename-input", "#rename-error"],
        where,
    )
    page.keyboard.press("Escape")
    page.locator("#conversation-list li").first.hover()
    page.locator("#conversation-list .conv-delete").first.click()
    expect(page.locator("#delete-dialog")).to_be_visible()
    assert_readable(
        page, ["#delete-title", "#delete-text", "#delete-cancel", "#delete-confirm"], where
    )
    page.keyboard.press("Escape")
    page.click("#instructions-button")
    expect(page.locator("#instructions-dialog")).to_be_visible()
    page.fill("#instructions-input", "Answer briefly.")
    page.fill("#preset-name", "")
    page.click("#preset-save")  # no name: the dialog says so, in its error colour
    expect(page.locator("#instructions-error")).not_to_be_empty()
    assert_readable(
        page,
        [
            "#instructions-title",
            "#instructions-help",
            "label[for='instructions-input']",
            "#instructions-input",
            "#instructions-count",
            "#preset-box legend",
            "label[for='preset-name']",
            "#preset-save",
            "#instructions-error",
            "#instructions-cancel",
        ],
        where,
    )
    page.keyboard.press("Escape")


def test_it_follows_the_system_and_reads_well_in_dark(
    dark_system: BrowserContext, stack: ServerProcess
) -> None:
    page = dark_system.new_page()
    open_showcase(page, stack)
    assert theme(page) == "dark"
    expect(page.locator("#theme-select")).to_have_value("system")
    assert_readable(page, CHAT_ELEMENTS, "dark")
    IMAGES.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(IMAGES / "theme-dark.png"))
    check_dialogs(page, "dark dialogs")
    # The system turns light while the page is open: the page follows.
    page.emulate_media(color_scheme="light")
    expect(page.locator("html")).to_have_attribute("data-theme", "light")


def test_light_reads_well_and_a_choice_is_kept_per_browser(
    browser: Browser, stack: ServerProcess
) -> None:
    page = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 720}).new_page()
    open_showcase(page, stack)
    assert theme(page) == "light"
    assert_readable(page, CHAT_ELEMENTS, "light")
    page.screenshot(path=str(IMAGES / "theme-light.png"))
    check_dialogs(page, "light dialogs")
    page.select_option("#theme-select", "dark")
    assert theme(page) == "dark"
    page.reload()
    expect(page.locator("#theme-select")).to_have_value("dark")
    assert theme(page) == "dark"
    page.emulate_media(color_scheme="light")  # a choice wins over the system
    assert theme(page) == "dark"
    page.select_option("#theme-select", "system")
    assert theme(page) == "light"
    assert page.evaluate("localStorage.getItem('simplechat.theme')") is None
    page.context.close()


def sign_in(page: Page) -> None:
    page.fill("#login-username", DEMO_USER)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()


def test_the_sign_in_screen_and_a_phone_read_well_in_both(
    browser: Browser, cognito_stack: ServerProcess
) -> None:
    for scheme in ("light", "dark"):
        context = browser.new_context(
            locale="ja-JP", viewport={"width": 375, "height": 740}, color_scheme=scheme
        )
        page = context.new_page()
        page.goto(cognito_stack.url)
        expect(page.locator("#login-view")).to_be_visible()
        page.fill("#login-username", "nobody@example.com")
        page.fill("#login-password", "wrong-password-1")
        page.click("#login-form button[type=submit]")
        expect(page.locator("#login-error")).not_to_be_empty()
        assert theme(page) == scheme
        assert_readable(
            page,
            [
                "#login-title",
                "label[for='login-username']",
                "#login-username",
                "#login-form button[type=submit]",
                "#forgot-link",
                "#login-error",
            ],
            f"sign-in, {scheme}",
        )
        # Nothing wider than the phone.
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        sign_in(page)
        page.click("#account-button")
        expect(page.locator("#account-dialog")).to_be_visible()
        expect(page.locator("#totp-status")).not_to_be_empty()
        assert_readable(
            page,
            ["#account-title", "#account-who", "#totp-status", "#sign-out-everywhere-button"],
            f"account, {scheme}",
        )
        context.close()


def test_a_phone_in_dark_japanese(browser: Browser, stack: ServerProcess) -> None:
    context = browser.new_context(
        locale="ja-JP", viewport={"width": 375, "height": 740}, color_scheme="dark"
    )
    page = context.new_page()
    open_showcase(page, stack)
    expect(page.locator("#export-markdown")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375  # nothing wider
    assert_readable(
        page, [s for s in CHAT_ELEMENTS if "conv-" not in s and "port-" not in s], "phone"
    )
    page.screenshot(path=str(IMAGES / "theme-dark-phone.png"))
    page.get_by_role("button", name="会話一覧").click()
    expect(page.locator("#export-all-button")).to_be_visible()
    expect(page.locator("#export-all-button")).to_have_text("すべて書き出す")
    assert_readable(page, ["#export-all-button", "#import-open-button", ".conv-link"], "drawer")
    context.close()
