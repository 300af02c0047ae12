"""One POST whose reply may be server-sent events, read as they arrive, within a deadline."""

from __future__ import annotations

import contextlib
import http.client
import json
import queue
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

from chat_gateway.http_client import (
    MAX_REPLY_BYTES,
    Broken,
    Reply,
    TimedOut,
    connect,
    read_body,
    send_json,
)

#: How long the reader waits for the upstream's next byte before saying "quiet" (the caller
#: then sends its own keep-alive downstream).
QUIET_SECONDS = 10.0
#: The end of the stream, as the reader thread hands it over.
_END = object()


class Quiet:
    """Yielded by `StreamReply.events` when nothing came for QUIET_SECONDS."""


QUIET = Quiet()


class StreamReply:
    """An upstream's reply: `status`, `headers`, and either `events()` (text/event-stream) or
    `reply()` (anything else, read whole). `close()` ends it at once (the upstream sees the
    connection go, which stops our own model server's generation)."""

    def __init__(
        self,
        conn: http.client.HTTPConnection,
        sock: socket.socket,
        response: http.client.HTTPResponse,
        deadline: float,
        idle_limit: float,
    ) -> None:
        self.status = response.status
        self.headers = {k.lower(): v for k, v in response.getheaders()}
        self._conn, self._sock, self._response = conn, sock, response
        self._deadline, self._idle_limit = deadline, idle_limit

    @property
    def is_event_stream(self) -> bool:
        return self.headers.get("content-type", "").startswith("text/event-stream")

    def reply(self) -> Reply:
        """The whole (non-stream) reply, as `post_json` gives it."""
        try:
            return Reply(
                self.status, self.headers, read_body(self._sock, self._response, self._deadline)
            )
        except TimeoutError:
            raise TimedOut() from None
        except (OSError, http.client.HTTPException) as exc:
            raise Broken(type(exc).__name__) from None

    def events(self) -> Iterator[dict[str, Any] | str | Quiet]:
        """Each event's parsed JSON `data` (a non-JSON data line, e.g. OpenAI's "[DONE]", as
        its text), or QUIET after each quiet spell. Raises TimedOut past the deadline or
        after `idle_limit` seconds without a byte (comments count: they are the upstream's
        keep-alives), Broken when the connection fails."""
        chunks: queue.Queue[Any] = queue.Queue()
        reader = threading.Thread(target=self._read, args=(chunks,), daemon=True)
        reader.start()
        buffer = b""
        last_byte = time.monotonic()
        while True:
            now = time.monotonic()
            if now >= self._deadline or now - last_byte >= self._idle_limit:
                raise TimedOut()
            wait = min(QUIET_SECONDS, self._deadline - now, self._idle_limit - (now - last_byte))
            try:
                item = chunks.get(timeout=max(0.01, wait))
            except queue.Empty:
                yield QUIET
                continue
            if item is _END:
                return
            if isinstance(item, Exception):
                raise item
            last_byte = time.monotonic()
            buffer += item.replace(b"\r\n", b"\n")
            if len(buffer) > MAX_REPLY_BYTES:
                raise Broken("an event was too large")
            *complete, buffer = buffer.split(b"\n\n")
            for raw in complete:
                data = _data_of(raw)
                if data is not None:
                    yield data

    def _read(self, chunks: queue.Queue[Any]) -> None:
        try:
            self._sock.settimeout(self._idle_limit)
            while chunk := self._response.read1(64 * 1024):
                chunks.put(chunk)
            chunks.put(_END)
        except TimeoutError:
            chunks.put(TimedOut())
        except Exception as exc:  # a reset, a truncated chunk, or closed under it
            chunks.put(Broken(type(exc).__name__))

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self._sock.shutdown(socket.SHUT_RDWR)  # wakes the reader thread
        self._conn.close()


def _data_of(raw: bytes) -> dict[str, Any] | str | None:
    """An event's `data:` lines joined, as JSON when it parses; None for comments only."""
    lines = [line[5:].removeprefix(b" ") for line in raw.split(b"\n") if line.startswith(b"data:")]
    if not lines:
        return None
    text = b"\n".join(lines).decode("utf-8", errors="replace")
    try:
        value = json.loads(text)
    except ValueError:
        return text
    return value if isinstance(value, dict) else text


def open_stream(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    connect_timeout: float,
    deadline: float,
    idle_limit: float,
) -> StreamReply:
    """POST `payload` asking for events; returns once the reply's headers are in. Raises
    Unreachable (safe to retry), TimedOut or Broken, as `post_json` does."""
    conn, sock, path = connect(url, connect_timeout, deadline)
    try:
        sock.settimeout(max(0.001, min(idle_limit, deadline - time.monotonic())))
        accept = {"Accept": "text/event-stream, application/json"}
        response = send_json(conn, path, payload, {**accept, **headers})
    except TimeoutError:
        conn.close()
        raise TimedOut() from None
    except (OSError, http.client.HTTPException) as exc:
        conn.close()
        raise Broken(type(exc).__name__) from None
    return StreamReply(conn, sock, response, deadline, idle_limit)
