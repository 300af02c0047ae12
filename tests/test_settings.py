"""Settings: flags and SIMPLECHAT_* variables, one typed object, clear failures at start."""

import socket
from pathlib import Path

import pytest
from pydantic import ValidationError

from simplechat.cli import build_parser, explain, load_settings, main
from simplechat.port_check import port_unavailable
from simplechat.settings import Settings
from tests.support.processes import free_port


def test_defaults_serve_the_bundled_model_on_localhost(bundled_model: Path) -> None:
    settings = Settings()
    assert settings.model == str(bundled_model)
    assert settings.resolved_engine == "llamacpp"
    assert settings.host == "127.0.0.1"
    assert settings.cors_origins == []  # no other site's page may call the API
    assert settings.max_connections == 512
    assert settings.api_key == []
    assert not settings.binds_publicly


def test_environment_variables_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMPLECHAT_PORT", "9001")
    monkeypatch.setenv("SIMPLECHAT_API_KEY", "first-key-123, second-key-456")
    monkeypatch.setenv("SIMPLECHAT_CORS_ORIGINS", "https://a.example,https://b.example")
    settings = Settings()
    assert settings.port == 9001
    assert [k.get_secret_value() for k in settings.api_key] == ["first-key-123", "second-key-456"]
    assert settings.cors_origins == ["https://a.example", "https://b.example"]


def test_flags_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMPLECHAT_PORT", "9001")
    args = build_parser().parse_args(["serve", "--port", "9002", "--api-key", "flag-key-123"])
    settings = load_settings(args)
    assert settings.port == 9002
    assert [k.get_secret_value() for k in settings.api_key] == ["flag-key-123"]


def test_keys_never_show_in_the_settings_repr() -> None:
    settings = Settings(api_key=["very-secret-key"])
    assert "very-secret-key" not in repr(settings)
    assert "very-secret-key" not in str(settings.model_dump())


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["serve", "--port", "70000"],
            "--port / SIMPLECHAT_PORT: Input should be less than or equal to 65535",
        ),
        (
            ["serve", "--model", "/nowhere/model.gguf"],
            "--model / SIMPLECHAT_MODEL: model '/nowhere/model.gguf' not found",
        ),
        (["serve", "--api-key", "short"], "at least 8 characters"),
        (["serve", "--engine", "llamacpp", "--model", "owner/some-model"], "needs a .gguf file"),
        (["serve", "--context-length", "10"], "--context-length / SIMPLECHAT_CONTEXT_LENGTH"),
        # a setting named apart from its flag: the message names the flag that exists
        (["serve", "--open-path", "metrics"], "--open-path / SIMPLECHAT_OPEN_PATHS"),
        (["serve", "--upstream", "ftp://x"], "--upstream / SIMPLECHAT_UPSTREAMS"),
        (["stack", "--engine", "openai"], "--engine openai is for `simplechat serve`"),
    ],
)
def test_invalid_settings_fail_at_start_with_a_clear_message(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_bad_environment_value_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SIMPLECHAT_PORT", "eighty")
    with pytest.raises(ValidationError) as error:
        Settings()
    assert "SIMPLECHAT_PORT" in explain(error.value)


def test_a_folder_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match=r"without config\.json"):
        Settings(model=str(tmp_path))


def test_hub_ids_pick_transformers() -> None:
    assert Settings(model="google/gemma-2-2b-jpn-it").resolved_engine == "transformers"


@pytest.mark.parametrize(
    ("host", "public"),
    [
        ("127.0.0.1", False),
        ("localhost", False),
        ("::1", False),
        ("0.0.0.0", True),
        ("::", True),
        ("192.168.1.5", True),
        ("myhost", True),
    ],
)
def test_public_binding_is_detected(host: str, public: bool) -> None:
    assert Settings(engine="fake", host=host).binds_publicly is public


def test_binding_publicly_without_a_key_warns_loudly(caplog: pytest.LogCaptureFixture) -> None:
    from simplechat.cli import load_engine_logged

    with caplog.at_level("WARNING", logger="simplechat"):
        assert load_engine_logged(Settings(engine="fake", host="0.0.0.0")) is not None
    assert "No API key, yet binding 0.0.0.0" in caplog.text
    caplog.clear()
    with caplog.at_level("WARNING", logger="simplechat"):
        load_engine_logged(Settings(engine="fake", host="0.0.0.0", api_key=["a-long-key-1"]))
        load_engine_logged(Settings(engine="fake", host="127.0.0.1"))
    assert "No API key" not in caplog.text


def test_serving_flags_for_batching_and_limits() -> None:
    args = build_parser().parse_args(
        [
            "serve",
            "--max-batch",
            "8",
            "--max-queue",
            "0",
            "--no-prompt-cache",
            "--max-body-bytes",
            "4096",
        ]
    )
    settings = load_settings(args)
    assert (settings.max_batch, settings.max_queue, settings.prompt_cache) == (8, 0, False)
    assert settings.max_body_bytes == 4096
    assert load_settings(build_parser().parse_args(["serve"])).prompt_cache is True


