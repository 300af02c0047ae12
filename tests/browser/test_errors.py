"""Failures are shown in place with a retry, never swallowed."""

from playwright.sync_api import Page, Route, expect

from tests.support.browser import screenshot
from tests.support.processes import ServerProcess


def test_model_server_down_shows_the_gateways_message(
    page: Page, dead_upstream_stack: ServerProcess
) -> None:
    page.goto(dead_upstream_stack.url)
    page.fill("#input", "Hello?")
    page.press("#input", "Enter")
    expect(page.locator("#error-box")).to_be_visible()
    expect(page.locator("#error-text")).to_contain_text("The model server is unreachable")
    expect(page.locator("#retry-button")).to_be_visible()
    expect(page.locator("#messages .message")).to_have_count(0)
    screenshot(page, "06-error")
    with page.expect_request("**/api/chat") as retried:
        page.click("#retry-button")
    resent = retried.value.post_data_json
    assert resent is not None and resent["message"] == "Hello?"
    expect(page.locator("#error-text")).to_contain_text("unreachable")


def test_network_failure_is_shown_and_retry_recovers(page: Page, fake_stack: ServerProcess) -> None:
    page.goto(fake_stack.url)

    def fail(route: Route) -> None:
        route.abort("connectionrefused")

    page.route("**/api/chat", fail)
    page.fill("#input", "ping")
    page.press("#input", "Enter")
    expect(page.locator("#error-text")).to_contain_text("Could not reach the chat service")
    page.unroute("**/api/chat", fail)
    page.click("#retry-button")
    expect(page.locator("#messages .message.assistant")).to_have_text("You said: ping")
    expect(page.locator("#error-box")).to_be_hidden()
