"""Usage and limits in the UI (docs/limits.md), in real Chromium against local stacks: the usage
display beside GET /api/usage, the near-limit warning, and the 429s worded in the UI's language.

The fake engine answers "You said: <message>" and counts a token per word, prompt and answer: a
first message of 20 words costs 22 + 22 = 44 tokens. Each limited stack is started for one test
(a second or two), so that no test's counts depend on another's. The browser's clock is Tokyo's:
the day's count (UTC) starts again at 09:00 there.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route, expect

from tests.support.browser import DEMO_PASSWORD, DEMO_USER, screenshot, start_stack
from tests.support.processes import ServerProcess

ASSISTANT = "#messages .message.assistant"
USER = "#messages .message.user"
TWENTY_WORDS = " ".join(f"word{n}" for n in range(1, 21))  # 44 tokens: 88% of 50
RESET = "09:00"  # 00:00 UTC on a Tokyo clock
IN_EN = r"\(in (\d+ h \d+ min|\d+ min|\d+ s)\)"
IN_JA = r"（あと (\d+ 時間 \d+ 分|\d+ 分|\d+ 秒)）"
JA_TRY_AGAIN = r"\d+ 秒後にもう一度お試しください。"
LINES = ("usage-tokens", "usage-minute", "usage-answers", "usage-today", "usage-resets")


@pytest.fixture
def stack_with(tmp_path: Path) -> Iterator[Callable[..., ServerProcess]]:
    """Starts a fake-engine stack with the given limit flags, for this test only."""
    started: list[ServerProcess] = []

    def start(*limits: str) -> ServerProcess:
        folder = tmp_path / f"stack-{len(started)}"
        folder.mkdir()
        started.append(start_stack(folder, "--engine", "fake", *limits))
        return started[-1]

    yield start
    for stack in started:
        stack.stop()


def new_page(browser: Browser, locale: str) -> Page:
    context = browser.new_context(
        locale=locale, timezone_id="Asia/Tokyo", viewport={"width": 1100, "height": 800}
    )
    context.set_default_timeout(30_000)
    return context.new_page()


def usage_of(stack: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(stack.url + "/api/usage") as reply:
        usage: dict[str, Any] = json.loads(reply.read())
        return usage


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def turn_over(page: Page) -> None:
    """Waits until the turn sent last is over, answered or refused."""
    expect(page.locator("#stop-button")).to_be_hidden()
    expect(page.locator("#send-button")).to_be_visible()


def panel_lines(page: Page, stack: ServerProcess) -> tuple[dict[str, str], dict[str, Any]]:
    """Opens the Usage dialog and reads its lines, with the server's counts of that moment (read
    before and after: the per-minute count starts again each minute, so both must agree)."""
    for _ in range(3):
        before = usage_of(stack)
        page.click("#usage-button")
        body = page.locator("#usage-body")
        expect(body).to_have_attribute("aria-busy", "false")
        lines = {name: body.locator(f".{name}").first.inner_text() for name in LINES}
        after = usage_of(stack)
        if before == after:
            return lines, after
        page.click("#usage-close")
    raise AssertionError("the counts kept changing")


def test_the_usage_panel_shows_what_the_server_counts(
    browser: Browser, stack_with: Callable[..., ServerProcess]
) -> None:
    stack = stack_with(
        "--user-tokens-per-day", "1000", "--user-requests-per-minute", "30",
        "--user-concurrent-answers", "2",
    )  # fmt: skip
    page = new_page(browser, "en-US")
    page.goto(stack.url)
    expect(page.locator("#usage-button")).to_have_text("Usage")
    lines, usage = panel_lines(page, stack)
    assert usage["tokens"]["used"] == 0
    assert lines["usage-tokens"] == "0 / 1,000 tokens today"
    page.click("#usage-close")
    expect(page.locator("#usage-button")).to_be_focused()  # back where the dialog was opened

    with page.expect_request("**/api/usage"):  # counted again once the answer is done
        send(page, TWENTY_WORDS)
        expect(page.locator(ASSISTANT)).to_have_text(f"You said: {TWENTY_WORDS}")
    turn_over(page)
    lines, usage = panel_lines(page, stack)
    tokens, requests = usage["tokens"], usage["requests"]
    assert tokens["used"] > 0 and requests["today"] == 1
    assert lines == {
        "usage-tokens": f"{tokens['used']:,} / 1,000 tokens today",
        "usage-minute": f"{requests['thisMinute']} / 30 messages this minute",
        "usage-answers": f"{usage['answers']['running']} / 2 answers being written",
        "usage-today": "1 message sent today",
        "usage-resets": f"The day's count starts again at {RESET} (your time).",
    }
    bar = page.get_by_role("progressbar", name="Tokens today")
    expect(bar).to_have_attribute("aria-valuenow", str(tokens["used"]))
    expect(bar).to_have_attribute("aria-valuemax", "1000")
    expect(page.get_by_role("progressbar", name="Messages this minute")).to_have_attribute(
        "aria-valuemax", "30"
    )
    screenshot(page, "30-usage-panel")
    page.keyboard.press("Escape")
    expect(page.locator("#usage-dialog")).not_to_be_visible()
    expect(page.locator("#usage-warning")).to_have_text("")  # 4% of the day: nothing to warn of
    page.context.close()


def test_near_and_over_the_daily_tokens_in_english(
    browser: Browser, stack_with: Callable[..., ServerProcess]
) -> None:
    stack = stack_with("--user-tokens-per-day", "50")
    page = new_page(browser, "en-US")
    page.goto(stack.url)
    expect(page.locator("#usage-button")).to_be_visible()
    warning = page.locator("#usage-warning")
    expect(warning).to_have_text("")
    send(page, TWENTY_WORDS)
    expect(page.locator(ASSISTANT)).to_have_count(1)
    turn_over(page)
    share = usage_of(stack)["tokens"]["used"] * 100 // 50
    assert 80 <= share < 100
    expect(warning).to_have_text(
        f"You have used {share}% of today's 50 tokens (resets at {RESET})."
    )
    expect(warning).to_have_attribute("role", "status")
    screenshot(page, "31-usage-warning")
    send(page, "one more")  # still under the limit when sent: answered, and past it
    expect(page.locator(ASSISTANT)).to_have_count(2)
    turn_over(page)
    expect(warning).to_have_text(f"You have used all of today's 50 tokens (resets at {RESET}).")

    send(page, "are you still there")
    expect(page.locator("#error-text")).to_have_text(
        re.compile(rf"^You have used today's 50 tokens\. They reset at {RESET} {IN_EN}\.$")
    )
    expect(page.locator("#input")).to_have_value("are you still there")  # kept to send later
    expect(page.locator(USER)).to_have_count(2)  # the refused one is not in the conversation
    expect(page.locator("#retry-button")).to_be_hidden()  # not before the day's count restarts
    screenshot(page, "32-usage-over-tokens")
    page.context.close()


def test_near_and_over_the_daily_tokens_in_japanese(
    browser: Browser, stack_with: Callable[..., ServerProcess]
) -> None:
    stack = stack_with("--user-tokens-per-day", "50")
    page = new_page(browser, "ja-JP")
    page.goto(stack.url)
    expect(page.locator("#usage-button")).to_have_text("利用状況")
    warning = page.locator("#usage-warning")
    send(page, " ".join(["テスト"] * 20))
    expect(page.locator(ASSISTANT)).to_have_count(1)
    turn_over(page)
    share = usage_of(stack)["tokens"]["used"] * 100 // 50
    assert 80 <= share < 100
    expect(warning).to_have_text(
        f"本日のトークン上限 50 のうち {share}% を使いました（{RESET} にリセット）。"
    )
    send(page, "もう 一つ")
    expect(page.locator(ASSISTANT)).to_have_count(2)
    turn_over(page)
    expect(warning).to_have_text(
        f"本日のトークン上限 50 をすべて使いました（{RESET} にリセット）。"
    )

    send(page, "まだ いますか")
    expect(page.locator("#error-text")).to_have_text(
        re.compile(rf"^本日のトークン上限（50）に達しました。{RESET} にリセットされます{IN_JA}。$")
    )
    expect(page.locator("#input")).to_have_value("まだ いますか")
    screenshot(page, "33-usage-over-tokens-ja")

    lines, usage = panel_lines(page, stack)
    used = usage["tokens"]["used"]
    assert lines["usage-tokens"] == f"本日のトークン：{used:,} / 50"
    assert lines["usage-answers"] == "作成中の回答：0 件（上限なし）"
    resets = f"本日の集計は {RESET}（お使いの端末の時刻）にリセットされます。"
    assert lines["usage-resets"] == resets
    bar = page.get_by_role("progressbar", name="本日のトークン")
    expect(bar).to_have_attribute("aria-valuenow", "50")  # past the limit: the bar is full
    page.context.close()


def test_counts_that_lag_behind_a_streamed_answer_are_asked_again(
    browser: Browser, fake_stack: ServerProcess
) -> None:
    """The gateway counts a streamed answer once its stream is closed, a moment after the last
    event: a count read at once may not show it yet."""
    page = new_page(browser, "en-US")
    served: list[int] = []

    def lagging(route: Route) -> None:
        used = 0 if len(served) < 2 else 44  # at the start, and at once after the answer: stale
        served.append(used)
        body = {
            "day": "2030-01-01",
            "tokens": {"used": used, "limit": 50, "resetsAt": "2030-01-02T00:00:00Z"},
            "requests": {"today": 1, "thisMinute": 1, "perMinuteLimit": None,
                         "resetsAt": "2030-01-01T00:01:00Z"},
            "answers": {"running": 0, "limit": None},
        }  # fmt: skip
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/usage", lagging)
    page.goto(fake_stack.url)
    send(page, "counted a moment later")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    expect(page.locator("#usage-warning")).to_have_text(
        f"You have used 88% of today's 50 tokens (resets at {RESET})."
    )
    assert served == [0, 0, 44]  # asked once more, then no more
    page.context.close()


def test_the_per_minute_limit_counts_down_then_offers_retry(
    browser: Browser, stack_with: Callable[..., ServerProcess]
) -> None:
    stack = stack_with("--user-requests-per-minute", "1")
    page = new_page(browser, "en-US")
    page.clock.install()  # the countdown can be run forward; otherwise time goes on as usual
    page.goto(stack.url)
    # The count is per calendar minute: the second message of a minute is refused, but a minute
    # may begin between two sends. A few tries find a refusal.
    for attempt in range(4):
        text = f"attempt {attempt}"
        send(page, text)
        turn_over(page)
        if page.locator("#error-box").is_visible():
            break
    else:
        raise AssertionError("never refused")
    wait = page.locator("#error-text .limit-wait")
    expect(page.locator("#error-text")).to_have_text(
        re.compile(
            r"^You have sent 1 message this minute, the most allowed\. Try again in \d+ s\.$"
        )
    )
    seconds = int(wait.inner_text().removesuffix(" s"))
    assert 1 <= seconds <= 60
    expect(page.locator("#input")).to_have_value(text)
    expect(page.locator("#retry-button")).to_be_hidden()
    expect(wait).to_have_attribute("aria-live", "off")  # the alert is not read out every second
    screenshot(page, "34-usage-per-minute")
    if seconds > 3:
        page.clock.fast_forward(2000)
        expect(wait).not_to_have_text(f"{seconds} s")
        assert int(wait.inner_text().removesuffix(" s")) < seconds
    page.select_option("#language-select", "ja")  # said again in the other language
    expect(page.locator("#error-text")).to_have_text(
        re.compile(rf"^1 分間に送信できるメッセージは 1 件までです。{JA_TRY_AGAIN}$")
    )
    page.select_option("#language-select", "en")
    page.clock.fast_forward(61_000)
    expect(page.locator("#error-text")).to_have_text("You can send again now.")
    expect(page.locator("#retry-button")).to_be_visible()
    with page.expect_request("**/api/chat") as again:
        page.click("#retry-button")
    resent = again.value.post_data_json
    assert resent is not None and resent["message"] == text
    page.context.close()


def test_too_many_answers_at_once_is_worded_and_retry_is_offered(
    browser: Browser, fake_stack: ServerProcess
) -> None:
    page = new_page(browser, "en-US")
    details = {"name": "concurrentAnswers", "limit": 2, "used": 2, "retryAfter": 5}

    def refuse(route: Route) -> None:
        route.fulfill(
            status=429,
            headers={"Retry-After": "5"},
            content_type="application/json",
            body=json.dumps(
                {"success": False, "error": "(the server's English)", "limit": details}
            ),
        )

    page.route("**/api/chat", refuse)
    page.goto(fake_stack.url)
    send(page, "one answer too many")
    expect(page.locator("#error-text")).to_have_text(
        "You already have 2 answers being written. Wait for one to finish, or stop it."
    )
    expect(page.locator("#input")).to_have_value("one answer too many")
    expect(page.locator("#retry-button")).to_be_visible()  # nothing to count down: any moment
    page.select_option("#language-select", "ja")
    expect(page.locator("#error-text")).to_have_text(
        "すでに 2 件の回答を作成中です。どれかが終わるのを待つか、停止してください。"
    )
    page.unroute("**/api/chat", refuse)
    page.click("#retry-button")
    expect(page.locator(ASSISTANT)).to_have_text("You said: one answer too many")
    expect(page.locator("#input")).to_have_value("")
    expect(page.locator("#error-box")).to_be_hidden()
    page.context.close()


def test_without_limits_the_panel_says_no_limit_and_nothing_warns(
    browser: Browser, fake_stack: ServerProcess
) -> None:
    page = new_page(browser, "en-US")
    page.goto(fake_stack.url)
    send(page, TWENTY_WORDS)
    expect(page.locator(ASSISTANT)).to_have_count(1)
    turn_over(page)
    lines, usage = panel_lines(page, fake_stack)
    assert usage["tokens"]["limit"] is None and usage["tokens"]["used"] > 0
    assert lines["usage-tokens"] == f"{usage['tokens']['used']:,} tokens today (no limit)"
    assert (
        lines["usage-minute"]
        == f"{usage['requests']['thisMinute']} messages this minute (no limit)"
    )
    assert lines["usage-answers"] == "0 answers being written (no limit)"
    expect(page.locator("#usage-body [role=progressbar]")).to_have_count(0)
    page.click("#usage-close")
    expect(page.locator("#usage-warning")).to_have_text("")
    page.context.close()


def test_a_gateway_that_counts_nothing_shows_no_usage(
    browser: Browser, fake_stack: ServerProcess
) -> None:
    page = new_page(browser, "en-US")
    asked: list[str] = []

    def storeless(route: Route) -> None:
        asked.append(route.request.url)
        route.fulfill(
            status=501,
            content_type="application/json",
            body=json.dumps({"success": False, "error": "No store is configured."}),
        )

    page.route("**/api/usage", storeless)
    page.goto(fake_stack.url)
    send(page, "is anything counted")
    expect(page.locator(ASSISTANT)).to_have_count(1)
    turn_over(page)
    assert len(asked) == 1  # asked once when the chat started, never again
    expect(page.locator("#usage-button")).to_be_hidden()
    expect(page.locator("#usage-warning")).to_have_text("")
    page.context.close()


def test_signed_in_the_account_menu_shows_the_usage(
    page: Page, cognito_stack: ServerProcess
) -> None:
    page.goto(cognito_stack.url)
    page.fill("#login-username", DEMO_USER)
    page.fill("#login-password", DEMO_PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#usage-button")).to_be_hidden()  # the Account menu holds it
    page.click("#account-button")
    usage = page.locator("#account-usage")
    expect(usage).to_be_visible()
    expect(usage.locator("h3")).to_have_text("Your usage today")
    expect(usage.locator(".usage-tokens")).to_have_text(
        re.compile(r"^[\d,]+ tokens today \(no limit\)$")
    )
    expect(usage.locator(".usage-answers")).to_have_text("0 answers being written (no limit)")
    page.click("#account-close")
