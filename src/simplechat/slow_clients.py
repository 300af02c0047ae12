"""Slow and many clients: a request whose headers and body do not arrive in time loses its
connection; connections over the cap get a 503; an early answer (413, 401, 429) to a request
still being sent reaches the client intact."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: The client states in which a request is still being read. Once the request is whole, h11
#: moves the client to DONE (keep-alive) or MUST_CLOSE (`Connection: close`, HTTP/1.0): from
#: then on only the response is under way, and no read deadline may cut it.
_READING = (h11.IDLE, h11.SEND_BODY)

#: How long an early answer waits for the rest of a body it will not read, at most, before it
#: closes: long enough for a client sending megabytes on a LAN, short enough to bound the cost.
LINGER_SECONDS = 10.0

#: How long a refused connection (over the cap) may still send its request: enough for a client
#: to write it and read the refusal, short so that a flood of them costs little.
REFUSAL_LINGER_SECONDS = 2.0

_REFUSAL_BODY = json.dumps(
    {
        "error": {
            "message": "The server has too many open connections right now. Try again in a "
            "moment; close connections you are not using.",
            "type": "server_error",
            "param": None,
            "code": "too_many_connections",
        }
    }
).encode()
#: Written without reading the request: the same answer fits whatever request comes.
REFUSAL = (
    b"HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n"
    b"content-length: %d\r\nretry-after: 1\r\nconnection: close\r\n\r\n%s"
    % (len(_REFUSAL_BODY), _REFUSAL_BODY)
)


class ConnectionSlots:
    """The open connections of one server, against its cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.open = 0
        self.warned = False  # one log line per stretch at the cap, not one per refusal

    def take(self) -> bool:
        if self.open >= self.limit:
            return False
        self.open += 1
        return True

    def give_back(self) -> None:
        self.open -= 1
        self.warned = False


class _LingeringTransport:
    """The connection's transport, closed the way robust servers close one whose request body is
    still coming: stop writing (the client gets the answer and a FIN), read and discard what it
    still sends, then close. Closing at once with unread bytes makes the kernel send a reset,
    and a client still sending its body never reads the 413 that was already on its way."""

    def __init__(self, transport: asyncio.Transport, protocol: GuardedProtocolBase) -> None:
        self._transport = transport
        self._protocol = protocol

    def __getattr__(self, name: str) -> Any:  # everything else is the real transport's
        return getattr(self._transport, name)

    def close(self) -> None:
        if self._protocol.lingering or self._transport.is_closing():
            return
        if self._protocol.stopping:  # the server is going away: no waiting for anyone
            self._transport.close()
            return
        if self._protocol.conn.their_state is h11.SEND_BODY and self._transport.can_write_eof():
            self._protocol.start_lingering()
            return
        self._transport.close()


class GuardedProtocolBase(H11Protocol):
    """uvicorn's HTTP/1.1 protocol: a deadline for reading each request, and a lingering close."""

    read_timeout: float = 15.0
    slots: ConnectionSlots | None = None  # shared by the server's connections; None: no cap
    holds_slot = False
    _read_deadline: asyncio.TimerHandle | None = None
    _linger_end: asyncio.TimerHandle | None = None
    lingering = False
    stopping = False

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        self._raw_transport = transport
        super().connection_made(_LingeringTransport(transport, self))  # type: ignore[arg-type]
        if self.slots is not None:
            self.holds_slot = self.slots.take()
            if not self.holds_slot:
                self._refuse()
                return
        self._arm()

    def _refuse(self) -> None:
        """Over the cap: a 503 before any request is read, then a short lingering close."""
        assert self.slots is not None
        if not self.slots.warned:
            self.slots.warned = True
            self.logger.warning(
                "%d connections open, the most allowed (--max-connections): refusing new ones",
                self.slots.limit,
            )
        self._raw_transport.write(REFUSAL)
        self.lingering = True
        if self._raw_transport.can_write_eof():
            self._raw_transport.write_eof()
        self._linger_end = self.loop.call_later(REFUSAL_LINGER_SECONDS, self._raw_transport.close)

    def _arm(self) -> None:
        self._disarm()
        self._read_deadline = self.loop.call_later(self.read_timeout, self._too_slow)

    def _disarm(self) -> None:
        if self._read_deadline is not None:
            self._read_deadline.cancel()
            self._read_deadline = None

    def data_received(self, data: bytes) -> None:
        if self.lingering:
            return  # the rest of a body already answered: read, and dropped
        super().data_received(data)
        if self.conn.their_state not in _READING:  # the whole request is in: no deadline
            self._disarm()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.lingering:
            self._arm()  # the next request on this connection gets its own deadline

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        if self._linger_end is not None:
            self._linger_end.cancel()
        if self.holds_slot and self.slots is not None:
            self.holds_slot = False
            self.slots.give_back()
        super().connection_lost(exc)

    def shutdown(self) -> None:
        self.stopping = True
        if self.lingering:  # the answer is out; the server is stopping: no more waiting
            self._raw_transport.close()
            return
        super().shutdown()

    def start_lingering(self) -> None:
        self.lingering = True
        self._disarm()
        self._raw_transport.write_eof()  # sent once what is buffered (the answer) is out
        self._raw_transport.resume_reading()
        self._linger_end = self.loop.call_later(LINGER_SECONDS, self._raw_transport.close)

    def _too_slow(self) -> None:
        if self.conn.their_state not in _READING or self._raw_transport.is_closing():
            return
        if self.conn.our_state in (h11.DONE, h11.MUST_CLOSE, h11.CLOSED):
            # Answered early (a 413 on a keep-alive connection) while the body still comes:
            # close as for any early answer, so that the client reads it.
            self.transport.close()
            return
        self.logger.info("closing a connection whose request took over %s s", self.read_timeout)
        self._raw_transport.close()


def guarded_protocol(read_timeout: float, max_connections: int = 512) -> type[H11Protocol]:
    """uvicorn's HTTP/1.1 protocol with a deadline for reading each request, and a cap on open
    connections. Call it once per server: the class it returns counts that server's connections.

    uvicorn times out idle keep-alive connections, but not a client that sends a request a
    byte at a time (slowloris): such connections would pile up until the server runs out.
    The deadline covers reading the request only, never the response, however the request ends.
    The cap bounds what many such clients (or many idle sockets) can hold at once; uvicorn's
    own `limit_concurrency` only answers a request, so a socket that sends none escapes it.
    """
    attributes = {"read_timeout": read_timeout, "slots": ConnectionSlots(max_connections)}
    return type("GuardedH11Protocol", (GuardedProtocolBase,), attributes)
