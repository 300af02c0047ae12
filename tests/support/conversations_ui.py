"""The browser tests' conversation helpers: the stack's conversation API as the local user,
stored conversations made directly, the page's message and list selectors, the old history."""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.support.processes import ServerProcess

ASSISTANT = "#messages .message.assistant"
USER = "#messages .message.user"
ENTRY = "#conversation-list li"


def unique(label: str) -> str:
    return f"{label} {uuid.uuid4().hex[:8]}"


def api(stack: ServerProcess, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    """The stack's conversation API as the local user (no sign-in on these stacks)."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        stack.url + "/api" + path, data, {"Content-Type": "application/json"}, method=method
    )
    try:
        with urllib.request.urlopen(request) as reply:
            text = reply.read().decode()
            return reply.status, json.loads(text) if text else None
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"null")


def stored(stack: ServerProcess, conversation_id: str) -> dict[str, Any]:
    status, body = api(stack, "GET", f"/conversations/{conversation_id}")
    assert status == 200, body
    result: dict[str, Any] = body
    return result


def make_conversation(stack: ServerProcess, title: str, messages: list[dict[str, Any]]) -> str:
    status, body = api(stack, "POST", "/conversations", {"title": title, "messages": messages})
    assert status == 201, body
    conversation_id: str = body["id"]
    return conversation_id


def qa(question: str, answer: str) -> list[dict[str, str]]:
    return [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]


def send(page: Page, text: str) -> None:
    page.fill("#input", text)
    page.press("#input", "Enter")


def answered(page: Page, count: int) -> None:
    """Waits until `count` answers are on the page, the last one stored (it has its tools)."""
    expect(page.locator(f"{ASSISTANT}[data-index]")).to_have_count(count)
    expect(page.locator("#stop-button")).to_be_hidden()


def open_id(page: Page) -> str:
    match = re.search(r"[?&]c=([0-9a-f]{32})", page.url)
    assert match, page.url
    return match.group(1)


def entry(page: Page, title: str) -> Locator:
    return page.locator(ENTRY, has=page.locator(".conv-link", has_text=title))


def fingerprint(text: str) -> str:
    """stopped_marks.js's fingerprint, for an old "Stopped" mark (ASCII text)."""
    value = 5381
    for char in text:
        value = ((value * 33) & 0xFFFFFFFF) ^ ord(char)
    digits = ""
    while True:
        value, digit = divmod(value, 36)
        digits = "0123456789abcdefghijklmnopqrstuvwxyz"[digit] + digits
        if not value:
            break
    return f"{len(text)}:{digits}"


def old_history(page: Page, turns: list[dict[str, str]], stopped: dict[str, str]) -> None:
    page.evaluate(
        """([turns, stopped]) => {
        localStorage.setItem("simplechat.history.local", JSON.stringify(turns));
        localStorage.setItem("simplechat.stopped.local", JSON.stringify(stopped));
    }""",
        [turns, stopped],
    )
