"""The fake hub, a cache folder per test, and small GGUF-named files to serve."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.hub.fake_hub import FakeHub


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    fake = FakeHub()
    yield fake
    fake.close()


@pytest.fixture
def cache_dir(tmp_path: Path) -> Path:
    return tmp_path / "hf-cache"


@pytest.fixture
def blob(tmp_path: Path) -> Callable[[str, int], Path]:
    """A file of `size` distinct bytes (not a model: for the download paths only)."""

    def make(name: str, size: int = 3_000_000) -> Path:
        path = tmp_path / "blobs" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(name.encode().ljust(64, b".") + bytes(range(256)) * (size // 256))
        return path

    return make
