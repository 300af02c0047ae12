"""Local Cognito: a user pool on moto, and ID-token checks as API Gateway's authorizer does."""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from typing import Any

REGION = "ap-northeast-1"
#: The local pool's password rules, in Cognito's own shape (the UI is told them from here).
PASSWORD_POLICY: dict[str, Any] = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
}
#: `--mfa` choices, as the CDK app's `-c mfa=`, and Cognito's name for each.
MFA_CONFIGURATIONS = {"off": "OFF", "optional": "OPTIONAL", "required": "ON"}


class Unauthorized(Exception):
    """The token is missing, forged, expired or meant for something else."""


@dataclass(frozen=True)
class UserPool:
    endpoint: str
    region: str
    user_pool_id: str
    client_id: str
    mfa: str = "optional"
    password_policy: dict[str, Any] = field(default_factory=lambda: dict(PASSWORD_POLICY))

    def ui_settings(self) -> dict[str, Any]:
        """What the web UI's sign-in needs to know about this pool (config.js `auth`)."""
        return {
            "signUp": True,  # the local pool lets anyone sign up, as `-c selfSignUp=true`
            "mfa": self.mfa,
            "passwordPolicy": password_rules(self.password_policy),
        }

    @property
    def issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"

    @property
    def jwks_url(self) -> str:
        return f"{self.endpoint.rstrip('/')}/{self.user_pool_id}/.well-known/jwks.json"


def password_rules(policy: dict[str, Any]) -> dict[str, Any]:
    """Cognito's PasswordPolicy as config.js gives it to the UI (the CDK app writes the same)."""
    return {
        "minLength": policy["MinimumLength"],
        "requireLowercase": policy["RequireLowercase"],
        "requireUppercase": policy["RequireUppercase"],
        "requireDigits": policy["RequireNumbers"],
        "requireSymbols": policy["RequireSymbols"],
    }


class LocalCognito:
    """Starts moto's Cognito on 127.0.0.1 with a pool, a web client and a first user.

    moto sends no email and checks no emailed code: `CognitoExtras` in front of it does that
    (the codes are printed) and asks for TOTP enrolment at sign-in where MFA is required.
    """

    def __init__(self, mfa: str = "optional") -> None:
        from simplechat.stack import stable_subs
        from simplechat.stack.cognito_extras import (
            CognitoExtras,
            ExtendedMotoServer,
            tolerate_clock_drift,
        )

        stable_subs.install()
        tolerate_clock_drift()

        # moto checks TOTP codes only when asked to (its secret is fixed; the codes are real).
        os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.extras = CognitoExtras()
        self._server = ExtendedMotoServer(self.extras)
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self.client = self._admin_client()
        pool = self.client.create_user_pool(
            PoolName="simplechat-local",
            UsernameAttributes=["email"],
            AutoVerifiedAttributes=["email"],
            Policies={"PasswordPolicy": PASSWORD_POLICY},
            AccountRecoverySetting={
                "RecoveryMechanisms": [{"Name": "verified_email", "Priority": 1}]
            },
        )["UserPool"]
        self.client.set_user_pool_mfa_config(
            UserPoolId=pool["Id"],
            SoftwareTokenMfaConfiguration={"Enabled": mfa != "off"},
            MfaConfiguration=MFA_CONFIGURATIONS[mfa],
        )
        app_client = self.client.create_user_pool_client(
            UserPoolId=pool["Id"],
            ClientName="web",
            GenerateSecret=False,
            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        )["UserPoolClient"]
        self.pool = UserPool(self.endpoint, REGION, pool["Id"], app_client["ClientId"], mfa)
        self.extras.attach(self.pool, self.client)

    def _admin_client(self) -> Any:
        import boto3

        return boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

    def add_user(self, email: str, password: str, *, permanent: bool = True) -> None:
        """`permanent=False` leaves the password temporary: sign-in asks for a new one."""
        self.client.admin_create_user(
            UserPoolId=self.pool.user_pool_id,
            Username=email,
            TemporaryPassword=password,
            MessageAction="SUPPRESS",
        )
        if permanent:
            self.client.admin_set_user_password(
                UserPoolId=self.pool.user_pool_id, Username=email, Password=password, Permanent=True
            )

    def stop(self) -> None:
        self._server.stop()


class TokenVerifier:
    """Checks an ID token's signature (JWKS), issuer, audience, token_use and expiry."""

    def __init__(self, pool: UserPool) -> None:
        import jwt

        self._pool = pool
        self._jwks = jwt.PyJWKClient(pool.jwks_url, cache_keys=True)

    def claims(self, authorization: str | None) -> dict[str, Any]:
        import jwt

        if not authorization:
            raise Unauthorized("no token")
        token = authorization.removeprefix("Bearer ").strip()
        try:
            key = self._jwks.get_signing_key_from_jwt(token).key
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=["RS256"],
                audience=self._pool.client_id,
                issuer=self._pool.issuer,
                options={"require": ["exp", "iss", "aud", "token_use", "sub"]},
                leeway=0,
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(str(exc)) from None
        if claims.get("token_use") != "id":
            raise Unauthorized("not an ID token")
        if claims["exp"] <= time.time():
            raise Unauthorized("expired")
        return claims
