"""`simplechat serve --tunnel ngrok` as a real process, with pyngrok replaced at its boundary:
the URL is printed and registered (moto SSM), re-registered when the tunnel comes back with a new
URL, the key lands in the secret, and the tunnel is closed on exit."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tests.support.processes import ServerProcess

FAKE_PYNGROK = Path(__file__).parent / "fake_pyngrok"
PARAM = "/simplechat/upstream-url"
SECRET = "simplechat/upstream-api-key"
KEY = "tunnel-test-key-0123456789"


def fake_ngrok_env(folder: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(FAKE_PYNGROK), os.environ.get("PYTHONPATH")) if p)
    return {"PYTHONPATH": path, "FAKE_NGROK_DIR": str(folder)}


def wait_for(condition: Callable[[], bool], what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def calls(folder: Path) -> list[str]:
    log = folder / "calls.log"
    return log.read_text().splitlines() if log.exists() else []


def get_json(url: str, key: str) -> Any:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {key}"})
    with urllib.request.urlopen(request, timeout=10) as reply:
        return json.load(reply)


def test_tunnel_url_is_printed_registered_kept_up_and_closed(
    aws: Callable[[str], Any], tmp_path: Path
) -> None:
    ssm, secrets = aws("ssm"), aws("secretsmanager")
    ssm.put_parameter(Name=PARAM, Value="https://not-set.invalid", Type="String")
    secrets.create_secret(Name=SECRET, SecretString="generated-by-the-stack")
    server = ServerProcess(
        ["--engine", "fake", "--api-key", KEY, "--tunnel", "ngrok",
         "--register-parameter", PARAM, "--register-secret", SECRET,
         "--tunnel-check-interval", "0.2"],
        tmp_path / "server.log",
        env=fake_ngrok_env(tmp_path),
    )  # fmt: skip
    first_url = f"http://127.0.0.1:{server.port}"
    try:
        wait_for(lambda: f"public URL {first_url}" in server.log, "the URL to be printed")
        wait_for(
            lambda: ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == first_url,
            "the URL in SSM",
        )
        assert secrets.get_secret_value(SecretId=SECRET)["SecretString"] == KEY
        # The registered URL leads to this server, behind its key.
        assert get_json(first_url + "/v1/models", KEY)["data"][0]["id"] == "fake-model"

        (tmp_path / "drop").touch()  # ngrok loses the tunnel; the next one has a new URL
        second_url = f"http://localhost:{server.port}"
        wait_for(
            lambda: ssm.get_parameter(Name=PARAM)["Parameter"]["Value"] == second_url,
            "the new URL in SSM",
        )
        assert f"public URL {second_url}" in server.log
    finally:
        assert server.stop() == 0
    assert calls(tmp_path)[-2:] == [f"disconnect {second_url}", "kill"]
    assert [line.split()[0] for line in calls(tmp_path)] == [
        "connect", "dropped", "connect", "disconnect", "kill"
    ]  # fmt: skip
    assert KEY not in server.log  # the key is never printed or logged


def test_registration_errors_are_one_line_and_the_server_keeps_serving(
    aws: Callable[[str], Any], tmp_path: Path
) -> None:
    server = ServerProcess(
        ["--engine", "fake", "--api-key", KEY, "--tunnel", "ngrok",
         "--register-parameter", "/typo", "--register-secret", "no-such-secret"],
        tmp_path / "server.log",
        env=fake_ngrok_env(tmp_path),
    )  # fmt: skip
    try:
        wait_for(lambda: "could not register the URL" in server.log, "the error")
        wait_for(lambda: "could not register the API key" in server.log, "the key error")
        lines = server.log.splitlines()
        url_error = next(line for line in lines if "could not register the URL" in line)
        assert "parameter /typo does not exist: deploy the stack first" in url_error
        key_error = next(line for line in lines if "could not register the API key" in line)
        assert "secret no-such-secret does not exist" in key_error
        assert "Traceback" not in server.log
        assert get_json(server.url + "/v1/models", KEY)["object"] == "list"
    finally:
        assert server.stop() == 0


def serve_exit(args: list[str], folder: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SIMPLECHAT_")}
    return subprocess.run(
        [sys.executable, "-m", "simplechat", "serve", "--engine", "fake", *args],
        env={**env, **fake_ngrok_env(folder)},
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_a_public_tunnel_without_a_key_is_refused(tmp_path: Path) -> None:
    result = serve_exit(["--tunnel", "ngrok"], tmp_path)
    assert result.returncode == 2
    assert "a public tunnel without --api-key lets anyone on the internet" in result.stderr
    assert "--insecure-public" in result.stderr
    assert calls(tmp_path) == []  # no tunnel was opened


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--register-parameter", PARAM], "--register-parameter writes the tunnel's URL"),
        (["--register-secret", SECRET], "--register-secret writes the API key"),
    ],
)
def test_registration_needs_what_it_registers(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = serve_exit(args, tmp_path)
    assert result.returncode == 2
    assert message in result.stderr
