"""A model server that goes wrong on purpose, in every way an answer can: refused before the
stream, a failure after some text, a stream that just ends, a stall. The user's message names
the fault (a key of FAULTS), so one server and one gateway serve them all; the same fault
answers a streamed request (our `/chat` events or OpenAI's chunks, by the path asked) and a
JSON one, as such a server would. POST /chat/cancel answers as CANCEL_REPLIES says."""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

from tests.support.servers import LocalServer

#: How long a stalled answer is held at most (the gateway's limits in these tests are shorter).
STALL_SECONDS = 30.0
#: OpenAI's error types for the statuses a mid-stream error event stands for.
OPENAI_TYPES = {429: "rate_limit_error", 400: "invalid_request_error"}


@dataclass(frozen=True)
class Fault:
    """`status` != 200: refused before any answer. Otherwise `pieces` of text, then `ending`:
    "failure" (an error with `failure_status`), "close" (the connection just ends), "stall"
    (nothing more until the test ends), or "done" (the answer finishes as it should)."""

    status: int = 200
    pieces: tuple[str, ...] = ("Half ", "an answer")
    ending: str = "failure"
    failure_status: int = 500
    message: str = "the GPU fell over"
    retry_after: str = ""


FAULTS = {
    "error-after-text": Fault(),
    "busy-after-text": Fault(failure_status=429, message="queue full"),
    "rejected-after-text": Fault(failure_status=400, message="prompt too long"),
    "cut-off": Fault(ending="close"),
    "answers": Fault(ending="done"),
    "stall": Fault(pieces=("Half ",), ending="stall"),
    "busy": Fault(status=429, message="queue full", retry_after="7"),
    "rejects": Fault(status=400, message="prompt too long"),
    "fails": Fault(status=500, message="Internal Server Error"),
    "draining": Fault(status=503, message="draining"),
}

#: Replies to POST /chat/cancel, by the generation id asked to stop.
CANCEL_REPLIES: dict[str, tuple[int, dict[str, Any]]] = {
    "stopped": (200, {"success": True}),
    "unknown": (404, {"error": {"code": "generation_not_found", "message": "no such answer"}}),
    "no-route": (404, {"detail": "Not Found"}),
    "no-method": (405, {"detail": "Method Not Allowed"}),
    "refused-401": (401, {"error": {"message": "Invalid API key."}}),
    "refused-403": (403, {"error": {"message": "Forbidden"}}),
    "fails": (500, {"detail": "Internal Server Error"}),
    "busy": (429, {"error": {"message": "queue full"}}),
}


class _Handler(BaseHTTPRequestHandler):
    server: FaultyUpstream

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        request = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or "{}")
        if self.path.rstrip("/").endswith("/chat/cancel"):
            self._cancel(str(request.get("id", "")))
            return
        openai = self.path.rstrip("/").endswith("/v1/chat/completions")
        fault = FAULTS[request["messages"][-1]["content"] if openai else request["message"]]
        with contextlib.suppress(OSError):  # the gateway may leave first
            if fault.status != 200:
                self._json(fault.status, {"error": {"message": fault.message}}, fault)
            elif request.get("stream"):
                self._stream(fault, openai)
            else:
                self._whole(fault)

    def _cancel(self, generation_id: str) -> None:
        """A stop: the id names the reply (`refused-401`, `unknown`, ...; see CANCEL_REPLIES)."""
        status, payload = CANCEL_REPLIES[generation_id]
        self._json(status, payload, Fault())

    def _json(self, status: int, payload: Any, fault: Fault) -> None:
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        if fault.retry_after:
            self.send_header("Retry-After", fault.retry_after)
        self.end_headers()
        self.wfile.write(body)

    def _whole(self, fault: Fault) -> None:
        """A JSON answer: the failure as its status, or a body that ends or stalls early."""
        if fault.ending == "failure":
            self._json(fault.failure_status, {"success": False, "error": fault.message}, fault)
            return
        if fault.ending == "done":
            self._json(200, {"response": "".join(fault.pieces)}, fault)
            return
        body = json.dumps({"response": "".join(fault.pieces) + " and the rest"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        self._end(fault)

    def _stream(self, fault: Fault, openai: bool) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.end_headers()  # HTTP/1.0: the stream ends when the connection does
        self._event({"id": "chatcmpl-faulty"} if openai else {"id": "gen-faulty"})
        for text in fault.pieces:
            if openai:
                self._event({"id": "chatcmpl-faulty", "choices": [{"delta": {"content": text}}]})
            else:
                self._event({"delta": text})
        if fault.ending == "failure" and openai:
            kind = OPENAI_TYPES.get(fault.failure_status, "server_error")
            self._event({"error": {"message": fault.message, "type": kind}})
        elif fault.ending == "failure":
            failure = {"status": fault.failure_status, "error": fault.message}
            self._event({"done": True, "success": False, **failure})
        elif fault.ending == "done" and openai:
            self._event(
                {"id": "chatcmpl-faulty", "choices": [{"delta": {}, "finish_reason": "stop"}]}
            )
            self._event("[DONE]")
        elif fault.ending == "done":
            self._event({"done": True, "success": True, "usage": {}})
        self._end(fault)

    def _event(self, data: dict[str, Any] | str) -> None:
        text = data if isinstance(data, str) else json.dumps(data)
        self.wfile.write(f"data: {text}\n\n".encode())
        self.wfile.flush()

    def _end(self, fault: Fault) -> None:
        if fault.ending == "stall":
            self.server.stopping.wait(STALL_SECONDS)


class FaultyUpstream(LocalServer):
    """Keeps no state of a request: one server may serve a whole module's tests."""

    def __init__(self) -> None:
        super().__init__(_Handler)
