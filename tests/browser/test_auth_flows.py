"""Sign-up, email codes, password reset and TOTP MFA in the browser, against the local Cognito."""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import re
import struct
import time
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, Route, expect

from tests.support.browser import cognito_client, runtime_config, screenshot, start_stack
from tests.support.processes import ServerProcess

PASSWORD = "Sign-up-pass-2026"
_emails = itertools.count()


def new_email(what: str) -> str:
    return f"{what}-{next(_emails)}-{time.time_ns()}@example.com"


def totp(secret: str, at: float | None = None) -> str:
    """RFC 6238 TOTP (SHA-1, 30 s, 6 digits) from a base32 secret, as authenticator apps do."""
    key = base64.b32decode(secret + "=" * (-len(secret) % 8), casefold=True)
    counter = int((time.time() if at is None else at) // 30)
    digest = hmac.new(key, struct.pack(">Q", counter), hashlib.sha1).digest()
    offset = digest[-1] & 0x0F
    number = struct.unpack(">I", digest[offset : offset + 4])[0] & 0x7FFFFFFF
    return f"{number % 1_000_000:06d}"


def test_totp_matches_rfc_6238_test_vectors() -> None:
    # RFC 6238 appendix B, SHA-1 seed "12345678901234567890" (the last 6 of its 8 digits).
    secret = base64.b32encode(b"12345678901234567890").decode()
    assert totp(secret, 59) == "287082"
    assert totp(secret, 1111111109) == "081804"
    assert totp(secret, 2000000000) == "279037"


def emailed_code(stack: ServerProcess, what: str, email: str) -> str:
    """The code the local stack prints instead of emailing it (the latest one)."""
    pattern = re.compile(rf"the {what} code for {re.escape(email)} is (\d{{6}})")
    for _ in range(100):
        codes = pattern.findall(stack.log)
        if codes:
            return str(codes[-1])
        time.sleep(0.1)
    raise AssertionError(f"no {what} code for {email} in the stack's log")


def sign_in(page: Page, user: str, password: str) -> None:
    page.fill("#login-username", user)
    page.fill("#login-password", password)
    page.click("#login-form button[type=submit]")


def secret_in(page: Page, box: str) -> str:
    expect(page.locator(f"#{box} svg[role=img]")).to_be_visible()  # the QR code, made in the page
    return page.locator(f"#{box} .totp-secret").inner_text().replace(" ", "")


def sign_up(page: Page, stack: ServerProcess, email: str) -> None:
    page.goto(stack.url)
    page.click("#sign-up-link")
    expect(page.locator("#sign-up-form")).to_be_visible()
    # The pool's rules are shown before the user types.
    expect(page.locator("#sign-up-rules")).to_contain_text("at least 12 characters")
    page.fill("#sign-up-email", email)
    page.fill("#sign-up-password", "short")
    page.click("#sign-up-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text(
        "This password does not meet the rules listed above. Choose another one."
    )
    page.fill("#sign-up-password", PASSWORD)
    page.click("#sign-up-form button[type=submit]")
    expect(page.locator("#confirm-form")).to_be_visible()
    expect(page.locator("#login-info")).to_contain_text("We emailed a code to")


def test_sign_up_confirm_with_the_emailed_code_then_sign_in(
    page: Page, cognito_stack: ServerProcess
) -> None:
    email = new_email("signup")
    sign_up(page, cognito_stack, email)
    first = emailed_code(cognito_stack, "sign-up confirmation", email)
    wrong = "000000" if first != "000000" else "111111"
    page.fill("#confirm-code", wrong)
    page.click("#confirm-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text(
        "That code is not right. Check the email and enter the code again."
    )
    page.click("#resend-code")
    expect(page.locator("#login-info")).to_contain_text("We emailed a new code to")
    second = emailed_code(cognito_stack, "sign-up confirmation", email)
    page.fill("#confirm-code", second)
    page.click("#confirm-form button[type=submit]")
    expect(page.locator("#login-info")).to_have_text(
        "Your email is confirmed. Sign in to continue."
    )
    expect(page.locator("#login-username")).to_have_value(email)
    screenshot(page, "20-signed-up")
    page.fill("#login-password", PASSWORD)
    page.click("#login-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()


def test_an_unconfirmed_user_is_sent_to_the_code_step(
    page: Page, cognito_stack: ServerProcess
) -> None:
    email = new_email("unconfirmed")
    sign_up(page, cognito_stack, email)
    page.click("#confirm-form .back-to-sign-in")
    sign_in(page, email, PASSWORD)
    expect(page.locator("#confirm-form")).to_be_visible()
    expect(page.locator("#login-info")).to_contain_text("Confirm your email first")


def test_forgot_password_then_sign_in_with_the_new_one(
    page: Page, cognito_stack: ServerProcess
) -> None:
    email = new_email("forgot")
    sign_up(page, cognito_stack, email)
    page.fill("#confirm-code", emailed_code(cognito_stack, "sign-up confirmation", email))
    page.click("#confirm-form button[type=submit]")
    expect(page.locator("#login-form")).to_be_visible()
    page.click("#forgot-link")
    expect(page.locator("#forgot-email")).to_have_value(email)
    page.click("#forgot-form button[type=submit]")
    expect(page.locator("#reset-form")).to_be_visible()
    expect(page.locator("#reset-rules")).to_contain_text("an uppercase letter")
    code = emailed_code(cognito_stack, "password reset", email)
    page.fill("#reset-code", "999999" if code != "999999" else "888888")
    page.fill("#reset-password", "Brand-new-pass-77")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("That code is not right.")
    page.fill("#reset-code", code)
    page.fill("#reset-password", "weakpassword")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("does not meet the rules")
    page.fill("#reset-password", "Brand-new-pass-77")
    page.click("#reset-form button[type=submit]")
    expect(page.locator("#login-info")).to_have_text(
        "Your password is changed. Sign in with the new one."
    )
    sign_in(page, email, PASSWORD)
    expect(page.locator("#login-error")).to_have_text("Incorrect email or password.")
    sign_in(page, email, "Brand-new-pass-77")
    expect(page.locator("#chat-view")).to_be_visible()


def confirmed_user(cognito_stack: ServerProcess, what: str) -> str:
    """A user signed up and confirmed through the API (the UI's steps are tested above)."""
    auth = runtime_config(cognito_stack)["auth"]
    client = cognito_client(cognito_stack)
    email = new_email(what)
    client.sign_up(ClientId=auth["clientId"], Username=email, Password=PASSWORD)
    code = emailed_code(cognito_stack, "sign-up confirmation", email)
    client.confirm_sign_up(ClientId=auth["clientId"], Username=email, ConfirmationCode=code)
    return email


def test_enrol_totp_sign_out_and_sign_in_with_a_code(
    page: Page, cognito_stack: ServerProcess
) -> None:
    email = confirmed_user(cognito_stack, "totp")
    page.goto(cognito_stack.url)
    sign_in(page, email, PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()
    page.click("#account-button")
    expect(page.locator("#account-dialog")).to_be_visible()
    expect(page.locator("#totp-status")).to_have_text("Two-step verification is off.")
    page.click("#totp-enable-button")
    secret = secret_in(page, "totp-enrol-box")
    screenshot(page, "21-totp-enrol")
    page.fill("#totp-enrol-code", "000000" if totp(secret) != "000000" else "111111")
    page.click("#totp-enrol-form button[type=submit]")
    expect(page.locator("#account-error")).to_contain_text("That code is not right.")
    page.fill("#totp-enrol-code", totp(secret))
    page.click("#totp-enrol-form button[type=submit]")
    expect(page.locator("#totp-status")).to_contain_text("Two-step verification is now on.")
    page.click("#account-close")
    page.click("#logout-button")

    sign_in(page, email, PASSWORD)
    expect(page.locator("#totp-form")).to_be_visible()
    page.fill("#totp-code", "000000" if totp(secret) != "000000" else "111111")
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text(
        "That code is not right. Enter the current 6-digit code from your authenticator app "
        "(codes change every 30 seconds)."
    )
    page.fill("#totp-code", totp(secret))
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()

    # Off again: the next sign-in asks for no code.
    page.click("#account-button")
    expect(page.locator("#totp-status")).to_have_text("Two-step verification is on.")
    page.click("#totp-disable-button")
    expect(page.locator("#totp-status")).to_have_text("Two-step verification is now off.")
    page.click("#account-close")
    page.click("#logout-button")
    sign_in(page, email, PASSWORD)
    expect(page.locator("#chat-view")).to_be_visible()


def test_sign_out_everywhere_ends_other_sessions(page: Page, cognito_stack: ServerProcess) -> None:
    email = confirmed_user(cognito_stack, "global")
    assert page.context.browser is not None
    other = page.context.browser.new_context(locale="en-US")  # another device
    try:
        elsewhere = other.new_page()
        for each in (page, elsewhere):
            each.goto(cognito_stack.url)
            sign_in(each, email, PASSWORD)
            expect(each.locator("#chat-view")).to_be_visible()
        page.click("#account-button")
        page.click("#sign-out-everywhere-button")
        expect(page.locator("#login-view")).to_be_visible()
        expect(page.locator("#login-info")).to_have_text("You are signed out on every device.")
        # The other device's refresh token no longer works.
        refreshed = elsewhere.evaluate(
            """async (endpoint) => {
            const tokens = JSON.parse(localStorage.getItem("simplechat.tokens"));
            const reply = await fetch(endpoint, {method: "POST", headers: {
                "Content-Type": "application/x-amz-json-1.1",
                "X-Amz-Target": "AWSCognitoIdentityProviderService.InitiateAuth"},
              body: JSON.stringify({AuthFlow: "REFRESH_TOKEN_AUTH",
                ClientId: window.SIMPLECHAT_CONFIG.auth.clientId,
                AuthParameters: {REFRESH_TOKEN: tokens.refreshToken}})});
            return reply.status;
        }""",
            runtime_config(cognito_stack)["auth"]["endpoint"],
        )
        assert refreshed == 400
    finally:
        other.close()


def fake_cognito(page: Page, endpoint: str, answers: dict[str, tuple[str, str]]) -> None:
    """Answers the named Cognito actions with an error, as Cognito does; the rest go through."""

    def handle(route: Route) -> None:
        action = (route.request.headers.get("x-amz-target") or "").rpartition(".")[2]
        if action not in answers:
            route.continue_()
            return
        code, message = answers[action]
        route.fulfill(
            status=400,
            content_type="application/x-amz-json-1.1",
            body=json.dumps({"__type": code, "message": message}),
        )

    # The endpoint is the stack's own path (/cognito/), the page's URL for it absolute.
    page.route(lambda url: url.rstrip("/").endswith(endpoint.rstrip("/")), handle)


@pytest.mark.parametrize(
    ("code", "message", "shown"),
    [
        ("ExpiredCodeException", "Invalid code provided, please request a code again.",
         "This code has expired or was already used. Ask for a new code."),
        ("LimitExceededException", "Attempt limit exceeded, please try after some time.",
         "Too many attempts. Wait a few minutes, then try again."),
        ("TooManyFailedAttemptsException", "Too many failed attempts.",
         "Too many attempts. Wait a few minutes, then try again."),
        ("InternalErrorException", "boom",
         "Something went wrong with sign-in. Try again in a moment."),
    ],
)  # fmt: skip
def test_cognito_errors_are_sentences(
    page: Page, cognito_stack: ServerProcess, code: str, message: str, shown: str
) -> None:
    # Codes that expire (24 hours) or a worn-out attempt limit: Cognito's answers, faked here.
    fake_cognito(
        page, runtime_config(cognito_stack)["auth"]["endpoint"], {"ConfirmSignUp": (code, message)}
    )
    email = new_email("errors")
    sign_up(page, cognito_stack, email)
    page.fill("#confirm-code", "123456")
    page.click("#confirm-form button[type=submit]")
    expect(page.locator("#login-error")).to_have_text(shown)
    assert code not in page.locator("#login-view").inner_text()


def test_sign_up_is_offered_only_where_the_pool_allows_it(
    page: Page, cognito_stack: ServerProcess
) -> None:
    config: dict[str, Any] = runtime_config(cognito_stack)
    config["auth"]["signUp"] = False
    page.route(
        "**/config.js",
        lambda route: route.fulfill(
            content_type="text/javascript", body=f"window.SIMPLECHAT_CONFIG = {json.dumps(config)};"
        ),
    )
    page.goto(cognito_stack.url)
    expect(page.locator("#login-form")).to_be_visible()
    expect(page.locator("#sign-up-link")).to_be_hidden()
    expect(page.locator("#forgot-link")).to_be_visible()


def test_the_sign_in_steps_in_japanese_on_a_phone(page: Page, cognito_stack: ServerProcess) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(cognito_stack.url)
    page.select_option("#language-select", "ja")
    page.click("#sign-up-link")
    expect(page.locator("#login-title")).to_have_text("アカウントを作成")
    expect(page.locator("#sign-up-rules")).to_contain_text("12 文字以上")
    # Reachable by keyboard: Tab from the email field reaches the password, then submit.
    page.focus("#sign-up-email")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sign-up-password"
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375  # nothing wider than the phone
    screenshot(page, "22-sign-up-ja-phone")


@pytest.fixture(scope="module")
def mfa_required_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    stack = start_stack(
        tmp_path_factory.mktemp("mfa-stack"), "--engine", "fake", "--auth", "cognito",
        "--mfa", "required", "--demo-user", "mfa-demo@example.com",
        "--demo-password", "Demo-password-2026",
    )  # fmt: skip
    yield stack
    stack.stop()


def test_a_pool_that_requires_mfa_makes_the_first_sign_in_enrol_totp(
    page: Page, mfa_required_stack: ServerProcess
) -> None:
    assert runtime_config(mfa_required_stack)["auth"]["mfa"] == "required"
    page.goto(mfa_required_stack.url)
    sign_in(page, "mfa-demo@example.com", "Demo-password-2026")
    expect(page.locator("#mfa-setup-form")).to_be_visible()
    secret = secret_in(page, "mfa-setup-box")
    screenshot(page, "23-mfa-required-setup")
    page.fill("#mfa-setup-code", "000000" if totp(secret) != "000000" else "111111")
    page.click("#mfa-setup-form button[type=submit]")
    expect(page.locator("#login-error")).to_contain_text("That code is not right.")
    page.fill("#mfa-setup-code", totp(secret))
    page.click("#mfa-setup-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()
    page.click("#account-button")
    expect(page.locator("#totp-status")).to_have_text("Two-step verification is on.")
    expect(page.locator("#totp-disable-button")).to_be_hidden()  # required: it cannot be off
    page.click("#account-close")
    page.click("#logout-button")
    sign_in(page, "mfa-demo@example.com", "Demo-password-2026")
    expect(page.locator("#totp-form")).to_be_visible()
    page.fill("#totp-code", totp(secret))
    page.click("#totp-form button[type=submit]")
    expect(page.locator("#chat-view")).to_be_visible()
