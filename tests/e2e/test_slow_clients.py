"""A client that sends its request too slowly (slowloris) loses its connection; others don't;
connections over the cap are refused with a 503, and a freed slot serves again."""

import json
import select
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


def test_a_drip_fed_request_is_cut_off(guarded: ServerProcess) -> None:
    """One byte every 0.5 s: each byte arrives in time, the request as a whole does not."""
    request = b'POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 17\r\n\r\n{"message": "hi"}'
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=10) as sock:
        started = time.monotonic()
        for byte in request:  # ~35 s if nobody cuts it; the deadline is 1 s
            try:
                sock.sendall(bytes([byte]))
                readable, _, _ = select.select([sock], [], [], 0.5)
                if readable and sock.recv(1024) == b"":
                    break  # the server hung up, without an answer
            except ConnectionResetError:
                break
        else:
            pytest.fail("the server read the whole drip-fed request")
        assert time.monotonic() - started < 10


CAP = 3


@pytest.fixture(scope="module")
def capped(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    # A long read deadline: the held connections below stay open for the whole test.
    server = ServerProcess(
        ["--engine", "fake", "--max-connections", str(CAP), "--request-read-timeout", "60"],
        tmp_path_factory.mktemp("capped") / "server.log",
    )
    yield server
    server.stop()


def read_response(sock: socket.socket) -> bytes:
    """One response with a Content-Length body, read off a kept-alive connection."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, f"closed before the response was whole: {data!r}"
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    length = next(
        int(line.split(b":")[1])
        for line in head.split(b"\r\n")
        if line.lower().startswith(b"content-length:")
    )
    while len(body) < length:
        chunk = sock.recv(4096)
        assert chunk
        body += chunk
    return head + b"\r\n\r\n" + body


def health_on(sock: socket.socket) -> bytes:
    sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
    return read_response(sock)


def read_until_closed(sock: socket.socket) -> bytes:
    data = b""
    while chunk := sock.recv(4096):
        data += chunk
    return data


def test_connections_over_the_cap_are_refused_and_a_freed_slot_serves(
    capped: ServerProcess,
) -> None:
    address = ("127.0.0.1", capped.port)
    held: list[socket.socket] = []
    try:
        for _ in range(CAP - 1):
            sock = socket.create_connection(address, timeout=10)
            held.append(sock)
            assert health_on(sock).startswith(b"HTTP/1.1 200 ")  # admitted
            sock.sendall(b"GET /health HTTP/1.1\r\n")  # then idle, mid-request
        held.append(socket.create_connection(address, timeout=10))  # idle: never sends a byte

        with socket.create_connection(address, timeout=10) as over:
            reply = read_until_closed(over)  # answered and closed without sending anything
        head, body = reply.split(b"\r\n\r\n", 1)
        assert head.startswith(b"HTTP/1.1 503 ")
        assert b"connection: close" in head.lower()
        error = json.loads(body)["error"]
        assert error["code"] == "too_many_connections" and "Try again" in error["message"]
        # A real client gets the same, rather than hanging.
        assert httpx.get(capped.url + "/health", timeout=10).status_code == 503

        held.pop(0).close()
        # The server notices the close on its own time: poll, within a generous bound.
        deadline = time.monotonic() + 15
        while True:
            with socket.create_connection(address, timeout=10) as sock:
                if health_on(sock).startswith(b"HTTP/1.1 200 "):
                    break
            assert time.monotonic() < deadline, "a freed slot never served a new connection"
            time.sleep(0.05)
    finally:
        for sock in held:
            sock.close()
    assert "refusing new ones" in capped.log
