"""The context meter, the left-out note and each answer's speed show what the server reports: real
Chromium, the local stack, the real gateway and the bundled model with a small context."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import SCREENSHOTS, screenshot, start_stack
from tests.support.processes import ServerProcess

CONTEXT = 512
MAX_TOKENS = 32
#: Japanese and English turns, long enough that a few fill 512 tokens.
TURNS = [
    "京都の古い町について教えてください。川のそばの家、橋、寺、そして名物のお茶と豆腐のことを、"
    "できるだけ詳しく説明してください。",
    "Tell me about the old towns of Kyoto: the houses by the river, the bridges, the temples, "
    "and the tea and tofu they are known for. Please explain in as much detail as you can.",
    "大阪の市場についても教えてください。魚、野菜、果物、そしてたこ焼きやお好み焼きの店のことを、"
    "できるだけ詳しく説明してください。",
    "And the markets of Osaka: the fish, the vegetables, the fruit, and the stalls that sell "
    "takoyaki and okonomiyaki. Please explain in as much detail as you can, with examples.",
    "最後に、奈良の公園の鹿と、大きな寺と、古い道のことを教えてください。できるだけ詳しく。",
    "Finally, tell me about the deer in the park at Nara, the great temple and the old roads.",
]
# The README's picture (docs/images/context-meter.png) is this test's composer shot. To refresh it:
#   .venv/bin/pytest tests/browser/test_context_meter.py
#   cp test-output/screenshots/context-meter.png docs/images/


@pytest.fixture(scope="module")
def small_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    stack = start_stack(
        tmp_path_factory.mktemp("small-context"),
        "--context-length", str(CONTEXT),
        "--default-max-tokens", str(MAX_TOKENS),
    )  # fmt: skip
    yield stack
    stack.stop()


def done_event(body: str) -> dict[str, Any]:
    """The last `data:` event of a streamed answer."""
    events = [json.loads(line[5:]) for line in body.splitlines() if line.startswith("data:")]
    done: dict[str, Any] = events[-1]
    assert done["done"] is True and done["success"] is True, done
    return done


#: A copy of each chat answer's body, read beside the page's own reading of it (DevTools keeps
#: no body of an event stream).
TEE = """
const original = window.fetch;
window.chatBodies = [];
window.fetch = async (...args) => {
  const response = await original(...args);
  const url = String(args[0] && args[0].url ? args[0].url : args[0]);
  if (url.endsWith("/chat")) {
    const slot = window.chatBodies.push(null) - 1;
    response.clone().text().then((text) => (window.chatBodies[slot] = text));
  }
  return response;
};
"""


def ask(page: Page, text: str) -> dict[str, Any]:
    """Sends `text`, waits for the whole answer; the done event the browser got."""
    before = page.evaluate("window.chatBodies.length")
    page.fill("#input", text)
    page.press("#input", "Enter")
    page.wait_for_function(
        f"window.chatBodies.length > {before} && window.chatBodies[{before}] !== null",
        timeout=300_000,
    )
    expect(page.locator("#send-button")).to_be_visible()
    return done_event(page.evaluate(f"window.chatBodies[{before}]"))


def test_the_meter_shows_what_the_server_reports(page: Page, small_stack: ServerProcess) -> None:
    page.add_init_script(TEE)
    page.goto(small_stack.url)
    expect(page.locator("#context-meter")).to_be_hidden()  # nothing said yet
    gauge = page.locator("#context-gauge")
    left_out: dict[str, Any] | None = None
    for text in TURNS:
        done = ask(page, text)
        context, usage = done["context"], done["usage"]
        assert context["tokensEstimated"] is False and context["contextLength"] == CONTEXT
        assert context["maxTokens"] == MAX_TOKENS
        assert context["promptTokens"] == usage["prompt_tokens"]  # the server's own count
        used = usage["prompt_tokens"] + usage["completion_tokens"]
        expect(page.locator("#context-text")).to_have_text(f"{used:,} / {CONTEXT:,} tokens")
        expect(gauge).to_have_attribute("value", str(min(used, CONTEXT)))
        expect(gauge).to_have_attribute("max", str(CONTEXT))
        expect(page.get_by_role("meter", name="Context")).to_be_visible()  # the gauge is labelled
        speed = done["speed"]
        assert speed["measuredBy"] == "server"
        # Under the answer, drawn from data-speed: the answer's own text stays the answer's.
        last_body = page.locator(".message.assistant").last.locator(".message-body")
        expect(last_body).to_have_attribute(
            "data-speed", re.compile(f"tok/s · first token {speed['timeToFirstTokenMs']:,} ms$")
        )
        expect(last_body).to_have_attribute("data-speed-by", "server")
        if used + MAX_TOKENS > CONTEXT and not context["leftOutTurns"]:
            expect(page.locator("#context-warning")).to_contain_text("next message will leave")
        if context["leftOutTurns"]:
            left_out = context
            break
    assert left_out is not None, "the turns never filled the context"
    n = left_out["leftOutTurns"]
    note = page.locator("#messages .context-note")
    expect(note).to_have_count(1)
    expect(note).to_have_attribute("role", "note")
    # Just above the first message the model was sent.
    first_sent = page.locator(f'#messages .message[data-index="{left_out["historyFrom"]}"]')
    assert note.evaluate("(el) => el.nextElementSibling.dataset.index") == str(
        left_out["historyFrom"]
    )
    expect(first_sent).to_be_visible()
    expect(note).to_contain_text("not sent to the model")
    expect(page.locator("#context-warning")).to_contain_text(
        f"first {n} turns" if n > 1 else "first turn"
    )
    screenshot(page, "40-context-meter")
    meter_text = page.locator("#context-text").inner_text()
    # Opened again (a reload): the meter and the note are there before the next answer.
    page.reload()
    expect(page.locator("#context-text")).to_have_text(meter_text)
    expect(note).to_have_count(1)
    page.locator("#composer").screenshot(path=str(SCREENSHOTS / "context-meter.png"))

    # In Japanese, and at a phone's width: the same numbers, in words that fit.
    page.set_viewport_size({"width": 390, "height": 800})
    page.select_option("#language-select", "ja")
    expect(page.locator("#context-text")).to_contain_text("トークン")
    expect(note).to_contain_text("モデルに送られていません")
    meter_box = page.locator("#context-meter").bounding_box()
    assert meter_box is not None and meter_box["x"] + meter_box["width"] <= 390
    screenshot(page, "41-context-meter-phone-ja")
