"""Cognito sign-in against a local user pool (moto), and the gateway's token check."""

import json
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, expect

from tests.support.browser import (
    DEMO_PASSWORD,
    DEMO_USER,
    cognito_client,
    runtime_config,
    screenshot,
)
from tests.support.processes import ServerProcess


def sign_in(page: Page, user: str, password: str) -> None:
    page.fill("#login-username", user)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")


def test_wrong_password_then_sign_in_and_chat(page: Page, cognito_stack: ServerProcess) -> None:
    page.goto(cognito_stack.url)
    expect(page.locator("#login-view")).to_be_visible()
    expect(page.locator("#chat-view")).to_be_hidden()
    screenshot(page, "07-sign-in")
    sign_in(page, DEMO_USER, "Wrong-password-1")
    expect(page.locator("#login-error")).to_have_text("Incorrect email or password.")
    sign_in(page, DEMO_USER, DEMO_PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    with page.expect_request("**/api/chat") as sent:
        page.fill("#input", "signed in")
        page.press("#input", "Enter")
    assert (
        sent.value.headers["authorization"].count(".") == 2
    )  # the raw ID token, as the course app
    expect(page.locator("#messages .message.assistant")).to_have_text("You said: signed in")
    page.reload()  # still signed in
    expect(page.locator("#chat-view")).to_be_visible()
    page.click("#logout-button")
    expect(page.locator("#login-view")).to_be_visible()


def test_admin_created_user_must_choose_a_new_password(
    page: Page, cognito_stack: ServerProcess
) -> None:
    auth = runtime_config(cognito_stack)["auth"]
    cognito = cognito_client(cognito_stack, admin=True)
    cognito.admin_create_user(
        UserPoolId=auth["userPoolId"], Username="new@example.com",
        TemporaryPassword="Temporary-pass-1", MessageAction="SUPPRESS",
    )  # fmt: skip
    page.goto(cognito_stack.url)
    sign_in(page, "new@example.com", "Temporary-pass-1")
    expect(page.locator("#new-password-form")).to_be_visible()
    page.fill("#new-password", "Chosen-password-2026")
    page.click("#new-password-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()


def test_an_expiring_token_is_refreshed_before_the_request(
    page: Page, cognito_stack: ServerProcess
) -> None:
    page.goto(cognito_stack.url)
    sign_in(page, DEMO_USER, DEMO_PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    # Make the stored ID token look about to expire (its signature no longer matches: only a
    # refreshed token can pass the gateway's check).
    stale = page.evaluate(
        r"""() => {
        const tokens = JSON.parse(localStorage.getItem("simplechat.tokens"));
        const [h, p, s] = tokens.idToken.split(".");
        const claims = JSON.parse(atob(p.replace(/-/g, "+").replace(/_/g, "/")));
        claims.exp = Math.floor(Date.now() / 1000) + 60;
        const body = btoa(JSON.stringify(claims))
            .replace(/=+$/, "").replace(/\+/g, "-").replace(/\//g, "_");
        tokens.idToken = [h, body, s].join(".");
        localStorage.setItem("simplechat.tokens", JSON.stringify(tokens));
        return tokens.idToken;
    }"""
    )
    with page.expect_request("**/api/chat") as sent:
        page.fill("#input", "after refresh")
        page.press("#input", "Enter")
    assert sent.value.headers["authorization"] != stale
    expect(page.locator("#messages .message.assistant")).to_have_text("You said: after refresh")


@pytest.mark.parametrize("token", [None, "not-a-jwt", "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."])
def test_gateway_refuses_requests_without_a_valid_token(
    cognito_stack: ServerProcess, token: str | None
) -> None:
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = token
    request = urllib.request.Request(
        cognito_stack.url + "/api/chat", json.dumps({"message": "hi"}).encode(), headers
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 401
    assert json.loads(refused.value.read()) == {"message": "Unauthorized"}


def test_a_message_refused_for_an_expired_session_is_kept(
    page: Page, cognito_stack: ServerProcess
) -> None:
    page.goto(cognito_stack.url)
    sign_in(page, DEMO_USER, DEMO_PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    page.route(
        "**/api/chat",
        lambda route: route.fulfill(
            status=401,
            content_type="application/json",
            body=json.dumps({"success": False, "error": "The token has expired."}),
        ),
    )
    page.fill("#input", "a long message I do not want to type again")
    page.press("#input", "Enter")
    expect(page.locator("#login-view")).to_be_visible()
    page.unroute("**/api/chat")
    sign_in(page, DEMO_USER, DEMO_PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    expect(page.locator("#input")).to_have_value("a long message I do not want to type again")


def test_signing_out_ends_the_sign_in_not_only_this_tab(
    page: Page, cognito_stack: ServerProcess
) -> None:
    """Tokens copied before sign-out (a stolen localStorage) stop working after it."""
    page.goto(cognito_stack.url)
    sign_in(page, DEMO_USER, DEMO_PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    tokens = page.evaluate("JSON.parse(localStorage.getItem('simplechat.tokens'))")

    def conversations_status() -> int:
        request = urllib.request.Request(
            cognito_stack.url + "/api/conversations",
            headers={"Authorization": tokens["idToken"]},
        )
        try:
            with urllib.request.urlopen(request) as reply:
                return int(reply.status)
        except urllib.error.HTTPError as refused:
            return refused.code

    assert conversations_status() == 200
    with page.expect_request("**/cognito/") as revoke:
        page.click("#logout-button")
    assert revoke.value.headers["x-amz-target"].endswith(".RevokeToken")
    expect(page.locator("#login-view")).to_be_visible()
    revoke.value.response()  # the revocation has been answered
    assert conversations_status() == 401
    client = cognito_client(cognito_stack)
    with pytest.raises(client.exceptions.NotAuthorizedException):
        client.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=runtime_config(cognito_stack)["auth"]["clientId"],
            AuthParameters={"REFRESH_TOKEN": tokens["refreshToken"]},
        )


def test_behind_sign_in_the_model_answers_only_the_gateway(cognito_stack: ServerProcess) -> None:
    """/llm called directly would skip the sign-in and the per-user limits."""
    request = urllib.request.Request(
        cognito_stack.url + "/llm/generate",
        data=json.dumps({"prompt": "hi", "max_new_tokens": 4}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 401
