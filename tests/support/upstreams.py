"""A deliberately misbehaving model server on 127.0.0.1: each first path segment is one fault."""

from __future__ import annotations

import contextlib
import json
import socket
import struct
import threading
import time
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.servers import LocalServer

#: How long the "slow" upstream keeps a request hanging at most (the tests' budgets are shorter).
SLOW_SECONDS = 8.0

#: Streams that are not OpenAI's shape (valid JSON, wrong types), by fault name.
ODD_EVENTS = {
    "sse-list": "[1, 2]",
    "sse-choices-object": '{"choices": {"delta": {"content": "x"}}}',
    "sse-choice-string": '{"choices": ["x"]}',
    "sse-delta-string": '{"choices": [{"delta": "x", "finish_reason": null}]}',
}
ANSWER_EVENT = json.dumps(
    {"choices": [{"index": 0, "delta": {"content": "together"}, "finish_reason": "stop"}]}
)


class _Handler(BaseHTTPRequestHandler):
    server: FaultyServer

    def log_message(self, *args: Any) -> None:  # keep test output quiet
        pass

    def _send(
        self,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), headers=headers)

    def _sse(self, events: list[str]) -> None:
        body = "".join(f"data: {event}\n\n" for event in [*events, "[DONE]"])
        self._send(200, body.encode(), "text/event-stream")

    def do_GET(self) -> None:
        # Healthy to a health check, so that a front tries it like any other upstream.
        if self.path.endswith("/health"):
            self._json(200, {"status": "ok"})
        elif self.path.endswith("/v1/models"):
            self._json(200, {"object": "list", "data": [{"id": "fake-model", "object": "model"}]})
        else:
            self._json(404, {"error": {"message": f"no {self.path}"}})

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        request = json.loads(self.rfile.read(length) or b"{}")
        self.server.received.append(
            {"path": self.path, "body": request, "authorization": self.headers.get("Authorization")}
        )
        fault = self.path.strip("/").split("/")[0]
        if self.path.endswith("/chat/cancel"):  # as every server but ours: no way to stop
            self._json(404, {"detail": "Not Found"})
        elif fault == "slow":
            self.server.stopping.wait(SLOW_SECONDS)
            self._json(200, {"response": "too late"})
        elif fault == "drip":  # headers at once, then a byte now and then: never finishes in time
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", "1000")
            self.end_headers()
            deadline = time.monotonic() + SLOW_SECONDS
            while time.monotonic() < deadline and not self.server.stopping.is_set():
                try:
                    self.wfile.write(b" ")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.2)
        elif fault == "error500":
            self._json(500, {"detail": "Internal Server Error"})
        elif fault == "unavailable":
            self._json(503, {"error": {"message": "draining"}})
        elif fault == "unauthorized":
            self._json(401, {"error": {"message": "Invalid API key."}})
        elif fault == "busy":
            self._json(429, {"error": {"message": "queue full"}}, headers={"Retry-After": "7"})
        elif fault == "rejects":
            self._json(
                400, {"error": {"message": "This request needs 9000 tokens, the context is 8192"}}
            )
        elif fault == "notjson":
            self._send(200, b"<html>ngrok tunnel offline</html>", "text/html")
        elif fault == "odd-usage":  # the answer is fine; its token counts are not
            self._json(200, {"response": "still an answer", "usage": ["not", "counts"]})
        elif fault in ODD_EVENTS:
            self._sse([ODD_EVENTS[fault], ANSWER_EVENT])
        elif fault == "together":  # answers once `barrier.parties` requests are here at once
            self.server.barrier.wait(timeout=SLOW_SECONDS * 4)
            self._sse([ANSWER_EVENT])
        elif fault == "wrongshape":
            self._json(200, {"answer": "the field is named differently"})
        elif fault == "reset":
            # RST instead of a reply: linger 0 then close.
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif fault == "needs-key":
            if self.headers.get("Authorization") != f"Bearer {self.server.expected_key}":
                self._json(401, {"error": {"message": "Invalid API key."}})
            else:
                self._json(200, {"response": "key accepted"})
        elif fault == "dies-mid-answer":  # two pieces of an OpenAI stream, then a reset
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            for text in ("Half ", "an answer"):
                chunk = {"id": "chatcmpl-dies", "choices": [{"delta": {"content": text}}]}
                self.wfile.write(f"data: {json.dumps(chunk)}\n\n".encode())
                self.wfile.flush()
                time.sleep(0.05)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
        elif fault == "counted":  # an answer with the model server's token counts
            usage = {"prompt_tokens": 7, "completion_tokens": 3}
            self._json(200, {"response": "counted", "usage": usage})
        elif fault.startswith("says-"):
            self._json(200, {"response": fault.removeprefix("says-")})
        else:
            self._json(404, {"error": {"message": f"no {self.path}"}})


class FaultyServer(LocalServer):
    request_queue_size = 256  # many clients at once connect without waiting on the backlog

    def __init__(self) -> None:
        self.received: list[dict[str, Any]] = []
        self.expected_key = ""
        self.barrier = threading.Barrier(1)
        super().__init__(_Handler)


class HeldStream(LocalServer):
    """Our /chat stream protocol, held: `before` deltas, then nothing (not even a keep-alive)
    until the test sets `release`, then the rest and `done` with the usage. The gateway's end
    of the stream is therefore decided by the test, never by timing."""

    def __init__(self, before: int = 15, after: int = 5) -> None:
        self.release = threading.Event()
        self.sent = threading.Event()  # the first `before` deltas are out
        self.gone = threading.Event()  # the gateway closed the connection
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _event(self, data: dict[str, Any]) -> None:
                self.wfile.write(f"data: {json.dumps(data)}\n\n".encode())
                self.wfile.flush()

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.end_headers()  # HTTP/1.0: the stream ends when the connection does
                try:
                    self._event({"id": "gen-held"})
                    for i in range(before):
                        self._event({"delta": f"d{i} "})
                    upstream.sent.set()
                    upstream.release.wait(SLOW_SECONDS * 4)
                    for i in range(before, before + after):
                        self._event({"delta": f"d{i} "})
                    usage = {"prompt_tokens": 50, "completion_tokens": before + after}
                    self._event({"done": True, "success": True, "usage": usage})
                except OSError:
                    pass
                # A closed peer reads as end of file.
                self.connection.settimeout(SLOW_SECONDS)
                with contextlib.suppress(OSError):
                    self.connection.recv(1)
                upstream.gone.set()

        super().__init__(Handler)

    def stop(self) -> None:
        self.release.set()
        super().stop()
