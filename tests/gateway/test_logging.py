"""One JSON log line per request, without message text or keys unless asked."""

import json
from typing import Any

import pytest

from tests.support.lambda_events import call, load_event, make_gateway, with_body
from tests.support.upstreams import FaultyServer


def last_log(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    lines = capsys.readouterr().out.strip().splitlines()
    record: dict[str, Any] = json.loads(lines[-1])
    return record


def test_success_log_line(faulty: FaultyServer, capsys: pytest.CaptureFixture[str]) -> None:
    gateway = make_gateway(
        UPSTREAM_URL=f"{faulty.url}/says-hello", UPSTREAM_API_KEY="sk-never-logged"
    )
    call(gateway, load_event("rest_v1_cognito"))
    record = last_log(capsys)
    assert record["requestId"] == "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
    assert record["user"] == "7d3f1a2b-1111-2222-3333-444455556666"
    assert record["status"] == 200
    assert record["upstreamStatus"] == 200
    assert record["protocol"] == "chat"
    assert isinstance(record["latencyMs"], int)
    assert "message" not in record and "response" not in record
    assert "capital" not in json.dumps(record)
    assert "sk-never-logged" not in json.dumps(record)


def test_error_log_line(faulty: FaultyServer, capsys: pytest.CaptureFixture[str]) -> None:
    call(make_gateway(UPSTREAM_URL=f"{faulty.url}/error500"), with_body({"message": "secret plan"}))
    record = last_log(capsys)
    assert record["status"] == 502
    assert "HTTP 500" in record["error"]
    assert "secret plan" not in json.dumps(record)


def test_content_is_logged_only_when_enabled(
    faulty: FaultyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    gateway = make_gateway(UPSTREAM_URL=f"{faulty.url}/says-hello", LOG_CONTENT="true")
    call(gateway, with_body({"message": "log me"}))
    record = last_log(capsys)
    assert record["message"] == "log me"
    assert record["response"] == "hello"
