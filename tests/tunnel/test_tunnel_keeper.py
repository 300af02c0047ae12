"""NgrokTunnel in-process against a scripted ngrok: clear errors, and retries until it is up."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import pytest

from simplechat.tunnel import NgrokTunnel, TunnelError


@dataclass
class Tunnel:
    public_url: str


class ScriptedNgrok:
    """connect() raises the queued errors first, then succeeds with a fresh URL each time."""

    def __init__(self, errors: list[Exception]) -> None:
        self.errors = errors
        self.open: list[Tunnel] = []
        self.calls: list[str] = []

    def connect(self, addr: str, proto: str) -> Tunnel:
        self.calls.append(f"connect {addr} {proto}")
        if self.errors:
            raise self.errors.pop(0)
        tunnel = Tunnel(f"https://t{len(self.calls)}.ngrok-free.app")
        self.open = [tunnel]
        return tunnel

    def get_tunnels(self) -> list[Tunnel]:
        return list(self.open)

    def disconnect(self, url: str) -> None:
        self.calls.append(f"disconnect {url}")

    def kill(self) -> None:
        self.calls.append("kill")


def test_a_missing_auth_token_is_explained() -> None:
    ngrok = ScriptedNgrok([RuntimeError("ERR_NGROK_4018: authentication failed: ...")])
    tunnel = NgrokTunnel(8000, on_url=lambda url: None, ngrok=ngrok)
    with pytest.raises(TunnelError, match="set NGROK_AUTHTOKEN to your token"):
        tunnel.open()


def test_the_watcher_retries_until_the_tunnel_opens_then_reports_the_url() -> None:
    ngrok = ScriptedNgrok([OSError("network is unreachable"), OSError("still unreachable")])
    urls: list[str] = []
    reported = threading.Event()

    def on_url(url: str) -> None:
        urls.append(url)
        reported.set()

    tunnel = NgrokTunnel(
        8000,
        on_url=on_url,
        check_interval=0.05,
        ngrok=ngrok,
    )
    with pytest.raises(TunnelError, match="network is unreachable"):
        tunnel.open()
    tunnel.watch()
    assert reported.wait(10)
    time.sleep(0.2)  # further checks find it up and open nothing new
    tunnel.close()
    assert urls == ["https://t3.ngrok-free.app"]
    assert ngrok.calls == [
        "connect 8000 http", "connect 8000 http", "connect 8000 http",
        "disconnect https://t3.ngrok-free.app", "kill",
    ]  # fmt: skip


def test_closing_a_tunnel_that_never_opened_touches_nothing() -> None:
    tunnel = NgrokTunnel(8000, on_url=lambda url: None)
    tunnel.close()  # no pyngrok import, no error
    assert tunnel.public_url is None
