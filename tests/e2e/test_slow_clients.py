"""A client that sends its request too slowly (slowloris) loses its connection; others don't;
connections over the cap are refused with a 503, and a freed slot serves again."""

import json
import select
import socket
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from tests.support.processes import ServerProcess


@pytest.fixture(scope="module")
def guarded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = ServerProcess(
        ["--engine", "fake", "--request-read-timeout", "1"],
        tmp_path_factory.mktemp("slow") / "server.log",
    )
    yield server
    server.stop()


def assert_closed(server: ServerProcess, first_bytes: bytes) -> None:
    """Sends a partial request, then waits (within a generous bound, far past the server's 1 s
    deadline) for the server to hang up."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
        sock.sendall(first_bytes)
        assert sock.recv(1024) == b""  # closed; a server that waits on raises TimeoutError


@pytest.mark.parametrize(
    "partial",
    [
        b"POST /chat HTTP/1.1\r\nHost: x\r\n",  # headers never finished
        b'POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{"mess',  # body stalls
    ],
)
def test_a_stalled_request_is_cut_off(guarded: ServerProcess, partial: bytes) -> None:
    assert_closed(guarded, partial)


def test_a_request_that_arrives_in_time_is_served(guarded: ServerProcess) -> None:
    with httpx.Client() as client:
        for message in ("hi", "again"):  # the deadline is per request, not per connection
            reply = client.post(guarded.url + "/chat", json={"message": message})
            assert reply.json()["response"] == f"You said: {message}"


#: A byte this often: each arrives well within the 1 s deadline, the request never does.
DRIP_SECONDS = 0.2
CUT_OFF = "closing a connection whose request took over 1.0 s"
#: Bytes sent at most: 40 s of dripping, far past the deadline, yet a bound on the test.
DRIP_BYTES = 200


def endless_header() -> Iterator[bytes]:
    yield b"POST /chat HTTP/1.1\r\nHost: x\r\nX-Pad: "
    while True:
        yield b"a"


def endless_body() -> Iterator[bytes]:
    yield b"POST /chat HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n"
    yield b'{"message": "'
    while True:
        yield b"a"


@pytest.mark.parametrize("drip", [endless_header, endless_body], ids=["headers", "body"])
def test_a_drip_fed_request_is_cut_off(
    guarded: ServerProcess, drip: Callable[[], Iterator[bytes]]
) -> None:
    """A client that sends a byte every DRIP_SECONDS and never finishes: each byte is in time,
    the request as a whole is not, so the server hangs up without an answer."""
    cut_offs = guarded.log.count(CUT_OFF)
    with socket.create_connection(("127.0.0.1", guarded.port), timeout=30) as sock:
        for sent, piece in enumerate(drip()):
            if sent == DRIP_BYTES:
                pytest.fail(f"the server was still reading after {DRIP_BYTES} bytes")
            try:
                sock.sendall(piece)
                readable, _, _ = select.select([sock], [], [], DRIP_SECONDS)
                if readable:
                    assert sock.recv(1024) == b"", "the server answered a request never sent"
                    break  # the server hung up
            except (ConnectionResetError, BrokenPipeError):
                break
    assert guarded.log.count(CUT_OFF) == cut_offs + 1  # the guard's doing, not a crash


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
