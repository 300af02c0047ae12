"""SIGTERM drains: health says so, new work is refused, running work finishes or ends cleanly."""

import signal
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.support.live import metric, wait_until
from tests.support.processes import ServerProcess

pytestmark = pytest.mark.real_model
#: Tokens of an answer that cannot end within the grace period.
LONG = 8000


def stream_lines(url: str, max_tokens: int, lines: list[str], started: threading.Event) -> None:
    body = {
        "messages": [{"role": "user", "content": "Write a long story."}],
        "max_tokens": max_tokens,
        "ignore_eos": True,
        "stream": True,
    }
    with httpx.stream("POST", url + "/v1/chat/completions", json=body, timeout=60) as reply:
        for line in reply.iter_lines():
            if line:
                lines.append(line)
                started.set()


def post_in_thread(pool: ThreadPoolExecutor, url: str, max_tokens: int) -> Future[httpx.Response]:
    """The reply, or the call's own exception, from `.result(timeout)`: a call that has not
    finished fails the test as a timeout saying so, not as a missing key."""
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": max_tokens}
    body["ignore_eos"] = True
    return pool.submit(httpx.post, url + "/v1/chat/completions", json=body, timeout=90)


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    # A grace period that 24 tokens fit in on a machine ten times busier than it should be
    # (under 2 tok/s beside two long answers), and that 8000 tokens (~50 s for one answer alone
    # at full speed here) never can.
    server = ServerProcess(
        ["--shutdown-grace-seconds", "15", "--context-length", "8192"], tmp_path / "server.log"
    )
    long_lines: list[str] = []
    long_started = threading.Event()
    long_stream = threading.Thread(
        target=stream_lines, args=(server.url, LONG, long_lines, long_started)
    )
    long_stream.start()
    assert long_started.wait(30)
    pool = ThreadPoolExecutor(max_workers=2)
    long_call = post_in_thread(pool, server.url, LONG)
    short_call = post_in_thread(pool, server.url, 24)
    # SIGTERM only once the server holds all three: the short one must count as admitted.
    assert wait_until(lambda: metric(server.url, "simplechat_requests_in_flight") == 3, 30)

    server.process.send_signal(signal.SIGTERM)
    assert wait_until(lambda: httpx.get(server.url + "/health", timeout=5).status_code == 503, 10)
    health = httpx.get(server.url + "/health", timeout=5)
    assert health.json()["status"] == "draining"
    refused = httpx.post(server.url + "/chat", json={"message": "hi"}, timeout=5)
    assert refused.status_code == 503
    assert "shutting down" in refused.json()["error"]["message"]
    assert refused.headers["retry-after"] == "5"

    short = short_call.result(timeout=60)
    assert short.status_code == 200  # admitted before SIGTERM: it finished
    assert short.json()["usage"]["completion_tokens"] == 24
    cut_off = long_call.result(timeout=60)  # not the 500 of a task the server cancels: a 503
    assert cut_off.status_code == 503 and cut_off.headers["retry-after"] == "5"
    assert "shutting down; the answer was cut off" in cut_off.json()["error"]["message"]
    long_stream.join(60)
    assert not long_stream.is_alive(), "the long stream never ended"
    pool.shutdown()
    assert len(long_lines) >= 2, long_lines
    assert "shutting down" in long_lines[-2]  # the final error event, after the grace period
    assert long_lines[-1] == "data: [DONE]"
    assert server.process.wait(timeout=30) == 0


def test_sigterm_stops_the_stack_cleanly(tmp_path: Path) -> None:
    # uvicorn re-raises SIGTERM after its shutdown: that must not skip the stack's own cleanup.
    stack = ServerProcess(
        ["--engine", "fake"], tmp_path / "stack.log", command="stack", health_path="/llm/health"
    )
    stack.process.send_signal(signal.SIGTERM)
    assert stack.process.wait(timeout=30) == 0
    assert stack.log.rstrip().endswith("stopped")
