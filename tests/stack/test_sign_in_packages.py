"""`--auth cognito` after `make run` alone (no moto, no pyjwt) says what to install, at once."""

from __future__ import annotations

import importlib.util

import pytest

from simplechat.cli import main, missing_sign_in_packages


def test_nothing_is_missing_where_the_local_auth_extra_is_installed() -> None:
    # The dev extra installs both: a missing one is a broken environment, not a skip.
    assert importlib.util.find_spec("moto") is not None
    assert importlib.util.find_spec("jwt") is not None
    assert missing_sign_in_packages("cognito") is None
    assert missing_sign_in_packages("none") is None


def test_without_moto_the_stack_names_the_extra_before_loading_a_model(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real = importlib.util.find_spec
    # As after `make run` alone: moto is not installed (the import system's answer, not moto's).
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "moto" else real(name, *a)
    )
    code = main(["stack", "--auth", "cognito", "--engine", "fake", "--port", "1"])
    assert code == 2
    error = capsys.readouterr().err
    assert "moto[server]" in error and ".venv/bin/pip install -e '.[local-auth]'" in error
    assert "Traceback" not in error
