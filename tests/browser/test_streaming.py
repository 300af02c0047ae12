"""Answers arrive as they are generated, and Stop reaches the model: real Chromium, the local stack,
the real gateway and the bundled model (docs/streaming.md)."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.browser import screenshot, start_stack
from tests.support.live import metric, wait_until
from tests.support.processes import ServerProcess

ASSISTANT = "#messages .message.assistant"
#: A prompt the tiny model answers at length, so that there is time to watch it and stop it.
LONG_ANSWER = "Write a very long story about the sea."


@pytest.fixture(scope="module")
def long_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """`make run`'s stack, answers up to 300 tokens: seconds here, a minute on a busy machine."""
    stack = start_stack(tmp_path_factory.mktemp("long-stack"), "--default-max-tokens", "300")
    yield stack
    stack.stop()


def llm_metric(stack: ServerProcess, name: str) -> float:
    return metric(stack.url + "/llm", name)


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


@pytest.mark.timeout(600)  # the whole answer may take the 300 s waited for below
def test_the_first_words_are_on_the_page_before_the_answer_ends(
    page: Page, long_stack: ServerProcess
) -> None:
    page.goto(long_stack.url)
    send(page, LONG_ANSWER)
    streaming = page.locator(f'{ASSISTANT}[data-streaming="true"]')
    expect(streaming).to_contain_text(re.compile(r"\w"))
    early = streaming.inner_text()
    screenshot(page, "10-streaming")
    expect(page.locator("#stop-button")).to_be_visible()  # still answering
    expect(page.locator(f'{ASSISTANT}[data-streaming="true"]')).to_have_count(0, timeout=300_000)
    final = page.locator(ASSISTANT).inner_text()
    assert early.strip() and len(final) > len(early)
    expect(page.locator("#stop-button")).to_be_hidden()


def test_stop_ends_the_answer_at_the_model_and_keeps_the_partial_text(
    page: Page, long_stack: ServerProcess
) -> None:
    cancelled = llm_metric(long_stack, "simplechat_cancelled_requests_total")
    page.goto(long_stack.url)
    send(page, LONG_ANSWER)
    streaming = page.locator(f'{ASSISTANT}[data-streaming="true"]')
    expect(streaming).to_contain_text(re.compile(r"\w"))
    with page.expect_request("**/api/chat/cancel") as cancel_request:
        page.click("#stop-button")
    assert (cancel_request.value.post_data_json or {})["id"]
    stopped = page.locator(f'{ASSISTANT}[data-stopped="true"]')
    expect(stopped).to_have_count(1)
    expect(page.locator(f'{ASSISTANT}[data-streaming="true"]')).to_have_count(0)
    assert stopped.inner_text().strip()
    screenshot(page, "11-stopped")
    # The model server stopped decoding it: counted as cancelled, nothing left running.
    assert wait_until(
        lambda: llm_metric(long_stack, "simplechat_cancelled_requests_total") == cancelled + 1,
        timeout=30,
    )
    assert wait_until(
        lambda: llm_metric(long_stack, "simplechat_running_sequences") == 0, timeout=30
    )
    # The server stored the partial answer as it stood, marked stopped (docs/conversations.md);
    # the mark after a reload comes from there, not from the browser.
    conversation_id = re.search(r"c=([0-9a-f]{32})", page.url).group(1)  # type: ignore[union-attr]
    with urllib.request.urlopen(f"{long_stack.url}/api/conversations/{conversation_id}") as reply:
        messages = json.loads(reply.read())["messages"]
    assert [m["role"] for m in messages] == ["user", "assistant"]
    assert messages[1]["content"].strip() and messages[1]["stopped"] is True
    assert page.evaluate("Object.keys(localStorage).filter(k => /history|stopped/.test(k))") == []
    page.reload()
    expect(page.locator(f'{ASSISTANT}[data-stopped="true"]')).to_have_count(1)
    expect(page.locator(f"{ASSISTANT} .message-flag.stopped")).to_have_text("Stopped")
    # The conversation goes on from what the user saw.
    with page.expect_request("**/api/chat") as next_turn:
        send(page, "Thanks.")
    assert (next_turn.value.post_data_json or {})["conversationId"] == conversation_id


def test_a_failure_mid_answer_keeps_what_arrived_and_offers_retry(
    page: Page, long_stack: ServerProcess
) -> None:
    """The UI's side of a failed answer, on a canned stream (the gateway is not asked)."""
    events = [
        {"id": "gen-test"},
        {"delta": "Half of "},
        {"delta": "an answer"},
        {
            "done": True,
            "success": False,
            "error": "The model server failed mid-answer.",
            "status": 502,
        },
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events)

    def broken_stream(route: Route) -> None:
        route.fulfill(status=200, headers={"Content-Type": "text/event-stream"}, body=body)

    page.route("**/api/chat", broken_stream)
    page.goto(long_stack.url)
    send(page, "Hello?")
    expect(page.locator(ASSISTANT)).to_contain_text("Half of an answer")
    expect(page.locator("#error-text")).to_contain_text("The model server failed mid-answer.")
    expect(page.locator("#retry-button")).to_be_visible()
    screenshot(page, "12-failed-mid-answer")
    # The canned stream never reached the gateway, so what the store keeps of a failed answer
    # (nothing) is tested where the gateway sees one: tests/gateway/test_answer_failures.py.
    conversation_id = re.search(r"c=([0-9a-f]{32})", page.url).group(1)  # type: ignore[union-attr]
    page.unroute("**/api/chat", broken_stream)
    with page.expect_request("**/api/chat") as retried:
        page.click("#retry-button")
    resent = retried.value.post_data_json or {}
    assert resent["message"] == "Hello?"
    assert resent["conversationId"] == conversation_id and "editFrom" not in resent
