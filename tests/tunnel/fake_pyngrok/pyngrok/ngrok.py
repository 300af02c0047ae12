"""Fake `pyngrok.ngrok`: tunnels are "public" URLs that lead straight back to 127.0.0.1.

The test and the server process share a folder ($FAKE_NGROK_DIR): every call is appended to
calls.log, and a file named `drop` makes the next get_tunnels() report no tunnels, as when the
ngrok agent restarts and loses them.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_HOSTS = ("127.0.0.1", "localhost")  # alternate, so a re-opened tunnel has a new URL
_open: list[NgrokTunnel] = []
_connects = 0


@dataclass
class NgrokTunnel:
    public_url: str


def _folder() -> Path:
    return Path(os.environ["FAKE_NGROK_DIR"])


def _record(line: str) -> None:
    with (_folder() / "calls.log").open("a") as log:
        log.write(line + "\n")


def connect(addr: str | None = None, proto: str | None = None, **options: object) -> NgrokTunnel:
    global _connects
    tunnel = NgrokTunnel(f"http://{_HOSTS[_connects % 2]}:{addr}")
    _connects += 1
    _open.clear()
    _open.append(tunnel)
    _record(f"connect {addr} {proto} {tunnel.public_url}")
    return tunnel


def get_tunnels() -> list[NgrokTunnel]:
    drop = _folder() / "drop"
    if drop.exists():
        drop.unlink()
        _open.clear()
        _record("dropped")
    return list(_open)


def disconnect(public_url: str) -> None:
    _record(f"disconnect {public_url}")


def kill() -> None:
    _record("kill")
