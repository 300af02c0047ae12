"""One JSON POST with a hard deadline, telling "never reached the server" apart from the rest."""

from __future__ import annotations

import contextlib
import http.client
import json
import socket
import ssl
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any

MAX_REPLY_BYTES = 4 * 1024 * 1024


class Unreachable(Exception):
    """The request never reached the server (DNS, refused, connect timeout): safe to retry."""


class TimedOut(Exception):
    """The deadline passed after the request was sent."""


class Broken(Exception):
    """The connection failed after the request was sent (reset, truncated, oversized reply)."""


@dataclass(frozen=True)
class Reply:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def _connection(url: str, timeout: float) -> tuple[http.client.HTTPConnection, str]:
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise Unreachable(f"the URL is not http(s): {parts.scheme or 'no scheme'}")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    if parts.scheme == "https":
        return http.client.HTTPSConnection(
            parts.hostname, parts.port, timeout=timeout, context=ssl.create_default_context()
        ), path
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout), path


def _abort(conn: http.client.HTTPConnection) -> None:
    """Runs on a timer at the deadline: wakes a blocked read by shutting the socket."""
    sock = conn.sock
    if sock is not None:
        with contextlib.suppress(OSError):  # already closed: nothing to wake
            sock.shutdown(socket.SHUT_RDWR)


def read_body(sock: socket.socket, response: http.client.HTTPResponse, deadline: float) -> bytes:
    """Read what has arrived, chunk by chunk, checking the deadline between chunks.

    A server that trickles bytes would otherwise keep a plain read() alive for ever.
    """
    data = bytearray()
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimedOut()
        sock.settimeout(remaining)
        chunk = response.read1(64 * 1024)
        if not chunk:
            break
        data += chunk
        if len(data) > MAX_REPLY_BYTES:
            raise Broken("the reply was too large")
    if response.length:  # the connection ended before Content-Length bytes came
        if time.monotonic() >= deadline - 0.01:
            raise TimedOut()  # our watchdog closed it: the deadline, not the server, cut it off
        raise Broken("the reply was cut off")
    return bytes(data)


def connect(
    url: str, connect_timeout: float, deadline: float
) -> tuple[http.client.HTTPConnection, socket.socket, str]:
    """The connection, its socket and the path to ask; raises Unreachable (the request never
    left: safe to retry) or TimedOut (no time left)."""
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise TimedOut()
    conn, path = _connection(url, min(connect_timeout, remaining))
    try:
        conn.connect()
    except socket.gaierror:
        raise Unreachable("its host name could not be resolved") from None
    except ConnectionRefusedError:
        raise Unreachable("connection refused") from None
    except TimeoutError:
        raise Unreachable("connecting timed out") from None
    except ssl.SSLError as exc:
        raise Unreachable(f"the TLS handshake failed: {exc.reason}") from None
    except OSError as exc:
        raise Unreachable(exc.strerror or type(exc).__name__) from None
    sock = conn.sock  # kept: http.client drops conn.sock once the reply says "close"
    assert sock is not None
    return conn, sock, path


def send_json(
    conn: http.client.HTTPConnection, path: str, payload: dict[str, Any], headers: dict[str, str]
) -> http.client.HTTPResponse:
    """POST `payload` as JSON on an open connection; the reply once its headers are in."""
    body = json.dumps(payload, ensure_ascii=False).encode("utf-8")
    conn.request("POST", path, body=body, headers={"Content-Type": "application/json", **headers})
    return conn.getresponse()


def post_json(
    url: str,
    payload: dict[str, Any],
    headers: dict[str, str],
    *,
    connect_timeout: float,
    deadline: float,
) -> Reply:
    """POST `payload`; raise Unreachable, TimedOut or Broken; never wait past `deadline`."""
    conn, sock, path = connect(url, connect_timeout, deadline)
    try:
        # From here the request may reach the server: the caller must not retry.
        watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), _abort, (conn,))
        watchdog.daemon = True
        watchdog.start()
        try:
            sock.settimeout(max(0.001, deadline - time.monotonic()))
            response = send_json(conn, path, payload, {"Accept": "application/json", **headers})
            data = read_body(sock, response, deadline)
        except TimeoutError:
            raise TimedOut() from None
        except (OSError, http.client.HTTPException) as exc:
            if time.monotonic() >= deadline - 0.01:
                raise TimedOut() from None
            raise Broken(type(exc).__name__) from None
        finally:
            watchdog.cancel()
        return Reply(response.status, {k.lower(): v for k, v in response.getheaders()}, data)
    finally:
        conn.close()
