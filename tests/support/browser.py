"""The browser tests' helpers: local stacks as processes, their runtime config, the local
Cognito's client, and screenshots."""

from __future__ import annotations

import json
import re
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import Locator, Page, expect

from tests.support.processes import ServerProcess

SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-output" / "screenshots"
DEMO_USER = "demo@example.com"
DEMO_PASSWORD = "Demo-password-2026"


def start_stack(tmp: Path, *args: str) -> ServerProcess:
    health = "/config.js" if "--upstream" in args else "/llm/health"
    return ServerProcess(list(args), tmp / "stack.log", command="stack", health_path=health)


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


def screenshot(page: Page, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def expect_focused(locator: Locator) -> None:
    """`locator` has the keyboard focus; if not, the failure says what has it instead (the
    element, and whether the page itself has the focus), which a bare to_be_focused does not."""
    try:
        expect(locator).to_be_focused()
    except AssertionError as failure:
        where = locator.page.evaluate(
            "() => [document.activeElement ? document.activeElement.outerHTML.slice(0, 300) : null,"
            " document.hasFocus(), !!document.querySelector('dialog[open]')]"
        )
        raise AssertionError(
            f"{failure}\nfocused instead: {where[0]!r}; page has focus: {where[1]}; "
            f"a dialog open: {where[2]}"
        ) from None
