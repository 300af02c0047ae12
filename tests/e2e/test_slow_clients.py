"""A client that sends its request too slowly (slowloris) loses its connection; others don't."""

import socket
import time
from collections.abc import Iterator

import httpx
import pytest

from tests.e2e.server import ServerProcess


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        ["--engine", "fake", "--request-read-timeout", "1"],
        tmp_path_factory.mktemp("slow") / "server.log",
    )
    yield server
    server.stop()


def closed_after(server: ServerProcess, first_bytes: bytes) -> float:
    """Sends a partial request, then waits for the server to hang up; returns how long it took."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=10) as sock:
        sock.sendall(first_bytes)
        started = time.monotonic()
        assert sock.recv(1024) == b""  # the server closed the connection
        return time.monotonic() - started


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /chat HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b'POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mess',  # body stalls
    ],
)
def test_a_stalled_request_is_cut_off(guarded: ServerProcess, partial: bytes) -> None:
    assert closed_after(guarded, partial) < 5


def test_a_request_that_arrives_in_time_is_served(guarded: ServerProcess) -> None:
    with httpx.Client() as client:
        for message in ("hi", "again"):  # the deadline is per request, not per connection
            reply = client.post(guarded.url + "/chat", json={"message": message})
            assert reply.json()["response"] == f"You said: {message}"
