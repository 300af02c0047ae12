"""A page on another website, open in the user's browser, cannot read, change or use the
stack: not its conversations, not its chat, not its model."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler
from typing import Any

import pytest
from playwright.sync_api import Page

from tests.support.processes import ServerProcess
from tests.support.servers import LocalServer

ATTACK = """
async (target) => {
  const seen = {};
  const attempt = async (name, run) => {
    try { seen[name] = await run(); } catch (error) { seen[name] = "blocked: " + error.name; }
  };
  await attempt("read", async () => {
    const reply = await fetch(target + "/api/conversations");
    return reply.status + " " + (await reply.text());
  });
  await attempt("delete", async () => {
    const listed = await (await fetch(target + "/api/conversations")).json();
    const reply = await fetch(target + "/api/conversations/" + listed.conversations[0].id,
                              { method: "DELETE" });
    return reply.status;
  });
  await attempt("export", async () => {
    const reply = await fetch(target + "/api/conversations/export");
    return reply.status + " " + (await reply.text());
  });
  await attempt("presets", async () => {
    const reply = await fetch(target + "/api/presets");
    return reply.status + " " + (await reply.text());
  });
  // "Simple" requests: no preflight, the browser sends them and only hides the answer.
  await attempt("chat", async () => {
    await fetch(target + "/api/chat", { method: "POST", mode: "no-cors",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ message: "sent by another website" }) });
    return "sent";
  });
  await attempt("preset", async () => {
    await fetch(target + "/api/presets", { method: "POST", mode: "no-cors",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ name: "planted", instructions: "sent by another website" }) });
    return "sent";
  });
  await attempt("model", async () => {
    await fetch(target + "/llm/generate", { method: "POST", mode: "no-cors",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ prompt: "sent by another website" }) });
    return "sent";
  });
  return seen;
}
"""


class AttackerSite(LocalServer):
    """Another website: one empty page, on another host name and port."""

    def __init__(self) -> None:
        class Page(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_GET(self) -> None:
                body = b"<!doctype html><title>another site</title><p>hello"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Page)

    @property
    def url(self) -> str:
        # `localhost` while the stack is 127.0.0.1: another site, not only another port.
        return f"http://localhost:{self.server_address[1]}/"


@pytest.fixture
def attacker() -> Iterator[AttackerSite]:
    site = AttackerSite()
    yield site
    site.stop()


def api(stack: ServerProcess, method: str, path: str, body: Any = None) -> Any:
    """The API as a program calls it (no Origin): how the test sees what is stored."""
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(stack.url + "/api" + path, data=data, method=method)
    with urllib.request.urlopen(request, timeout=30) as reply:
        return json.loads(reply.read())


def test_another_website_cannot_read_delete_or_use_the_stack(
    page: Page, fake_stack: ServerProcess, attacker: AttackerSite
) -> None:
    created = api(fake_stack, "POST", "/conversations", {})
    api(
        fake_stack, "POST", "/chat", {"message": "my secret plans", "conversationId": created["id"]}
    )
    before = api(fake_stack, "GET", "/conversations")["conversations"]
    stored = api(fake_stack, "GET", f"/conversations/{created['id']}")
    page.goto(attacker.url)
    seen = page.evaluate(ATTACK, fake_stack.url)
    assert "my secret plans" not in json.dumps(seen)
    assert seen["read"].startswith("blocked")  # the browser got no readable answer
    assert seen["export"].startswith("blocked") and seen["presets"].startswith("blocked")
    assert seen["delete"] != 200
    after = api(fake_stack, "GET", "/conversations")["conversations"]
    assert [c["id"] for c in after] == [c["id"] for c in before]  # nothing deleted, none added
    assert api(fake_stack, "GET", f"/conversations/{created['id']}") == stored
    log = fake_stack.log
    assert "sent by another website" not in json.dumps(after)
    assert "sent by another website" not in json.dumps(api(fake_stack, "GET", "/presets"))
    # Refused before the gateway or the model saw them: 403s in the stack's access log.
    assert log.count('/api/chat HTTP/1.1" 403') >= 1
    assert log.count('/llm/generate HTTP/1.1" 403') >= 1
    assert log.count('/api/conversations/export HTTP/1.1" 403') >= 1
    assert log.count('/api/presets HTTP/1.1" 403') >= 2  # the read and the planted preset
