"""Sign-in: a Cognito user pool (email, password rules, TOTP MFA) and a secretless web client."""

from dataclasses import dataclass
from typing import Any

from aws_cdk import Duration, RemovalPolicy, Stack
from aws_cdk import aws_cognito as cognito
from constructs import Construct

#: `-c mfa=` choices and the pool's setting for each (required: the first sign-in enrols TOTP).
MFA_CHOICES = {
    "off": cognito.Mfa.OFF,
    "optional": cognito.Mfa.OPTIONAL,
    "required": cognito.Mfa.REQUIRED,
}


@dataclass(frozen=True)
class PasswordRules:
    """The pool's password policy; the UI is told the same rules through config.js."""

    min_length: int = 12
    lowercase: bool = True
    uppercase: bool = True
    digits: bool = True
    symbols: bool = True

    def policy(self) -> cognito.PasswordPolicy:
        return cognito.PasswordPolicy(
            min_length=self.min_length,
            require_lowercase=self.lowercase,
            require_uppercase=self.uppercase,
            require_digits=self.digits,
            require_symbols=self.symbols,
            temp_password_validity=Duration.days(3),
        )

    def as_config(self) -> dict[str, Any]:
        return {
            "minLength": self.min_length,
            "requireLowercase": self.lowercase,
            "requireUppercase": self.uppercase,
            "requireDigits": self.digits,
            "requireSymbols": self.symbols,
        }


class UserAuth(Construct):
    """`user_pool` and `client` for the UI and the authorizer; `ui_settings` for config.js.

    `from_email`: send the codes from this SES-verified address (in the stack's region) instead of
    Cognito's own no-reply sender, which is limited to a few emails a day.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        self_sign_up: bool,
        mfa: str = "optional",
        from_email: str = "",
        password_rules: PasswordRules = PasswordRules(),
    ) -> None:
        super().__init__(scope, construct_id)
        email = (
            cognito.UserPoolEmail.with_ses(
                from_email=from_email, from_name="simplechat", ses_region=Stack.of(self).region
            )
            if from_email
            else cognito.UserPoolEmail.with_cognito()
        )
        self.user_pool = cognito.UserPool(
            self,
            "UserPool",
            self_sign_up_enabled=self_sign_up,
            sign_in_aliases=cognito.SignInAliases(email=True),
            auto_verify=cognito.AutoVerifiedAttrs(email=True),
            user_verification=cognito.UserVerificationConfig(
                email_style=cognito.VerificationEmailStyle.CODE,
                email_subject="simplechat: your confirmation code / 確認コード",
                email_body="Your simplechat confirmation code is {####}\n"
                "simplechat の確認コード: {####}",
            ),
            email=email,
            password_policy=password_rules.policy(),
            account_recovery=cognito.AccountRecovery.EMAIL_ONLY,
            mfa=MFA_CHOICES[mfa],
            mfa_second_factor=cognito.MfaSecondFactor(otp=mfa != "off", sms=False),
            removal_policy=RemovalPolicy.DESTROY,  # `make destroy` removes everything
        )
        self.client = self.user_pool.add_client(
            "WebClient",
            generate_secret=False,
            auth_flows=cognito.AuthFlow(user_password=True, user_srp=True),
            prevent_user_existence_errors=True,
            id_token_validity=Duration.hours(1),
            access_token_validity=Duration.hours(1),
            refresh_token_validity=Duration.days(30),
            # Sign-out calls RevokeToken, so a copied 30-day refresh token dies with the session.
            # (CloudFormation turns it on for a new client anyway; said here so it stays on.)
            enable_token_revocation=True,
        )
        self.ui_settings: dict[str, Any] = {
            "signUp": self_sign_up,
            "mfa": mfa,
            "passwordPolicy": password_rules.as_config(),
        }
