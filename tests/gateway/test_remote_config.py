"""Upstream URL from SSM, key from Secrets Manager (moto on 127.0.0.1), cached with a TTL."""

import json
import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.remote_config import UpstreamSettings

from tests.support.clocks import Clock
from tests.support.lambda_events import call, with_body
from tests.support.processes import free_port
from tests.support.upstreams import FaultyServer

PARAM = "/simplechat/upstream-url"
SECRET = "simplechat/upstream-api-key"


def gateway_with(env: dict[str, str], clock: Clock) -> Gateway:
    config = Config.from_env(env)
    return Gateway(config, settings=UpstreamSettings(config, clock=clock))


def answer(gateway: Gateway) -> tuple[int, str]:
    status, body, _ = call(gateway, with_body({"message": "hi"}))
    return status, body.get("response") or body.get("error", "")


def test_a_new_url_is_picked_up_after_the_ttl(
    aws: Callable[[str], Any], faulty: FaultyServer
) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name=PARAM, Value=f"{faulty.url}/says-first", Type="String")
    clock = Clock()
    gateway = gateway_with({"UPSTREAM_URL_PARAMETER": PARAM, "CACHE_TTL_SECONDS": "60"}, clock)
    assert answer(gateway) == (200, "first")
    ssm.put_parameter(Name=PARAM, Value=f"{faulty.url}/says-second", Type="String", Overwrite=True)
    clock.now += 30
    assert answer(gateway) == (200, "first")  # cached: no SSM call on every request
    clock.now += 31
    assert answer(gateway) == (200, "second")


def test_a_failing_url_is_read_again_at_once(
    aws: Callable[[str], Any], faulty: FaultyServer
) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name=PARAM, Value=f"http://127.0.0.1:{free_port()}", Type="String")
    gateway = gateway_with({"UPSTREAM_URL_PARAMETER": PARAM}, Clock())
    assert answer(gateway)[0] == 502
    # The tunnel restarted and was registered again: the very next request uses it.
    ssm.put_parameter(Name=PARAM, Value=f"{faulty.url}/says-moved", Type="String", Overwrite=True)
    assert answer(gateway) == (200, "moved")


def test_missing_parameter_is_a_503_naming_it(aws: Callable[[str], Any]) -> None:
    status, error = answer(gateway_with({"UPSTREAM_URL_PARAMETER": "/nope"}, Clock()))
    assert status == 503
    assert "The parameter /nope does not exist" in error


def test_placeholder_url_says_how_to_register(aws: Callable[[str], Any]) -> None:
    aws("ssm").put_parameter(Name=PARAM, Value="not-registered-yet", Type="String")
    status, error = answer(gateway_with({"UPSTREAM_URL_PARAMETER": PARAM}, Clock()))
    assert status == 503
    assert f"simplechat register --parameter {PARAM}" in error


def test_api_key_from_a_plain_secret(aws: Callable[[str], Any], faulty: FaultyServer) -> None:
    aws("secretsmanager").create_secret(Name=SECRET, SecretString="sk-from-secrets-manager")
    faulty.expected_key = "sk-from-secrets-manager"
    env = {"UPSTREAM_URL": f"{faulty.url}/needs-key", "UPSTREAM_API_KEY_SECRET": SECRET}
    assert answer(gateway_with(env, Clock())) == (200, "key accepted")


def test_api_key_from_a_json_secret(aws: Callable[[str], Any], faulty: FaultyServer) -> None:
    aws("secretsmanager").create_secret(
        Name=SECRET, SecretString=json.dumps({"apiKey": "sk-json-key"})
    )
    faulty.expected_key = "sk-json-key"
    env = {"UPSTREAM_URL": f"{faulty.url}/needs-key", "UPSTREAM_API_KEY_SECRET": SECRET}
    assert answer(gateway_with(env, Clock())) == (200, "key accepted")


def test_wrong_key_is_reported_as_refused(aws: Callable[[str], Any], faulty: FaultyServer) -> None:
    aws("secretsmanager").create_secret(Name=SECRET, SecretString="sk-stale-key")
    faulty.expected_key = "sk-current-key"
    env = {"UPSTREAM_URL": f"{faulty.url}/needs-key", "UPSTREAM_API_KEY_SECRET": SECRET}
    status, error = answer(gateway_with(env, Clock()))
    assert status == 502
    assert "refused the gateway's API key" in error
    assert "sk-stale-key" not in error


def test_missing_secret_is_a_503(aws: Callable[[str], Any], faulty: FaultyServer) -> None:
    env = {"UPSTREAM_URL": f"{faulty.url}/says-x", "UPSTREAM_API_KEY_SECRET": "no-such-secret"}
    status, error = answer(gateway_with(env, Clock()))
    assert status == 503
    assert "could not be read from secret no-such-secret" in error


def test_an_ssm_that_never_answers_is_a_503_well_inside_api_gateways_time(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A listening socket nobody reads: the connection opens, the reply never comes.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(16)
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{silent.getsockname()[1]}")
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
        monkeypatch.setenv("AWS_DEFAULT_REGION", "ap-northeast-1")
        started = time.monotonic()
        status, error = answer(gateway_with({"UPSTREAM_URL_PARAMETER": PARAM}, Clock()))
        elapsed = time.monotonic() - started
    assert status == 503
    assert f"could not be read from {PARAM}" in error
    # 2 tries of 3 s, not boto3's default 60 s a try: the gateway keeps within its 27 s budget
    assert elapsed < 20
