"""Where the web UI and the gateway Lambda live (beside the package in a source checkout), and
where the local stack keeps its data."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


class MissingPart(RuntimeError):
    """A folder the local stack needs is not where a checkout has it."""


def _folder(name: str, marker: str) -> Path:
    folder = ROOT / name
    if not (folder / marker).is_file():
        raise MissingPart(
            f"{folder / marker} not found: the local stack runs from a source checkout "
            "(git clone, then make run)"
        )
    return folder


def web_dir() -> Path:
    folder = _folder("web", "index.html")
    if not (folder / "vendor" / "marked.esm.js").is_file():
        raise MissingPart("web/vendor is missing: run `make run` (it fetches the UI's libraries)")
    return folder


def gateway_dir() -> Path:
    return _folder("gateway", "index.py")


def data_dir(given: str | None = None) -> Path:
    """The local stack's data folder (conversations): --data-dir, $SIMPLECHAT_DATA_DIR, or
    $XDG_DATA_HOME/simplechat (~/.local/share/simplechat): outside the checkout, so a fresh
    clone or `git clean` keeps them."""
    if given:
        return Path(given).expanduser()
    if os.environ.get("SIMPLECHAT_DATA_DIR"):
        return Path(os.environ["SIMPLECHAT_DATA_DIR"]).expanduser()
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "simplechat"
