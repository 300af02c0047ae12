"""Where the web UI and the gateway Lambda live (beside the package in a source checkout)."""

from __future__ import annotations

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
