"""Server settings for tests, never read from the developer's environment."""

from __future__ import annotations

from typing import Any

from simplechat.settings import Settings


def make_settings(**overrides: Any) -> Settings:
    """The fake engine unless `overrides` say otherwise; no SIMPLECHAT_* variable is read."""
    values: dict[str, Any] = {"engine": "fake", **overrides}
    return Settings(_env_prefix="SIMPLECHAT_TEST_UNUSED_", **values)
