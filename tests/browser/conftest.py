"""Browser fixtures: local stacks as real processes, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.e2e.server import ServerProcess, free_port

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DEMO_USER = "demo@example.com"
DEMO_PASSWORD = "Demo-password-2026"

#: The fixtures that start the bundled model through a real engine (a test module may add its
#: own stacks; those that load the model are named here too).
REAL_MODEL_STACKS = {"model_stack", "long_stack"}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """`real_model` on the browser tests that load the model (a `pytestmark` in a conftest is
    ignored by pytest; this hook sees the whole session's items, so it picks this folder's)."""
    here = Path(__file__).parent
    for item in items:
        if here in item.path.parents and REAL_MODEL_STACKS & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.real_model)


# The model answers within seconds, but a busy 2-core machine can stretch that: wait generously.
expect.set_options(timeout=30_000)


def start_stack(tmp: Path, *args: str) -> ServerProcess:
    health = "/config.js" if "--upstream" in args else "/llm/health"
    return ServerProcess(list(args), tmp / "stack.log", command="stack", health_path=health)


@pytest.fixture(scope="session")
def model_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The stack as `make run` starts it: bundled model, no auth."""
    stack = start_stack(tmp_path_factory.mktemp("model-stack"), "--default-max-tokens", "48")
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The fake engine echoes the message: lets a test choose exactly what the "model" says."""
    stack = start_stack(tmp_path_factory.mktemp("fake-stack"), "--engine", "fake")
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def cognito_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    stack = start_stack(
        tmp_path_factory.mktemp("cognito-stack"),
        "--engine", "fake", "--auth", "cognito",
        "--demo-user", DEMO_USER, "--demo-password", DEMO_PASSWORD,
    )  # fmt: skip
    yield stack
    stack.stop()


@pytest.fixture(scope="session")
def dead_upstream_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """UI and gateway in front of a model server that is down."""
    stack = start_stack(
        tmp_path_factory.mktemp("dead-stack"), "--upstream", f"http://127.0.0.1:{free_port()}"
    )
    yield stack
    stack.stop()


def runtime_config(stack: ServerProcess) -> dict[str, Any]:
    with urllib.request.urlopen(stack.url + "/config.js") as reply:
        text = reply.read().decode()
    match = re.search(r"=\s*(\{.*\});", text, re.S)
    assert match is not None
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def cognito_client(stack: ServerProcess, *, admin: bool = False) -> Any:
    """boto3's Cognito client for a stack's local pool: through the stack's own /cognito (the
    calls anyone may make), or with `admin=True` straight to moto, with the admin secret the
    stack leaves its owner in the data folder (how an operator adds users)."""
    import boto3

    auth = runtime_config(stack)["auth"]
    endpoint = stack.url + auth["endpoint"]
    if admin:
        args = [str(arg) for arg in stack.process.args]  # type: ignore[union-attr]
        data = (
            Path(args[args.index("--data-dir") + 1])
            if "--data-dir" in args
            else stack.log_path.parent / "data"
        )
        secret = json.loads((data / "local-cognito-admin.json").read_text())
        endpoint = secret["endpoint"]
    client = boto3.session.Session().client(
        "cognito-idp", endpoint_url=endpoint, region_name=auth["region"],
        aws_access_key_id="local", aws_secret_access_key="local",
    )  # fmt: skip
    if admin:

        def add_secret(request: Any, **_: Any) -> None:
            request.headers[secret["secretHeader"]] = secret["secret"]

        client.meta.events.register("before-send.cognito-idp", add_secret)
    return client


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Module-scoped: Playwright's sync API keeps an event loop running in this thread while it
    # is open, which would break asyncio.run() in the test modules that come after.
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_FLAGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh profile (empty localStorage) in English."""
    context = browser.new_context(locale="en-US", viewport={"width": 1100, "height": 800})
    context.set_default_timeout(30_000)
    yield context.new_page()
    context.close()


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
