"""The local Cognito's emailed codes: checked, expiring, and void after too many wrong tries."""

import pytest

from simplechat.stack.cognito import PASSWORD_POLICY
from simplechat.stack.cognito_extras import (
    CODE_LIFETIME_SECONDS,
    MAX_CODE_ATTEMPTS,
    CodeMail,
    CognitoError,
    CognitoExtras,
    password_problems,
)


class Clock:
    now = 1_000.0

    def __call__(self) -> float:
        return self.now


def test_a_code_expires_as_cognitos_do() -> None:
    clock = Clock()
    mail = CodeMail(clock)
    code = mail.issue("reset", "A@example.com")
    mail.check("reset", "a@example.com", code)  # any case of the address
    clock.now += CODE_LIFETIME_SECONDS["reset"]
    with pytest.raises(CognitoError) as expired:
        mail.check("reset", "a@example.com", code)
    assert expired.value.code == "ExpiredCodeException"


def test_too_many_wrong_codes_void_the_code() -> None:
    mail = CodeMail(Clock())
    code = mail.issue("sign-up", "b@example.com")
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(MAX_CODE_ATTEMPTS - 1):
        with pytest.raises(CognitoError, match="Invalid verification code"):
            mail.check("sign-up", "b@example.com", wrong)
    with pytest.raises(CognitoError) as limited:
        mail.check("sign-up", "b@example.com", wrong)
    assert limited.value.code == "LimitExceededException"
    with pytest.raises(CognitoError) as gone:  # even the right code: ask for a new one
        mail.check("sign-up", "b@example.com", code)
    assert gone.value.code == "ExpiredCodeException"


def test_the_reset_password_is_checked_against_the_pools_policy() -> None:
    assert password_problems(PASSWORD_POLICY, "Long-enough-pass-1") == []
    assert password_problems(PASSWORD_POLICY, "short") == [
        "Password not long enough",
        "Password must have uppercase characters",
        "Password must have numeric characters",
    ]


def test_a_totp_code_of_the_step_before_is_still_accepted() -> None:
    """As Cognito: the code typed as the 30-second step turns is not refused (moto alone
    refuses it: the browser tests' TOTP sign-ins failed now and then at a step's edge)."""
    import time

    from moto.cognitoidp import models
    from moto.cognitoidp.utils import cognito_totp

    from simplechat.stack.cognito_extras import tolerate_clock_drift

    tolerate_clock_drift()
    totp = cognito_totp(models.COGNITO_TOTP_MFA_SECRET)
    previous = totp.generate(int(time.time()) - 30)
    models.verify_totp(totp, previous)  # raises if refused
    with pytest.raises(Exception, match="does not match"):
        models.verify_totp(totp, totp.generate(int(time.time()) - 120))


def test_the_browsers_preflight_is_answered_as_cognito_answers_it() -> None:
    # The page's calls carry X-Amz-Target, so Chromium asks first with OPTIONS /; passed to
    # moto, that reached its S3 and failed, and no sign-in call could be made from the page.
    def refuse(environ: dict[str, object], start_response: object) -> list[bytes]:
        raise AssertionError("the preflight reached moto")

    extras = CognitoExtras()
    extras.inner = refuse
    answer: dict[str, object] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        answer.update(status=status, headers=dict(headers))

    body = extras(
        {
            "REQUEST_METHOD": "OPTIONS",
            "HTTP_ORIGIN": "http://127.0.0.1:8000",
            "HTTP_ACCESS_CONTROL_REQUEST_HEADERS": "content-type,x-amz-target,x-amz-user-agent",
        },
        start_response,
    )
    assert b"".join(body) == b""
    assert answer["status"] == "200 OK"
    headers = answer["headers"]
    assert isinstance(headers, dict)
    assert headers["Access-Control-Allow-Origin"] == "http://127.0.0.1:8000"
    assert "POST" in headers["Access-Control-Allow-Methods"]
    assert headers["Access-Control-Allow-Headers"] == "content-type,x-amz-target,x-amz-user-agent"
