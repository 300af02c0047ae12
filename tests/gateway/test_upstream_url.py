"""The gateway sends its API key over https, or over http only to this machine, unless the
operator says the network is private (ALLOW_INSECURE_UPSTREAM=true) (issue 35)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from chat_gateway.config import Config
from chat_gateway.handler import Gateway
from chat_gateway.remote_config import UpstreamSettings

from tests.support.clocks import Clock
from tests.support.lambda_events import call, make_gateway, with_body
from tests.support.upstreams import FaultyServer

PARAM = "/simplechat/upstream-url"

KEY = "sk-do-not-leak-1234"


@pytest.mark.parametrize(
    "url",
    [
        "http://example.com:8000",
        "http://203.0.113.7/chat",
        "http://10.0.0.5:8000/v1",  # private, but a LAN is not this machine
        "http://0.0.0.0:8000",
        "HTTP://Example.COM",
        "http://[2001:db8::1]:8000",
        "http://127.0.0.1.nip.io:8000",  # a name that resolves to loopback is still a name
        "http://foo.localhost:8000",
    ],
)
def test_http_to_another_host_is_insecure(url: str) -> None:
    from chat_gateway.upstream_url import is_insecure

    assert is_insecure(url)


@pytest.mark.parametrize(
    "url",
    [
        "https://abc.ngrok.app",
        "https://203.0.113.7/chat",
        "http://127.0.0.1:8000",
        "http://127.8.9.10:8000/chat",
        "http://localhost:8000",
        "http://LOCALHOST.:8000",
        "http://[::1]:8000",
        "http://[::ffff:127.0.0.1]:8000",
    ],
)
def test_https_or_loopback_is_fine(url: str) -> None:
    from chat_gateway.upstream_url import is_insecure

    assert not is_insecure(url)


def test_an_insecure_upstream_url_is_a_configuration_problem(faulty: FaultyServer) -> None:
    config = Config.from_env({"UPSTREAM_URL": "http://example.com:8000", "UPSTREAM_API_KEY": KEY})
    assert any("UPSTREAM_URL is http://" in problem for problem in config.problems)
    gateway = Gateway(config)
    status, body, _ = call(gateway, with_body({"message": "hi"}))
    assert status == 503 and "ALLOW_INSECURE_UPSTREAM=true" in body["error"]
    assert KEY not in body["error"] and "example.com" not in body["error"]


def test_the_operator_can_allow_http_on_a_private_network() -> None:
    env = {"UPSTREAM_URL": "http://10.0.0.5:8000", "ALLOW_INSECURE_UPSTREAM": "true"}
    assert Config.from_env(env).problems == ()
    assert "ALLOW_INSECURE_UPSTREAM" in " ".join(
        Config.from_env({"ALLOW_INSECURE_UPSTREAM": "sure"}).problems
    )


def test_loopback_http_works_as_before(faulty: FaultyServer) -> None:
    gateway = make_gateway(UPSTREAM_URL=faulty.url + "/says-ok", UPSTREAM_API_KEY=KEY)
    status, body, _ = call(gateway, with_body({"message": "hi"}))
    body.pop("context"), body.pop("speed")  # added fields (docs/context.md)
    assert (status, body) == (200, {
        "success": True,
        "response": "ok",
        "conversationHistory": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "ok"},
        ],
    })  # fmt: skip


def test_a_registered_http_url_on_another_host_is_refused_and_the_key_never_sent(
    aws: Callable[[str], Any], faulty: FaultyServer, capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = aws("ssm")
    # Refused before any connection: the key (and the URL's token) go nowhere.
    ssm.put_parameter(Name=PARAM, Value="http://example.com:8000/chat?token=t0k", Type="String")
    config = Config.from_env({"UPSTREAM_URL_PARAMETER": PARAM, "UPSTREAM_API_KEY": KEY})
    assert config.problems == ()
    gateway = Gateway(config, settings=UpstreamSettings(config, clock=Clock()))
    capsys.readouterr()
    status, body, _ = call(gateway, with_body({"message": "hi"}))
    assert status == 503
    assert f"registered in {PARAM} is http://" in body["error"]
    assert "simplechat register" in body["error"] and "https://" in body["error"]
    logged = capsys.readouterr().out
    assert '"status": 503' in logged
    for secret in (KEY, "t0k", "example.com"):
        assert secret not in body["error"] and secret not in logged
    # Registered again with https (here: loopback http, which is fine): used at once.
    ssm.put_parameter(Name=PARAM, Value=f"{faulty.url}/says-fixed", Type="String", Overwrite=True)
    assert call(gateway, with_body({"message": "hi"}))[1]["response"] == "fixed"


def test_a_registered_http_url_is_used_when_the_operator_allows_it(
    aws: Callable[[str], Any],
) -> None:
    aws("ssm").put_parameter(Name=PARAM, Value="http://192.0.2.1:9/chat", Type="String")
    config = Config.from_env({"UPSTREAM_URL_PARAMETER": PARAM, "ALLOW_INSECURE_UPSTREAM": "true"})
    settings = UpstreamSettings(config, clock=Clock())
    assert settings.url() == "http://192.0.2.1:9/chat"
