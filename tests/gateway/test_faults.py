"""Every way the model server can fail, mapped to the right status within the time budget."""

import re
import time
from typing import Any

import pytest
from chat_gateway.chat_request import ChatInput
from chat_gateway.config import Config
from chat_gateway.errors import GatewayError
from chat_gateway.http_client import Broken, Reply, TimedOut, Unreachable
from chat_gateway.upstream import Upstream

from tests.support.lambda_events import call, make_gateway, with_body
from tests.support.processes import free_port
from tests.support.upstreams import SLOW_SECONDS, FaultyServer

HI = {"message": "hi"}


@pytest.mark.parametrize(
    ("fault", "status", "message"),
    [
        ("error500", 502, "The model server failed (HTTP 500)"),
        ("unavailable", 502, "HTTP 503"),
        ("unauthorized", 502, "refused the gateway's API key (HTTP 401)"),
        ("notjson", 502, "reply was not understood (expected JSON with 'response')"),
        ("wrongshape", 502, "reply was not understood"),
        ("reset", 502, "connection to the model server broke"),
        ("nowhere", 502, "has no /chat (HTTP 404 from http://127.0.0.1:"),
        ("rejects", 400, "The model server rejected the request: This request needs 9000 tokens"),
        ("busy", 429, "busy"),
    ],
)
def test_upstream_faults_map_to_clear_errors(
    faulty: FaultyServer, fault: str, status: int, message: str
) -> None:
    gateway = make_gateway(UPSTREAM_URL=f"{faulty.url}/{fault}")
    got_status, body, headers = call(gateway, with_body(HI))
    assert got_status == status
    assert body["success"] is False
    assert message in body["error"]
    assert "Traceback" not in body["error"]
    assert headers["Access-Control-Allow-Origin"] == "*"


def test_a_404_shows_the_url_tried_without_its_secrets(faulty: FaultyServer) -> None:
    # A stale tunnel or a missing /chat: the student sees which URL, never a token in it.
    host_port = faulty.url.removeprefix("http://")
    url = f"http://student:hunter2@{host_port}/nowhere/chat?token=s3cret"
    _, body, _ = call(make_gateway(UPSTREAM_URL=url), with_body(HI))
    assert f"HTTP 404 from http://{host_port}/nowhere/chat)" in body["error"]
    for secret in ("student", "hunter2", "s3cret", "token"):
        assert secret not in body["error"]


def test_busy_upstream_passes_retry_after_on(faulty: FaultyServer) -> None:
    _, _, headers = call(make_gateway(UPSTREAM_URL=f"{faulty.url}/busy"), with_body(HI))
    assert headers["Retry-After"] == "7"


def test_odd_token_counts_do_not_cost_the_answer(faulty: FaultyServer) -> None:
    status, body, _ = call(make_gateway(UPSTREAM_URL=f"{faulty.url}/odd-usage"), with_body(HI))
    assert status == 200
    assert body["response"] == "still an answer"


@pytest.mark.parametrize("fault", ["slow", "drip"])
def test_slow_upstream_is_a_504_within_the_budget(faulty: FaultyServer, fault: str) -> None:
    gateway = make_gateway(UPSTREAM_URL=f"{faulty.url}/{fault}", TIME_BUDGET_SECONDS="1.5")
    started = time.monotonic()
    status, body, _ = call(gateway, with_body(HI))
    elapsed = time.monotonic() - started
    assert status == 504
    # The time it waited (the budget less the margin kept to answer), not more.
    waited = re.search(r"did not answer within ([0-9.]+) s", body["error"])
    assert waited is not None and 1.0 <= float(waited.group(1)) <= 1.5, body["error"]
    assert elapsed < SLOW_SECONDS / 2  # ended by our deadline, not by the server


def test_lambda_remaining_time_caps_the_budget(faulty: FaultyServer) -> None:
    gateway = make_gateway(UPSTREAM_URL=f"{faulty.url}/slow", TIME_BUDGET_SECONDS="29")
    started = time.monotonic()
    status, _, _ = call(gateway, with_body(HI), remaining_ms=1500)
    assert status == 504
    assert time.monotonic() - started < SLOW_SECONDS / 2


def test_refused_connection_is_a_502_after_one_retry() -> None:
    gateway = make_gateway(UPSTREAM_URL=f"http://127.0.0.1:{free_port()}")
    status, body, _ = call(gateway, with_body(HI))
    assert status == 502
    assert "unreachable (connection refused)" in body["error"]


class ScriptedPost:
    """Stands in for the HTTP call to script failures; records how often it was tried."""

    def __init__(self, *outcomes: Any) -> None:
        self.outcomes = list(outcomes)
        self.calls = 0

    def __call__(self, *args: Any, **kwargs: Any) -> Reply:
        self.calls += 1
        outcome = self.outcomes.pop(0)
        if isinstance(outcome, Exception):
            raise outcome
        assert isinstance(outcome, Reply)
        return outcome


def ask(post: ScriptedPost, sleeps: list[float]) -> Any:
    upstream = Upstream(Config(), sleep=sleeps.append, post=post)
    return upstream.ask(ChatInput("hi", []), "http://h", "", time.monotonic() + 20)


def test_failure_before_the_request_is_retried_once_with_jitter() -> None:
    ok = Reply(200, {}, b'{"response": "hello"}')
    post = ScriptedPost(Unreachable("connection refused"), ok)
    sleeps: list[float] = []
    assert ask(post, sleeps).text == "hello"
    assert post.calls == 2
    assert len(sleeps) == 1 and 0.1 <= sleeps[0] <= 0.3


@pytest.mark.parametrize("failure", [TimedOut(), Broken("ConnectionResetError")])
def test_failure_after_the_request_was_sent_is_never_retried(failure: Exception) -> None:
    post = ScriptedPost(failure, Reply(200, {}, b'{"response": "dup"}'))
    with pytest.raises(GatewayError):
        ask(post, [])
    assert post.calls == 1  # the model may already be answering: never send it twice
