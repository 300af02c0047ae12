"""`--auth none` serves whoever reaches the stack: it starts on another host only when asked."""

import stat
from pathlib import Path

import pytest

from simplechat.cli import main
from simplechat.stack.runner import StackOptions, conversations_db, own_origins, start_refusal


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "192.168.1.20", "my-laptop.local"])
def test_no_sign_in_on_a_reachable_address_refuses_to_start_and_says_why(
    host: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["stack", "--engine", "fake", "--host", host, "--port", "18999"]) == 2
    said = capsys.readouterr().err
    assert "--auth cognito" in said
    assert "--allow-no-auth-on-network" in said
    assert "read and delete the conversations" in said


@pytest.mark.parametrize("host", ["127.0.0.1", "127.0.0.2", "::1", "localhost"])
def test_loopback_needs_no_flag(host: str) -> None:
    assert start_refusal(host, StackOptions()) is None


def test_sign_in_or_the_explicit_flag_lets_it_start() -> None:
    assert start_refusal("0.0.0.0", StackOptions(auth="cognito")) is None
    assert start_refusal("0.0.0.0", StackOptions(allow_no_auth_on_network=True)) is None


def test_the_gateway_allows_only_the_stacks_own_origins() -> None:
    assert own_origins("127.0.0.1", 8000, ()) == ["http://127.0.0.1:8000", "http://localhost:8000"]
    assert own_origins("0.0.0.0", 8000, ("chat.lan",)) == [
        "http://127.0.0.1:8000",
        "http://localhost:8000",
        "http://chat.lan:8000",
    ]


def test_an_http_upstream_on_another_machine_refuses_to_start(
    capsys: pytest.CaptureFixture[str],
) -> None:
    upstream = "http://user:secret@10.0.0.5:8000"
    assert main(["stack", "--upstream", upstream, "--port", "18999"]) == 2
    said = capsys.readouterr().err
    assert "--allow-insecure-upstream" in said and "https://" in said
    assert "secret" not in said  # the URL's credentials are never shown
    assert start_refusal("127.0.0.1", StackOptions(upstream="http://127.0.0.1:9000")) is None
    assert start_refusal("127.0.0.1", StackOptions(upstream="https://x.ngrok.app")) is None
    allowed = StackOptions(upstream=upstream, allow_insecure_upstream=True)
    assert start_refusal("127.0.0.1", allowed) is None


def test_the_conversations_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    """On a shared machine, other users could read every conversation straight from the file."""
    made = tmp_path / "made"
    path = Path(conversations_db(made))
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(made.stat().st_mode) == 0o700
    older = tmp_path / "older"
    older.mkdir()
    (older / "conversations.sqlite3").write_bytes(b"")
    (older / "conversations.sqlite3").chmod(0o644)
    assert stat.S_IMODE(Path(conversations_db(older)).stat().st_mode) == 0o600
