"""Server-sent events as a test client reads them, each read bounded by the socket's timeout."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from typing import Any


def parse_event(raw: bytes) -> dict[str, Any] | str:
    """One event's `data:` JSON, or its text (a comment, "[DONE]") when it is not JSON."""
    text = raw.decode()
    if text.startswith("data: "):
        try:
            value = json.loads(text[6:])
        except ValueError:
            return text[6:]
        return value if isinstance(value, dict) else text[6:]
    return text


def stream_events(body: str | bytes) -> list[dict[str, Any] | str]:
    """Every event of a whole streamed body, in order: each `data:` JSON as a dict, anything
    else ("[DONE]", a comment) as its text. Blank-line separated, `\r\n` or `\n`."""
    raw = body.encode() if isinstance(body, str) else body
    blocks = raw.replace(b"\r\n", b"\n").split(b"\n\n")
    return [parse_event(block.strip()) for block in blocks if block.strip()]


def stream_data(body: str | bytes) -> list[dict[str, Any]]:
    """The JSON `data:` events of a whole streamed body (comments and "[DONE]" left out)."""
    return [event for event in stream_events(body) if isinstance(event, dict)]


class Received:
    """A streamed reply as it arrives: each event with its arrival time. Reads end when the
    server closes the stream; a silent server fails the read after the connection's timeout."""

    def __init__(self, response: http.client.HTTPResponse) -> None:
        self.response = response
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self.arrivals: list[tuple[float, dict[str, Any] | str]] = []
        self._buffer = b""

    def next_events(self) -> Iterator[dict[str, Any] | str]:
        while chunk := self.response.read1(65536):
            self._buffer += chunk.replace(b"\r\n", b"\n")
            *complete, self._buffer = self._buffer.split(b"\n\n")
            for raw in complete:
                item = parse_event(raw)
                self.arrivals.append((time.monotonic(), item))
                yield item

    def data(self) -> list[dict[str, Any]]:
        return [item for _, item in self.arrivals if isinstance(item, dict)]

    def json(self) -> dict[str, Any]:
        """The body of a reply that was not a stream."""
        body: dict[str, Any] = json.loads(self.response.read())
        return body


def data_events(response: http.client.HTTPResponse) -> Iterator[dict[str, Any]]:
    """The JSON `data:` events of a streamed reply as they arrive (comments and "[DONE]" left
    out); ends when the server closes the stream."""
    for item in Received(response).next_events():
        if isinstance(item, dict):
            yield item
