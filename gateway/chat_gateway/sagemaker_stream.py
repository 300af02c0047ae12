"""One InvokeEndpointWithResponseStream call, read as it arrives, within a deadline.

A reader thread makes the call and iterates botocore's event stream (PayloadPart chunks); the
caller waits on a queue, so it can send keep-alives while the model is quiet and give up at the
deadline. `close()` shuts the HTTPS connection to SageMaker under the reader.
"""

from __future__ import annotations

import contextlib
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from chat_gateway.errors import GatewayError
from chat_gateway.http_client import MAX_REPLY_BYTES, Broken, TimedOut
from chat_gateway.sagemaker_errors import mid_stream, refused
from chat_gateway.stream_client import QUIET, QUIET_SECONDS, Quiet

_END = object()
OUT_OF_TIME = (
    "The answer took longer than the chat allows and was cut off. Ask for a shorter answer, "
    "or try again (a model that has just started can be slow at first)."
)


class _Opened:
    """The call's reply headers are in: what follows is the answer."""


class StreamFailed(Exception):
    """SageMaker reported a failure after the answer started (an exception event)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status, self.message = status, message


def _socket_of(body: Any) -> socket.socket | None:
    """The TCP socket under botocore's event stream (urllib3's response), if it has one."""
    raw = getattr(body, "_raw_stream", None)
    connection = getattr(raw, "connection", None) or getattr(raw, "_connection", None)
    sock = getattr(connection, "sock", None)
    return sock if isinstance(sock, socket.socket) else None


def _data_lines(buffer: bytes) -> tuple[list[dict[str, Any] | str], bytes]:
    """Complete lines of the payload as OpenAI chunks. vLLM sends server-sent events
    (`data: {...}` lines); LMI can send bare JSON lines: both are read."""
    *lines, rest = buffer.replace(b"\r\n", b"\n").split(b"\n")
    items: list[dict[str, Any] | str] = []
    for line in lines:
        line = line.strip()
        if not line or line.startswith(b":"):
            continue  # blank separators and SSE comments
        if line.startswith(b"data:"):
            line = line[5:].strip()
        elif line.startswith((b"event:", b"id:", b"retry:")):
            continue
        text = line.decode("utf-8", errors="replace")
        try:
            value = json.loads(text)
        except ValueError:
            items.append(text)  # e.g. "[DONE]"
            continue
        items.append(value if isinstance(value, dict) else text)
    return items, rest


class SageMakerStream:
    """Started by `open()`; `events()` yields OpenAI chunks (or QUIET); `close()` ends it."""

    def __init__(
        self, client: Any, request: dict[str, Any], deadline: float, idle_limit: float
    ) -> None:
        self.endpoint = str(request["EndpointName"])
        self._client, self._request = client, request
        self._deadline, self._idle_limit = deadline, idle_limit
        self._queue: queue.Queue[Any] = queue.Queue()
        self._lock = threading.Lock()
        self._body: Any = None
        self._closed = False

    def open(self) -> SageMakerStream:
        """Makes the call; returns once SageMaker has accepted it. Raises GatewayError when it
        refused (throttled, no such endpoint, the model's own 4xx/5xx) or the deadline came."""
        threading.Thread(target=self._read, daemon=True).start()
        try:
            first = self._queue.get(timeout=max(0.01, self._deadline - time.monotonic()))
        except queue.Empty:
            self.close()
            raise GatewayError(
                504,
                "The model endpoint did not start answering in time. A new instance may "
                "still be starting; try again in a few minutes.",
            ) from None
        if isinstance(first, GatewayError):
            raise first
        return self

    def _read(self) -> None:
        put = self._queue.put
        try:
            reply = self._client.invoke_endpoint_with_response_stream(**self._request)
        except Exception as exc:
            put(refusal(exc, self.endpoint))
            return
        with self._lock:
            self._body = reply["Body"]
            closed = self._closed
        if closed:  # closed while the call was on its way
            self._shut()
            return
        put(_Opened())
        try:
            for event in self._body:
                part = event.get("PayloadPart")
                if part and part.get("Bytes"):
                    put(part["Bytes"])
            put(_END)
        except Exception as exc:
            put(_failure(exc, self.endpoint))

    def events(self) -> Iterator[dict[str, Any] | str | Quiet]:
        """Each chunk's parsed JSON (a non-JSON line such as "[DONE]" as text), QUIET after
        each quiet spell. Raises TimedOut after `idle_limit` seconds without a byte, Broken
        when the connection fails, StreamFailed on SageMaker's error or at the deadline."""
        buffer = b""
        last_byte = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= self._deadline:
                raise StreamFailed(504, OUT_OF_TIME)
            if now - last_byte >= self._idle_limit:
                raise TimedOut()
            wait = min(QUIET_SECONDS, self._deadline - now, self._idle_limit - (now - last_byte))
            try:
                item = self._queue.get(timeout=max(0.01, wait))
            except queue.Empty:
                yield QUIET
                continue
            if item is _END:
                yield from _data_lines(buffer + b"\n")[0]
                return
            if isinstance(item, Exception):
                raise item
            last_byte = time.monotonic()
            buffer += item
            if len(buffer) > MAX_REPLY_BYTES:
                raise Broken("an event was too large")
            items, buffer = _data_lines(buffer)
            yield from items

    def close(self) -> None:
        """Ends the call at once: the HTTPS connection to SageMaker is shut, which wakes the
        reader. (What SageMaker then does to the generation is not documented; see
        docs/aws-model.md.)"""
        with self._lock:
            self._closed = True
        self._shut()

    def _shut(self) -> None:
        body = self._body
        if body is None:
            return
        sock = _socket_of(body)
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        with contextlib.suppress(Exception):
            body.close()


def refusal(exc: Exception, endpoint: str) -> GatewayError:
    """The error for a call that failed before the answer started."""
    from botocore.exceptions import (
        ClientError,
        ConnectionError,
        ConnectTimeoutError,
        ReadTimeoutError,
    )

    if isinstance(exc, ClientError):
        return refused(exc, endpoint)
    if isinstance(exc, ReadTimeoutError):
        return GatewayError(
            504, "The model endpoint did not start answering in time. Try again later."
        )
    if isinstance(exc, (ConnectTimeoutError, ConnectionError)):
        return GatewayError(
            502, "SageMaker's runtime could not be reached from the gateway. Try again."
        )
    return GatewayError(502, f"The call to the model endpoint failed ({type(exc).__name__}).")


def _failure(exc: Exception, endpoint: str) -> Exception:
    from botocore.exceptions import ClientError

    if isinstance(exc, ClientError):  # EventStreamError: an exception event mid-stream
        return StreamFailed(*mid_stream(exc, endpoint))
    if type(exc).__name__ == "ReadTimeoutError":  # botocore's or urllib3's, while reading
        return TimedOut()
    return Broken(type(exc).__name__)
