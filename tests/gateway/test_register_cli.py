"""`simplechat register` writes the server's URL where the deployed gateway reads it (moto SSM)."""

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from simplechat.cli import main

PARAM = "/simplechat/upstream-url"


def test_register_overwrites_the_stacks_parameter(
    aws: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name=PARAM, Value="placeholder", Type="String")
    assert main(["register", "--parameter", PARAM, "--url", "https://abc.ngrok.app"]) == 0
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == "https://abc.ngrok.app"
    assert "registered https://abc.ngrok.app" in capsys.readouterr().out


def test_register_refuses_a_parameter_that_does_not_exist(
    aws: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["register", "--parameter", "/typo", "--url", "https://abc.ngrok.app"]) == 1
    assert "parameter /typo does not exist: deploy the stack first" in capsys.readouterr().err
    with pytest.raises(Exception, match="ParameterNotFound"):
        aws("ssm").get_parameter(Name="/typo")


def test_register_refuses_a_non_url(
    aws: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["register", "--parameter", PARAM, "--url", "abc.ngrok.app"]) == 1
    assert "not an http(s) URL" in capsys.readouterr().err


def test_register_without_credentials_says_so(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    assert main(["register", "--parameter", PARAM, "--url", "https://abc.ngrok.app"]) == 1
    assert "no AWS credentials found" in capsys.readouterr().err


@pytest.mark.parametrize(
    "url", ["http://abc.example.com", "http://203.0.113.9:8000", "http://user:pw@10.0.0.5"]
)
def test_register_refuses_plain_http_to_another_machine(
    aws: Callable[[str], Any], capsys: pytest.CaptureFixture[str], url: str
) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name=PARAM, Value="placeholder", Type="String")
    assert main(["register", "--parameter", PARAM, "--url", url]) == 1
    err = capsys.readouterr().err
    assert "plain http://" in err and "--allow-insecure-upstream" in err and "pw@" not in err
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == "placeholder"


def test_register_takes_plain_http_when_told_to(
    aws: Callable[[str], Any], capsys: pytest.CaptureFixture[str]
) -> None:
    ssm = aws("ssm")
    ssm.put_parameter(Name=PARAM, Value="placeholder", Type="String")
    argv = ["register", "--parameter", PARAM, "--url", "http://203.0.113.9:8000"]
    assert main([*argv, "--allow-insecure-upstream"]) == 0
    assert ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == "http://203.0.113.9:8000"
