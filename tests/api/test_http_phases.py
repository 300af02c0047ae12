"""The read deadline covers reading a request, never its answer, however the request ends; an
early answer (413) reaches a client that is still sending its body.

Real clients, as the course's students use them: urllib (what the seed's Lambda calls the server
with) sends `Connection: close`; HTTP/1.0 and chunked uploads end a request in other ways.
"""

from __future__ import annotations

import http.client
import json
import socket
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping

import pytest

from simplechat.engines.fake import FakeEngine
from tests.support.live import live_server
from tests.support.sse import stream_data, stream_events

READ_TIMEOUT = 1.0
WORDS = 40  # at 0.1 s a word the answer takes about 4 s: several read timeouts
MESSAGE = " ".join(f"w{i}" for i in range(WORDS))
EXPECTED = "You said: " + MESSAGE


@pytest.fixture(scope="module")
def slow_answers() -> Iterator[str]:
    engine = FakeEngine(token_delay=0.1)
    with live_server(engine, request_read_timeout=READ_TIMEOUT, max_body_bytes=1 << 20) as url:
        yield url


def urllib_post(url: str, body: Mapping[str, object]) -> tuple[int, bytes]:
    """As the seed's Lambda posts: urllib.request, which sends `Connection: close`."""
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as reply:
            return reply.status, reply.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_a_connection_close_client_gets_a_long_answer_whole(slow_answers: str) -> None:
    status, body = urllib_post(slow_answers + "/chat", {"message": MESSAGE})
    assert status == 200
    assert json.loads(body)["response"] == EXPECTED


def test_a_connection_close_client_gets_a_long_stream_whole(slow_answers: str) -> None:
    request = {"messages": [{"role": "user", "content": MESSAGE}], "stream": True}
    status, body = urllib_post(slow_answers + "/v1/chat/completions", request)
    assert status == 200
    events = stream_events(body)
    assert events[-1] == "[DONE]"
    text = "".join(
        e["choices"][0]["delta"].get("content", "") for e in stream_data(body) if e["choices"]
    )
    assert text == EXPECTED


def read_all(sock: socket.socket) -> bytes:
    received = b""
    while chunk := sock.recv(65536):
        received += chunk
    return received


def test_an_http_1_0_client_gets_a_long_answer_whole(slow_answers: str) -> None:
    host, port = slow_answers.removeprefix("http://").split(":")
    body = json.dumps({"message": MESSAGE}).encode()
    with socket.create_connection((host, int(port)), timeout=60) as sock:
        sock.sendall(
            b"POST /chat HTTP/1.0\r\nContent-Type: application/json\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )
        reply = read_all(sock)  # HTTP/1.0: the answer ends when the server closes
    head, _, payload = reply.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200")
    assert json.loads(payload)["response"] == EXPECTED


def test_a_chunked_upload_gets_a_long_answer_whole(slow_answers: str) -> None:
    host, port = slow_answers.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    body = json.dumps({"message": MESSAGE}).encode()
    connection.request(
        "POST",
        "/chat",
        body=iter([body[:10], body[10:]]),  # no length: http.client sends it chunked
        headers={"Content-Type": "application/json", "Connection": "close"},
        encode_chunked=True,
    )
    reply = connection.getresponse()
    assert reply.status == 200
    assert json.loads(reply.read())["response"] == EXPECTED


def test_a_keep_alive_client_gets_two_long_answers_on_one_connection(slow_answers: str) -> None:
    host, port = slow_answers.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    for _ in range(2):  # the second request gets its own read deadline, not a spent one
        body = json.dumps({"message": MESSAGE})
        connection.request("POST", "/chat", body, {"Content-Type": "application/json"})
        reply = connection.getresponse()
        assert json.loads(reply.read())["response"] == EXPECTED
    connection.close()


TWELVE_MB = {"message": "x" * (12 << 20)}


def test_a_body_over_the_limit_sent_at_once_reads_the_413(slow_answers: str) -> None:
    status, body = urllib_post(slow_answers + "/chat", TWELVE_MB)  # Connection: close
    assert status == 413
    assert "larger than" in json.loads(body)["error"]["message"]


def test_a_keep_alive_client_reads_the_413_and_goes_on(slow_answers: str) -> None:
    host, port = slow_answers.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=60)
    connection.request("POST", "/chat", json.dumps(TWELVE_MB), {"Content-Type": "application/json"})
    reply = connection.getresponse()
    assert reply.status == 413
    reply.read()
    connection.close()
    status, body = urllib_post(slow_answers + "/chat", {"message": "still here"})
    assert status == 200
    assert json.loads(body)["response"] == "You said: still here"


def test_a_big_body_without_the_key_reads_the_401() -> None:
    with live_server(FakeEngine(), api_key=["open-sesame-2026"], max_body_bytes=32 << 20) as url:
        status, body = urllib_post(url + "/chat", TWELVE_MB)  # answered before it is read
    assert status == 401
    assert json.loads(body)["error"]["type"] == "authentication_error"
