"""A local user's `sub` lasts across restarts (a secret in the data folder) and is unguessable."""

import stat
from pathlib import Path

from simplechat.stack import stable_subs


def test_the_secret_is_made_once_owner_only_and_kept(tmp_path: Path) -> None:
    first = stable_subs.load_secret(tmp_path / "data")
    path = tmp_path / "data" / stable_subs.SECRET_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stable_subs.load_secret(tmp_path / "data") == first
    assert stable_subs.load_secret(tmp_path / "other") != first


def test_subs_depend_on_the_secret(tmp_path: Path) -> None:
    saved = stable_subs._secret
    try:
        stable_subs.use_secret(stable_subs.load_secret(tmp_path / "a"))
        in_a = stable_subs.stable_sub("pool", "User@Example.com")
        assert in_a == stable_subs.stable_sub("pool", " user@example.com")
        stable_subs.use_secret(stable_subs.load_secret(tmp_path / "b"))
        assert stable_subs.stable_sub("pool", "user@example.com") != in_a
    finally:
        stable_subs.use_secret(saved)