def test_the_weight_type_flag_and_its_default() -> None:
    parse = build_parser().parse_args
    assert load_settings(parse(["serve", "--weight-type", "q8_0"])).weight_type == "q8_0"
    assert load_settings(parse(["serve"])).weight_type == "auto"
    assert load_settings(parse(["serve", "--weight-type", "file+q8_0"])).weight_type == "file+q8_0"
    with pytest.raises(SystemExit):
        parse(["serve", "--weight-type", "q4_0"])  # argparse names the choices


def test_a_demo_password_the_pool_refuses_is_a_clear_message(
    capsys: pytest.CaptureFixture[str],
) -> None:
    argv = ["stack", "--engine", "fake", "--auth", "cognito", "--demo-password", "weak"]
    assert main([*argv, "--port", str(free_port())]) == 2
    err = capsys.readouterr().err
    assert "--demo-password must pass the pool's rules (Password not long enough" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("command", ["serve", "stack"])
def test_a_taken_port_is_a_clear_message_before_the_model_loads(
    command: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import simplechat.cli

    loads: list[object] = []
    monkeypatch.setattr(simplechat.cli, "load_engine_logged", loads.append)
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        assert main([command, "--engine", "fake", "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err
    assert "--port" in err and "Traceback" not in err
    assert loads == []  # refused before loading anything


def test_a_free_port_passes_the_check() -> None:
    port = free_port()
    assert port_unavailable("127.0.0.1", port) is None
    assert port_unavailable("127.0.0.1", 0) is None


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8001",
        "http://127.8.9.10:8001/v1",
        "http://localhost:8001",
        "http://[::1]:8001",
        "https://gpu.example.com",
        "https://10.0.0.5:8000",
    ],
)
def test_upstreams_over_tls_or_on_loopback_are_accepted(url: str) -> None:
    assert Settings(engine="openai", upstreams=[url]).upstreams


@pytest.mark.parametrize(
    "url",
    ["http://gpu.example.com:8000", "http://10.0.0.5:8000", "http://user:pw@203.0.113.9/v1"],
)
def test_a_plain_http_upstream_elsewhere_fails_at_start_naming_the_flag(
    url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", "--engine", "openai", "--upstream", url]) == 2
    err = capsys.readouterr().err
    assert "plain http://" in err and "--allow-insecure-upstream" in err
    assert "pw@" not in err  # credentials in the URL are never shown
    settings = Settings(engine="openai", upstreams=[url], allow_insecure_upstream=True)
    assert settings.upstreams


def test_the_insecure_upstream_flag_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    argv = ["serve", "--engine", "openai", "--upstream", "http://10.0.0.5:8000"]
    args = build_parser().parse_args([*argv, "--allow-insecure-upstream"])
    assert load_settings(args).allow_insecure_upstream is True
    monkeypatch.setenv("SIMPLECHAT_ALLOW_INSECURE_UPSTREAM", "true")
    assert load_settings(build_parser().parse_args(argv)).allow_insecure_upstream is True


def test_the_connection_cap_flag_and_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    parse = build_parser().parse_args
    assert load_settings(parse(["serve", "--max-connections", "3"])).max_connections == 3
    monkeypatch.setenv("SIMPLECHAT_MAX_CONNECTIONS", "64")
    assert load_settings(parse(["serve"])).max_connections == 64
    with pytest.raises(ValidationError, match="max_connections"):
        Settings(engine="fake", max_connections=0)


def test_keys_come_from_the_environment_and_a_key_flag_warns(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from simplechat.cli import warn_about_keys_in_argv

    monkeypatch.setenv("SIMPLECHAT_API_KEY", "env-key-123456")
    monkeypatch.setenv("SIMPLECHAT_UPSTREAM_API_KEY", "upstream-key-123456")
    args = build_parser().parse_args(["serve"])
    settings = load_settings(args)
    assert [k.get_secret_value() for k in settings.api_key] == ["env-key-123456"]
    assert settings.upstream_api_key is not None
    assert settings.upstream_api_key.get_secret_value() == "upstream-key-123456"
    with caplog.at_level("WARNING", logger="simplechat"):
        warn_about_keys_in_argv(args)
    assert caplog.text == ""  # keys from the environment: nothing to warn about
    flagged = ["serve", "--api-key", "flag-key-123456", "--upstream-api-key", "up-key-123456"]
    with caplog.at_level("WARNING", logger="simplechat"):
        warn_about_keys_in_argv(build_parser().parse_args(flagged))
    assert "set the environment variable SIMPLECHAT_API_KEY instead" in caplog.text
    assert "SIMPLECHAT_UPSTREAM_API_KEY" in caplog.text
    assert "flag-key-123456" not in caplog.text and "up-key-123456" not in caplog.text
