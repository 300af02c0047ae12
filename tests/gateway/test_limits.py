"""Per-user limits at the gateway (docs/limits.md): refused before the model server is called,
with the limit named and the right Retry-After, other users unaffected, counted atomically, kept
across restarts; and GET /usage."""

from __future__ import annotations

import http.client
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any

import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.server import GatewayServer, start_in_thread

from simplechat.engines.fake import FakeEngine
from tests.support.clocks import Clock
from tests.support.engines import RecordingEngine
from tests.support.gateway_http import KEY, Client
from tests.support.live import live_server, wait_until
from tests.support.servers import LocalServer

#: 2026-12-02 23:59:30 UTC: 30 s to the next day, and to the next minute.
LATE = datetime(2026, 12, 2, 23, 59, 30, tzinfo=UTC).timestamp()
#: Where every other test's clock stands (and stays): whatever the real hour, its requests all
#: land in one minute of one day.
MIDDAY = datetime(2026, 12, 2, 12, 0, 30, tzinfo=UTC).timestamp()


def start(upstream: str, db: Path, clock: Clock | None = None, /, **limits: str) -> GatewayServer:
    env = {
        "UPSTREAM_URL": upstream,
        "UPSTREAM_API_KEY": KEY,
        "TIME_BUDGET_SECONDS": "60",
        "CONVERSATIONS_DB": str(db),
        **limits,
    }
    server = start_in_thread(Gateway(Config.from_env(env)))
    server.gateway.meter.clock = clock or Clock(MIDDAY)
    return server


@pytest.fixture
def engine() -> RecordingEngine:
    return RecordingEngine()


@pytest.fixture
def upstream(engine: RecordingEngine) -> Iterator[str]:
    with live_server(engine, api_key=[KEY]) as url:
        yield url


def usage_of(client: Client) -> dict[str, Any]:
    status, body, _ = client.call("GET", "/usage")
    assert status == 200, body
    return dict(body)


def test_over_the_daily_tokens_a_user_gets_429_until_midnight_and_others_do_not(
    upstream: str, tmp_path: Path, engine: RecordingEngine
) -> None:
    server = start(upstream, tmp_path / "c.db", Clock(LATE), USER_TOKENS_PER_DAY="10")
    try:
        alice, bob = Client(server, "alice"), Client(server, "bob")
        status, first, _ = alice.call("POST", "/chat", {"message": "one two three four five"})
        assert status == 200
        assert usage_of(alice)["tokens"]["used"] >= 10, first  # the first answer passed it
        asked = len(engine.asked)
        status, refused, headers = alice.call("POST", "/chat", {"message": "again"})
        assert status == 429 and headers["Retry-After"] == "30"
        assert refused["limit"]["name"] == "tokensPerDay" and refused["limit"]["limit"] == 10
        assert refused["limit"]["resetsAt"] == "2026-12-03T00:00:00Z"
        assert "tokens today" in refused["error"] and "00:00 UTC" in refused["error"]
        assert len(engine.asked) == asked  # refused before the model server was called
        # Streaming is refused the same way, before the stream starts.
        status, streamed, headers = alice.call("POST", "/chat", {"message": "x"}, stream=True)
        assert status == 429 and streamed["limit"]["name"] == "tokensPerDay"
        assert bob.call("POST", "/chat", {"message": "hello"})[0] == 200
        # The next day starts afresh.
        server.gateway.meter.clock = Clock(LATE + 31)
        assert alice.call("POST", "/chat", {"message": "new day"})[0] == 200
    finally:
        server.shutdown()


def test_requests_per_minute_with_retry_after_to_the_next_minute(
    upstream: str, tmp_path: Path
) -> None:
    clock = Clock(LATE - 20)  # 23:59:10
    server = start(upstream, tmp_path / "c.db", clock, USER_REQUESTS_PER_MINUTE="2")
    try:
        alice, bob = Client(server, "alice"), Client(server, "bob")
        for _ in range(2):
            assert alice.call("POST", "/chat", {"message": "hi"})[0] == 200
        status, refused, headers = alice.call("POST", "/chat", {"message": "hi"})
        assert status == 429 and headers["Retry-After"] == "50"
        assert refused["limit"] == {
            "name": "requestsPerMinute",
            "limit": 2,
            "used": 2,
            "retryAfter": 50,
            "resetsAt": "2026-12-03T00:00:00Z",
        }
        assert bob.call("POST", "/chat", {"message": "hi"})[0] == 200
        assert usage_of(alice)["requests"]["today"] == 2  # the refused one is not counted
        clock.now = LATE + 31  # the next minute
        assert alice.call("POST", "/chat", {"message": "hi"})[0] == 200
    finally:
        server.shutdown()


class GatedUpstream(LocalServer):
    """A course-style /chat server that answers only once the test opens the gate."""

    def __init__(self) -> None:
        self.gate = threading.Event()
        self.arrived = 0
        self.lock = threading.Lock()
        upstream = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                with upstream.lock:
                    upstream.arrived += 1
                upstream.gate.wait(30)
                body = json.dumps({"response": "at last"}).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        super().__init__(Handler)

    def stop(self) -> None:
        self.gate.set()  # a held answer lets go
        super().stop()


