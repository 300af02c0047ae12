"""Browser fixtures: local stacks as real processes, and Debian's Chromium driven by Playwright."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from tests.support.browser import (  # noqa: F401  (the names older tests import from here)
    DEMO_PASSWORD,
    DEMO_USER,
    SCREENSHOTS,
    cognito_client,
    runtime_config,
    screenshot,
    start_stack,
)
from tests.support.processes import ServerProcess, free_port

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


@pytest.fixture(scope="module")
def own_fake_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """The fake engine on a stack of the test module's own: every conversation in it is the
    module's (an export of all of them, the same list in every screenshot)."""
    stack = start_stack(tmp_path_factory.mktemp("own-fake-stack"), "--engine", "fake")
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
