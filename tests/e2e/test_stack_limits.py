"""Per-user limits in the local stack, set with its flags: the 429 through the local API Gateway,
GET /api/usage, the counts on /metrics, and the counts after a restart of the stack."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from email.message import Message
from pathlib import Path
from typing import Any

from tests.e2e.server import ServerProcess

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


def test_limits_from_the_flags_and_counts_that_outlive_the_stack(tmp_path: Path) -> None:
    data = tmp_path / "data"
    stack = start(tmp_path, data)
    try:
        for _ in range(2):
            status, reply, _ = request(stack, "/api/chat", {"message": "count me"})
            assert status == 200, reply
        status, refused, headers = request(stack, "/api/chat", {"message": "one too many"})
        assert status == 429 and refused["limit"]["name"] == "requestsPerMinute"
        assert 1 <= int(headers["Retry-After"]) <= 60
        status, usage, _ = request(stack, "/api/usage")
        assert status == 200
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
        assert status == 200 and usage["tokens"]["used"] == used
        assert usage["requests"]["today"] == 2
    finally:
        again.stop()