def test_twenty_at_once_against_five_running_admit_exactly_five(tmp_path: Path) -> None:
    upstream = GatedUpstream()
    server = start(upstream.url, tmp_path / "c.db", USER_CONCURRENT_ANSWERS="5")
    try:
        alice, bob = Client(server, "alice"), Client(server, "bob")
        statuses: list[int] = []
        lock = threading.Lock()

        def ask() -> None:
            status = alice.call("POST", "/chat", {"message": "hold on"})[0]
            with lock:
                statuses.append(status)

        threads = [threading.Thread(target=ask) for _ in range(20)]
        for thread in threads:
            thread.start()
        # The refused ones answer at once; the admitted ones wait at the gate.
        wait_until(lambda: len(statuses) == 15 and upstream.arrived == 5, timeout=30)
        assert statuses == [429] * 15
        status, refused, headers = alice.call("POST", "/chat", {"message": "one more"})
        assert status == 429 and headers["Retry-After"] == "5"
        assert (
            refused["limit"]["name"] == "concurrentAnswers" and "resetsAt" not in refused["limit"]
        )
        assert "5 answers being written" in refused["error"]
        assert usage_of(alice)["answers"] == {"running": 5, "limit": 5}
        # Another user is not held up by alice's five.
        bob_thread = threading.Thread(
            target=lambda: statuses.append(bob.call("POST", "/chat", {"message": "me"})[0])
        )
        bob_thread.start()
        wait_until(lambda: upstream.arrived == 6, timeout=30)
        upstream.gate.set()
        for thread in [*threads, bob_thread]:
            thread.join(30)
        assert sorted(statuses) == [200] * 6 + [429] * 15
        assert usage_of(alice)["answers"]["running"] == 0  # each slot given back
        assert alice.call("POST", "/chat", {"message": "now"})[0] == 200
    finally:
        upstream.gate.set()
        server.shutdown()
        upstream.stop()


def test_a_stopped_answer_counts_what_it_generated(tmp_path: Path) -> None:
    engine = FakeEngine(token_delay=0.1)
    with live_server(engine, api_key=[KEY]) as url:
        server = start(url, tmp_path / "c.db", USER_TOKENS_PER_DAY="100000")
        try:
            alice = Client(server, "alice")

            done = alice.stopped({"message": " ".join(f"w{i}" for i in range(80))})
            generated = done["usage"]["completion_tokens"]
            assert 0 < generated < 82
            # Counted before the done event was sent: no waiting for it.
            assert usage_of(alice)["tokens"]["used"] == done["usage"]["total_tokens"]
            assert usage_of(alice)["answers"]["running"] == 0
        finally:
            server.shutdown()


def test_usage_reports_today_against_the_limits_and_survives_a_restart(
    upstream: str, tmp_path: Path
) -> None:
    db = tmp_path / "c.db"
    limits = {"USER_TOKENS_PER_DAY": "5000", "USER_REQUESTS_PER_MINUTE": "30"}
    server = start(upstream, db, **limits)
    try:
        alice = Client(server, "alice")
        fresh = usage_of(alice)
        assert fresh["tokens"]["used"] == 0 and fresh["tokens"]["limit"] == 5000
        assert fresh["requests"]["perMinuteLimit"] == 30 and fresh["answers"]["limit"] is None
        total = 0
        for message in ("one", "two three"):
            status, reply, _ = alice.call("POST", "/chat", {"message": message}, stream=True)
            assert status == 200
            total += reply[-1]["usage"]["total_tokens"]
        report = usage_of(alice)
        assert report["tokens"]["used"] == total
        assert report["requests"]["today"] == 2 and report["requests"]["thisMinute"] == 2
        assert report["day"] == "2026-12-02"  # the injected clock's day
    finally:
        server.shutdown()
    again = start(upstream, db, **limits)
    try:
        assert usage_of(Client(again, "alice"))["tokens"]["used"] == total
        assert usage_of(Client(again, "bob"))["tokens"]["used"] == 0
    finally:
        again.shutdown()


def test_limits_without_a_store_are_a_configuration_problem() -> None:
    config = Config.from_env({"UPSTREAM_URL": "http://x", "USER_TOKENS_PER_DAY": "10"})
    assert any("CONVERSATIONS_TABLE" in problem for problem in config.problems)
    for bad in ("0", "-1", "ten", "2.5"):
        config = Config.from_env({"USER_CONCURRENT_ANSWERS": bad, "CONVERSATIONS_DB": "x"})
        assert any("USER_CONCURRENT_ANSWERS" in problem for problem in config.problems), bad
    assert Config.from_env({"CONVERSATIONS_DB": "x"}).limits.any is False


def test_the_counts_are_on_the_gateways_metrics(upstream: str, tmp_path: Path) -> None:
    server = start(upstream, tmp_path / "c.db", USER_REQUESTS_PER_MINUTE="1")
    try:
        alice = Client(server, "alice")
        status, reply, _ = alice.call("POST", "/chat", {"message": "one two"}, stream=True)
        assert status == 200
        usage = reply[-1]["usage"]
        assert alice.call("POST", "/chat", {"message": "again"})[0] == 429
        conn = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode()
        conn.close()
        assert 'simplechat_gateway_requests_total{route="/chat",status="200"} 1' in text
        assert 'simplechat_gateway_requests_total{route="/chat",status="429"} 1' in text
        assert 'simplechat_gateway_throttled_total{limit="requestsPerMinute"} 1' in text
        completion = usage["completion_tokens"]
        assert f'simplechat_gateway_tokens_total{{kind="completion"}} {completion}' in text
        # Users are named only to the stack's operator (test_adapter_secret.py).
        assert "alice" not in text
        assert "simplechat_gateway_first_token_ms_count 1" in text
        # The answer's speed, as the model server's own clock gave it (docs/context.md).
        assert "simplechat_gateway_tokens_per_second_count 1" in text
    finally:
        server.shutdown()
