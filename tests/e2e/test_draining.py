"""SIGTERM drains: health says so, new work is refused, running work finishes or ends cleanly."""

import signal
import threading
from pathlib import Path

import httpx
import pytest

from tests.api.live import metric, wait_until
from tests.e2e.server import ServerProcess

pytestmark = pytest.mark.real_model


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


def post_in_thread(
    url: str, max_tokens: int, result: dict[str, httpx.Response]
) -> threading.Thread:
    body = {"messages": [{"role": "user", "content": "Hi"}], "max_tokens": max_tokens}
    body["ignore_eos"] = True
    call = threading.Thread(
        target=lambda: result.update(
            reply=httpx.post(url + "/v1/chat/completions", json=body, timeout=90)
        )
    )
    call.start()
    return call


def test_sigterm_drains_then_exits(tmp_path: Path) -> None:
    # A grace period that 24 tokens fit in even on a busy machine (a few tok/s beside two long
    # answers), and that 4000 tokens (~25 s at full speed here) never do.
    server = ServerProcess(["--shutdown-grace-seconds", "8"], tmp_path / "server.log")
    long_lines: list[str] = []
    long_started = threading.Event()
    long_stream = threading.Thread(
        target=stream_lines, args=(server.url, 4000, long_lines, long_started)
    )
    long_stream.start()
    assert long_started.wait(30)
    short_result: dict[str, httpx.Response] = {}
    long_result: dict[str, httpx.Response] = {}
    long_call = post_in_thread(server.url, 4000, long_result)
    short_call = post_in_thread(server.url, 24, short_result)
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

    short_call.join(30)
    assert short_result["reply"].status_code == 200  # admitted before SIGTERM: it finished
    assert short_result["reply"].json()["usage"]["completion_tokens"] == 24
    long_call.join(30)
    cut_off = long_result["reply"]  # not the 500 of a task the server cancels: a clear 503
    assert cut_off.status_code == 503 and cut_off.headers["retry-after"] == "5"
    assert "shutting down; the answer was cut off" in cut_off.json()["error"]["message"]
    long_stream.join(30)
    assert not long_stream.is_alive()
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
