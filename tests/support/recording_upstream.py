"""A pass-through in front of a real model server that keeps each request body it forwards:
what the model was asked, as the server received it. Requests for a title can be held back
until the test lets them go (to put a rename before the model's title, without timing luck)."""

from __future__ import annotations

import http.client
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from chat_gateway.model_title import ASK_EN, ASK_JA

#: Headers that describe the hop, not the body: the relay sets its own.
HOP = {"connection", "transfer-encoding", "content-length", "keep-alive"}


class RecordingUpstream:
    def __init__(self, target: str) -> None:
        self.target = urlsplit(target)
        self.received: list[dict[str, Any]] = []
        self.lock = threading.Lock()
        self.titles_go = threading.Event()
        self.titles_go.set()
        self.titles_waiting = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.0"  # the reply ends when the connection closes

            def do_GET(self) -> None:
                outer.relay(self, b"")

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length") or 0))
                outer.relay(self, body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def chats(self) -> list[dict[str, Any]]:
        """The chat requests' bodies, oldest first (titles included)."""
        with self.lock:
            return [r for r in self.received if "message" in r]

    def hold_titles(self) -> None:
        self.titles_waiting.clear()
        self.titles_go.clear()

    def release_titles(self) -> None:
        self.titles_go.set()

    def relay(self, handler: BaseHTTPRequestHandler, body: bytes) -> None:
        data: Any = None
        if body:
            try:
                data = json.loads(body)
            except ValueError:
                data = None
        if isinstance(data, dict):
            with self.lock:
                self.received.append(data)
            if data.get("message") in (ASK_EN, ASK_JA):
                self.titles_waiting.set()
                self.titles_go.wait(60)
        conn = http.client.HTTPConnection(self.target.netloc, timeout=120)
        headers = {k: v for k, v in handler.headers.items() if k.lower() not in HOP | {"host"}}
        conn.request(handler.command, handler.path, body or None, headers)
        reply = conn.getresponse()
        handler.send_response(reply.status)
        for name, value in reply.getheaders():
            if name.lower() not in HOP:
                handler.send_header(name, value)
        handler.end_headers()
        try:
            while chunk := reply.read1(64 * 1024):
                handler.wfile.write(chunk)
                handler.wfile.flush()
        except OSError:
            pass  # the gateway stopped reading (Stop): the model server sees the close
        finally:
            conn.close()

    def stop(self) -> None:
        self.titles_go.set()
        self.server.shutdown()
        self.server.server_close()
