"""Faults on a live server: an engine failure mid-stream, a burst far past capacity, a client
that vanishes mid-stream. Each time the server answers clearly and then goes on serving."""

import asyncio
import socket
import threading
from collections.abc import AsyncGenerator

import httpx
import pytest

from simplechat.engines.base import EngineError, GenerationRequest, Step
from simplechat.engines.fake import FakeEngine
from tests.support.live import (
    live_server,
    metric,
    raw_json_post,
    wait_until,
    wait_until_it_stops_growing,
)
from tests.support.sse import stream_events


@pytest.mark.parametrize("failure", [EngineError, RuntimeError])
def test_engine_failure_mid_stream_ends_with_an_error_event_then_done(
    failure: type[Exception],
) -> None:
    engine = FakeEngine(fail_after=2)
    engine.fail_with = failure
    with live_server(engine) as url:
        body = {"messages": [{"role": "user", "content": "a b c d e"}], "stream": True}
        events = stream_events(httpx.post(url + "/v1/chat/completions", json=body).text)
        assert events[-1] == "[DONE]"
        first, last = events[1], events[-2]
        assert isinstance(first, dict) and first["choices"][0]["delta"]["content"] == "You"
        assert isinstance(last, dict) and last["error"]["type"] == "server_error"
        assert "The model failed while answering" in last["error"]["message"]
        assert metric(url, "simplechat_requests_in_flight") == 0
        engine.fail_after = None
        assert (
            httpx.post(url + "/chat", json={"message": "again"}).json()["response"]
            == "You said: again"
        )


class GatedEngine(FakeEngine):
    """The fake engine, holding every answer until the test opens `gate`."""

    def __init__(self) -> None:
        super().__init__()
        self.gate = threading.Event()

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        while not self.gate.is_set():
            await asyncio.sleep(0.01)
        async for step in super()._decode(request):
            yield step


def test_a_burst_of_ten_times_capacity_is_refused_fast_and_the_admitted_finish() -> None:
    engine = GatedEngine()
    with live_server(engine, max_batch=1, max_queue=1) as url:
        results: list[tuple[int, str]] = []
        lock = threading.Lock()

        async def one(client: httpx.AsyncClient) -> None:
            reply = await client.post(url + "/chat", json={"message": "one two three four five"})
            with lock:
                results.append((reply.status_code, reply.text))

        async def burst() -> None:
            async with httpx.AsyncClient(timeout=60) as client:
                await asyncio.gather(*(one(client) for _ in range(20)))

        sender = threading.Thread(target=asyncio.run, args=(burst(),))
        sender.start()
        try:
            # Refused at once, not queued: every refusal arrives while no answer can finish.
            assert wait_until(lambda: len(results) == 18, timeout=60), results
            assert [status for status, _ in results] == [429] * 18
        finally:
            engine.gate.set()
            sender.join(60)
        ok = [text for status, text in results if status == 200]
        assert len(results) == 20 and len(ok) == 2  # one running, one queued: no 500, no hang
        assert all("You said: one two three four five" in text for text in ok)
        assert metric(url, "simplechat_requests_in_flight") == 0
        assert metric(url, "simplechat_rejected_requests_total") == 18


def read_until(sock: socket.socket, marker: bytes, *, tail: int | None = None) -> bytes:
    """What the socket sends until `marker` has arrived (in the last `tail` bytes, when given);
    fails if the server closes first. Each read is bounded by the socket's timeout."""
    received = b""
    while marker not in received[-tail if tail else 0 :]:
        chunk = sock.recv(1 << 20)
        assert chunk, f"the server closed the connection before {marker!r}"
        received += chunk
    return received


def test_a_client_vanishing_mid_stream_frees_its_capacity_and_is_counted() -> None:
    engine = FakeEngine(token_delay=0.05)
    with live_server(engine) as url:
        host_port = url.removeprefix("http://")
        host, port = host_port.split(":")
        body = (
            b'{"messages": [{"role": "user", "content": "' + b"w " * 200 + b'"}], "stream": true}'
        )
        with socket.create_connection((host, int(port)), timeout=30) as sock:
            sock.sendall(raw_json_post(url, "/v1/chat/completions", body))
            read_until(sock, b"data: ")
        assert wait_until(lambda: engine.cancelled == 1)  # stopped, not run to the end
        assert metric(url, "simplechat_cancelled_requests_total") == 1
        assert metric(url, "simplechat_requests_in_flight") == 0


def test_a_reader_that_stops_reading_pauses_its_generation() -> None:
    """Buffering for a slow stream reader is bounded: generation waits instead of piling up."""
    engine = FakeEngine(context_length=200_000)
    with live_server(engine, max_body_bytes=2 << 20) as url:
        host, port = url.removeprefix("http://").split(":")
        words = 40_000  # an answer of ~9 MB of events: more than any socket buffer holds
        body = (
            b'{"messages": [{"role": "user", "content": "' + b"w " * words + b'"}],'
            b' "stream": true, "max_tokens": 50000}'
        )
        with socket.socket() as sock:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
            sock.connect((host, int(port)))
            sock.sendall(raw_json_post(url, "/v1/chat/completions", body))
            # Read nothing: production must come to a halt well before the whole answer.
            stalled_at = wait_until_it_stops_growing(lambda: engine.produced, deadline_s=60)
            assert stalled_at < words  # waiting on the reader, not racing on
            sock.settimeout(30)
            read_until(sock, b"data: [DONE]", tail=4096)  # chunked: its end marker follows
        assert engine.produced == words + 2  # and once read, the answer completes
