"""The local Cognito's emailed codes: checked, expiring, and void after too many wrong tries."""

import json
from collections.abc import Callable

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
from tests.support.clocks import Clock


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


def test_motos_port_refuses_callers_without_the_stacks_secret() -> None:
    """Any local process (or a page, by the browser) could call moto's unsigned admin API
    (AdminSetUserPassword, ListUsers); only callers with this process's secret get through,
    and nothing reflects a page's Origin any more."""
    from simplechat.stack.signing import LocalSigner

    def moto(environ: dict[str, object], start_response: Callable[..., object]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", "application/x-amz-json-1.1")])
        return [b"{}"]

    signer = LocalSigner()
    extras = CognitoExtras(admin_secret="the-secret", signer=signer)
    extras.inner = moto

    def call(**environ: str) -> tuple[str, dict[str, str], bytes]:
        answer: dict[str, object] = {}

        def start_response(status: str, headers: list[tuple[str, str]]) -> None:
            answer.update(status=status, headers=dict(headers))

        body = b"".join(extras({"REQUEST_METHOD": "POST", **environ}, start_response))
        headers = answer["headers"]
        assert isinstance(headers, dict)
        return str(answer["status"]), headers, body

    admin = {"HTTP_X_AMZ_TARGET": "AWSCognitoIdentityProviderService.AdminSetUserPassword"}
    status, headers, body = call(**admin, HTTP_ORIGIN="http://evil.example")
    assert status.startswith("403")
    assert b"AccessDeniedException" in body
    assert "Access-Control-Allow-Origin" not in headers
    assert call(**admin, HTTP_X_SIMPLECHAT_COGNITO_SECRET="a-guess")[0].startswith("403")
    assert call(REQUEST_METHOD="OPTIONS", HTTP_ORIGIN="http://evil.example")[0].startswith("403")
    assert call(**admin, HTTP_X_SIMPLECHAT_COGNITO_SECRET="the-secret")[0] == "200 OK"
    # The JWKS is public, and it is this stack's key, not moto's.
    status, _, body = call(REQUEST_METHOD="GET", PATH_INFO="/pool_1/.well-known/jwks.json")
    assert status == "200 OK"
    assert json.loads(body) == signer.jwks()


def test_codes_sent_to_one_user_are_limited_per_hour() -> None:
    """Five guesses a code, and a new code at will, would add up to the whole million."""
    from simplechat.stack.cognito_extras import MAX_CODES_PER_HOUR

    clock = Clock()
    mail = CodeMail(clock)
    for _ in range(MAX_CODES_PER_HOUR):
        mail.issue("reset", "a@example.com")
    with pytest.raises(CognitoError) as limited:
        mail.issue("reset", "A@example.com")
    assert limited.value.code == "LimitExceededException"
    mail.issue("reset", "b@example.com")  # another user is not affected
    clock.now += 3601
    mail.issue("reset", "a@example.com")
