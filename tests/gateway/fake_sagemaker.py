"""A fake SageMaker runtime on 127.0.0.1, at the HTTP boundary boto3 talks to.

It answers `POST /endpoints/<name>/invocations-response-stream` with the real
`application/vnd.amazon.eventstream` framing (prelude, headers, payload, CRC-32s), chunked as
AWS sends it, and `POST /endpoints/<name>/invocations` with JSON. botocore itself signs the
requests and parses the replies. Each endpoint name is one behaviour (see `_Handler`).
"""

from __future__ import annotations

import json
import select
import socket
import struct
import threading
import time
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

#: The longest any behaviour holds a request (the tests' budgets are shorter).
HOLD_SECONDS = 10.0
ANSWER = ["Hello", " from", " the", " endpoint", "."]


def _header(name: str, value: str) -> bytes:
    """One event-stream header of type 7 (string): name length, name, type, value length, value."""
    raw_name, raw_value = name.encode(), value.encode()
    return (
        struct.pack("!B", len(raw_name))
        + raw_name
        + b"\x07"
        + struct.pack("!H", len(raw_value))
        + raw_value
    )


def message(headers: dict[str, str], payload: bytes) -> bytes:
    """One event-stream message: total length, headers length, prelude CRC, headers, payload,
    message CRC (both CRC-32 as in the vnd.amazon.eventstream format)."""
    encoded = b"".join(_header(k, v) for k, v in headers.items())
    total = 4 + 4 + 4 + len(encoded) + len(payload) + 4
    prelude = struct.pack("!II", total, len(encoded))
    prelude += struct.pack("!I", zlib.crc32(prelude))
    body = prelude + encoded + payload
    return body + struct.pack("!I", zlib.crc32(body))


def payload_part(data: bytes) -> bytes:
    return message(
        {
            ":event-type": "PayloadPart",
            ":content-type": "application/octet-stream",
            ":message-type": "event",
        },
        data,
    )


def exception_event(kind: str, fields: dict[str, Any]) -> bytes:
    return message(
        {
            ":exception-type": kind,
            ":content-type": "application/json",
            ":message-type": "exception",
        },
        json.dumps(fields).encode(),
    )


def sse(chunk: dict[str, Any] | str) -> bytes:
    text = chunk if isinstance(chunk, str) else json.dumps(chunk)
    return f"data: {text}\n\n".encode()


def openai_chunk(text: str | None = None, finish: str | None = None) -> dict[str, Any]:
    delta = {"content": text} if text is not None else {"role": "assistant", "content": ""}
    return {
        "id": "chatcmpl-sm",
        "object": "chat.completion.chunk",
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
    }


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: FakeSageMaker

    def log_message(self, *args: Any) -> None:
        pass

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(length) or b"null")
        parts = self.path.strip("/").split("/")
        if len(parts) != 3 or parts[0] != "endpoints":
            self._error(404, "UnknownOperationException", "no such operation")
            return
        name, operation = parts[1], parts[2]
        self.server.requests.append(
            {"endpoint": name, "operation": operation, "headers": dict(self.headers), "body": body}
        )
        if name == "missing":
            self._error(
                400, "ValidationError", f"Endpoint {name} of account 123456789012 not found."
            )
        elif name == "throttled":
            self._error(400, "ThrottlingException", "Rate exceeded")
        elif name == "rejects":
            self._model_error(400, {"object": "error", "message": "max_tokens is too large"})
        elif name == "slow-headers":
            self._hold()
        elif operation == "invocations":
            self._buffered(body)
        else:
            self._stream(name)

    def _error(
        self, status: int, code: str, text: str, extra: dict[str, Any] | None = None
    ) -> None:
        data = json.dumps({"message": text, **(extra or {})}).encode()
        self.send_response(status)
        self.send_header("x-amzn-ErrorType", f"{code}:http://internal.amazon.com/coral/")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _model_error(self, original: int, error: dict[str, Any]) -> None:
        self._error(
            424,
            "ModelError",
            f"Received client error ({original}) from primary with message ...",
            {
                "OriginalStatusCode": original,
                "OriginalMessage": json.dumps(error),
                "LogStreamArn": "arn:aws:logs:ap-northeast-1:123456789012:log-group:x",
            },
        )

    def _buffered(self, body: dict[str, Any]) -> None:
        answer = {
            "id": "chatcmpl-sm",
            "object": "chat.completion",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(ANSWER)}}],
            "usage": {"prompt_tokens": 7, "completion_tokens": 5},
        }
        data = json.dumps(answer).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _chunk(self, data: bytes) -> None:
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def _stream(self, name: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.amazon.eventstream")
        self.send_header("X-Amzn-SageMaker-Content-Type", "text/event-stream")
        self.send_header("x-Amzn-Invoked-Production-Variant", "AllTraffic")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        if name == "slow-first":
            self._hold()
            return
        self._chunk(payload_part(sse(openai_chunk())))
        if name == "breaks":
            self._chunk(payload_part(sse(openai_chunk("Half"))))
            self._chunk(
                exception_event(
                    "ModelStreamError",
                    {
                        "Message": "Your model primary stopped streaming.",
                        "ErrorCode": "StreamBroken",
                    },
                )
            )
            self._chunk(b"")
            return
        if name == "endless":
            self._chunk(payload_part(sse(openai_chunk("Hello"))))
            self._hold()
            return
        # One SSE event split across PayloadParts, as the container's bytes arrive.
        events = b"".join(sse(openai_chunk(word)) for word in ANSWER)
        events += sse(openai_chunk(finish="stop"))
        events += sse(
            {
                "id": "chatcmpl-sm",
                "choices": [],
                "usage": {"prompt_tokens": 7, "completion_tokens": 5},
            }
        )
        events += sse("[DONE]")
        for start in range(0, len(events), 37):
            self._chunk(payload_part(events[start : start + 37]))
        self._chunk(b"")

    def _hold(self) -> None:
        """Send nothing until the client closes its connection (recorded) or HOLD_SECONDS."""
        sock: socket.socket = self.connection
        until = time.monotonic() + HOLD_SECONDS
        while time.monotonic() < until:
            readable, _, _ = select.select([sock], [], [], 0.05)
            if readable:
                try:
                    if sock.recv(1, socket.MSG_PEEK) == b"":
                        self.server.client_closed.set()
                        return
                except OSError:
                    self.server.client_closed.set()
                    return
        self.close_connection = True


class FakeSageMaker(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.requests: list[dict[str, Any]] = []
        self.client_closed = threading.Event()
        threading.Thread(target=self.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
