"""The user pool the sign-in flows need, and what config.js tells the UI about it."""

import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.cdk_template import Synthesized, synthesize


def config_js_auth(outdir: Path) -> dict[str, Any]:
    [config_file] = list(outdir.glob("asset.*/config.js"))
    settings: dict[str, Any] = json.loads(config_file.read_text().split("=", 1)[1].rstrip()[:-1])
    return dict(settings["auth"])


def pool_of(template: dict[str, Any]) -> dict[str, Any]:
    [pool] = [r for r in template["Resources"].values() if r["Type"] == "AWS::Cognito::UserPool"]
    return dict(pool["Properties"])


def synth(tmp_path: Path, **context: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    app, _ = synthesize(tmp_path, upstreamUrl="https://example-tunnel.ngrok-free.app", **context)
    app.synth()  # cdk-nag passes for each choice
    template = json.loads((tmp_path / "Simplechat.template.json").read_text())
    return pool_of(template), config_js_auth(tmp_path)


def test_the_ui_is_told_the_pools_own_password_rules(synthesized: Synthesized) -> None:
    policy = pool_of(synthesized.template)["Policies"]["PasswordPolicy"]
    rules = config_js_auth(synthesized.outdir)["passwordPolicy"]
    assert rules == {
        "minLength": policy["MinimumLength"],
        "requireLowercase": policy["RequireLowercase"],
        "requireUppercase": policy["RequireUppercase"],
        "requireDigits": policy["RequireNumbers"],
        "requireSymbols": policy["RequireSymbols"],
    }


def test_by_default_totp_is_optional_and_sign_up_is_off(synthesized: Synthesized) -> None:
    pool = pool_of(synthesized.template)
    assert pool["MfaConfiguration"] == "OPTIONAL"
    assert pool["EnabledMfas"] == ["SOFTWARE_TOKEN_MFA"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    # The emailed codes the UI asks for: confirmation by code, reset by email.
    assert pool["VerificationMessageTemplate"]["DefaultEmailOption"] == "CONFIRM_WITH_CODE"
    assert "{####}" in pool["VerificationMessageTemplate"]["EmailMessage"]
    assert pool["AccountRecoverySetting"]["RecoveryMechanisms"] == [
        {"Name": "verified_email", "Priority": 1}
    ]
    auth = config_js_auth(synthesized.outdir)
    assert (auth["signUp"], auth["mfa"]) == (False, "optional")


@pytest.mark.parametrize(("choice", "cognito"), [("off", "OFF"), ("required", "ON")])
def test_mfa_is_a_context_choice(tmp_path: Path, choice: str, cognito: str) -> None:
    pool, auth = synth(tmp_path, mfa=choice)
    assert pool["MfaConfiguration"] == cognito
    assert auth["mfa"] == choice


def test_self_sign_up_and_an_ses_sender(tmp_path: Path) -> None:
    pool, auth = synth(tmp_path, selfSignUp="true", fromEmail="no-reply@example.com")
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is False
    assert auth["signUp"] is True
    email = pool["EmailConfiguration"]
    assert email["EmailSendingAccount"] == "DEVELOPER"
    assert "no-reply@example.com" in email["From"]


def test_a_bad_mfa_choice_fails_synth(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="mfa must be one of off, optional, required"):
        synthesize(tmp_path, mfa="sometimes")


def test_sign_out_can_revoke_the_refresh_token(synthesized: Synthesized) -> None:
    """The UI's sign-out calls RevokeToken; Cognito refuses it where revocation is off."""
    [client] = [
        r["Properties"]
        for r in synthesized.template["Resources"].values()
        if r["Type"] == "AWS::Cognito::UserPoolClient"
    ]
    assert client["EnableTokenRevocation"] is True
    assert "ClientSecret" not in client and client["GenerateSecret"] is False
    assert client["RefreshTokenValidity"] == 30 * 24 * 60  # minutes: what a revoke cuts short
