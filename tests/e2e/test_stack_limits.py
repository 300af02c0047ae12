"""Per-user limits in the local stack, set with its flags: the 429 through the local API Gateway,
GET /api/usage, the counts on /metrics, and the counts after a restart of the stack."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from tests.support.clocks import room_in_this_minute, utc_minute
from tests.support.processes import ServerProcess

LIMITS = ["--user-requests-per-minute", "2", "--user-tokens-per-day", "100000"]


#: The operator's key (the stack's API key): it alone sees per-user series on /metrics.
OPERATOR_KEY = "operator-key-for-the-test"


def start(tmp: Path, data: Path) -> ServerProcess:
    args = ["--engine", "fake", "--data-dir", str(data), *LIMITS]
    return ServerProcess(
        args,
        tmp / "stack.log",
        command="stack",
        health_path="/llm/health",
        env={"SIMPLECHAT_API_KEY": OPERATOR_KEY},
    )


def request(
    stack: ServerProcess, path: str, body: Any = None, key: str | None = None
) -> tuple[int, Any, Message]:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"}
    if key is not None:
        headers["Authorization"] = f"Bearer {key}"
    call = urllib.request.Request(stack.url + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(call, timeout=60) as reply:
            raw = reply.read()
            kind = reply.headers.get("Content-Type", "")
            return (
                reply.status,
                json.loads(raw) if "json" in kind else raw.decode(),
                reply.headers,
            )
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read()), error.headers


def three_requests_in_one_minute(stack: ServerProcess) -> tuple[dict[str, Any], str] | None:
    """Two answers and a refusal within one UTC minute, and the usage then; None when the
    minute turned meanwhile (the counts then belong to two minutes)."""
    room_in_this_minute(20)
    minute = utc_minute()
    for _ in range(2):
        status, reply, _ = request(stack, "/api/chat", {"message": "count me"})
        assert status == 200, reply
    status, refused, headers = request(stack, "/api/chat", {"message": "one too many"})
    status_usage, usage, _ = request(stack, "/api/usage")
    if utc_minute() != minute:
        return None
    assert status == 429 and refused["limit"]["name"] == "requestsPerMinute"
    assert 1 <= int(headers["Retry-After"]) <= 60
    assert status_usage == 200
    return usage, minute


def test_limits_from_the_flags_and_counts_that_outlive_the_stack(tmp_path: Path) -> None:
    for attempt in range(3):  # a fresh stack and data in a fresh minute if the minute turned
        data = tmp_path / f"data-{attempt}"
        (tmp_path / f"run-{attempt}").mkdir()
        stack = start(tmp_path / f"run-{attempt}", data)
        counted = None
        try:
            counted = three_requests_in_one_minute(stack)
        finally:
            if counted is None:
                stack.stop()
        if counted is not None:
            break
    else:
        raise AssertionError("three requests never fitted in one minute")
    usage, minute = counted
    try:
        assert usage["requests"] == {
            **usage["requests"],
            "today": 2,
            "thisMinute": 2,
            "perMinuteLimit": 2,
        }
        used = usage["tokens"]["used"]
        assert used > 0 and usage["tokens"]["limit"] == 100000
        status, metrics, _ = request(stack, "/metrics")
        assert 'simplechat_gateway_throttled_total{limit="requestsPerMinute"} 1' in metrics
        assert "user=" not in metrics  # users' ids are not for whoever reaches the port
        status, metrics, _ = request(stack, "/metrics", key=OPERATOR_KEY)
        assert 'simplechat_gateway_tokens_total{user="local",kind="completion"}' in metrics
    finally:
        assert stack.stop() == 0
    (tmp_path / "again").mkdir()
    again = start(tmp_path / "again", data)
    try:
        status, usage, _ = request(again, "/api/usage")
        # A new UTC day since the counting starts from nothing: the right answer then is 0.
        same_day = usage.get("day") == minute[:10]
        assert status == 200 and usage["tokens"]["used"] == (used if same_day else 0)
        assert usage["requests"]["today"] == (2 if same_day else 0)
    finally:
        again.stop()
