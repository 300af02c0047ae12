"""Local Cognito: a user pool on moto, and ID-token checks as API Gateway's authorizer does."""

from __future__ import annotations

import json
import logging
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
#: The header that opens moto's port: only this process (the stack) knows its value.
ADMIN_SECRET_HEADER = "x-simplechat-cognito-secret"
#: Where the running stack leaves its pool's admin address and secret for its owner (0600 in
#: the data folder, removed at stop): how the operator, and tests, add users.
ADMIN_FILE = "local-cognito-admin.json"


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
    Its port answers only calls that carry this process's secret (the stack's proxy adds it
    to the calls a browser may make), and its tokens are signed with a key of this stack's.
    `data_dir` keeps the secret behind local users' `sub`s (None: they last one process).
    """

    def __init__(self, mfa: str = "optional", data_dir: Path | None = None) -> None:
        from simplechat.stack import stable_subs
        from simplechat.stack.cognito_extras import (
            CognitoExtras,
            ExtendedMotoServer,
            tolerate_clock_drift,
        )
        from simplechat.stack.signing import LocalSigner

        if data_dir is not None:
            stable_subs.use_secret(stable_subs.load_secret(data_dir))
        stable_subs.install()
        tolerate_clock_drift()
        self.admin_secret = secrets.token_urlsafe(32)
        self.signer = LocalSigner()

        # moto checks TOTP codes only when asked to (its secret is fixed; the codes are real).
        os.environ["MOTO_COGNITO_IDP_USER_POOL_ENABLE_TOTP"] = "true"
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # no line per request
        self.extras = CognitoExtras(admin_secret=self.admin_secret, signer=self.signer)
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
        self._moto_pool = self._sign_with_own_key(pool["Id"])
        self.extras.attach(self.pool, self.client, self._moto_pool)
        self._admin_file = data_dir / ADMIN_FILE if data_dir is not None else None
        if self._admin_file is not None:
            self._write_admin_file(self._admin_file)

    def _write_admin_file(self, path: Path) -> None:
        path.unlink(missing_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        admin = {
            "endpoint": self.endpoint,
            "secretHeader": ADMIN_SECRET_HEADER,
            "secret": self.admin_secret,
            "region": REGION,
            "userPoolId": self.pool.user_pool_id,
            "clientId": self.pool.client_id,
        }
        with os.fdopen(fd, "w") as file:
            json.dump(admin, file)

    def _admin_client(self) -> Any:
        import boto3

        client = boto3.session.Session().client(
            "cognito-idp",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",
        )

        def add_secret(request: Any, **_: Any) -> None:
            request.headers[ADMIN_SECRET_HEADER] = self.admin_secret

        client.meta.events.register("before-send.cognito-idp", add_secret)
        return client

    def _sign_with_own_key(self, user_pool_id: str) -> Any:
        """moto's pool object, its tokens signed again with this stack's key as it makes them."""
        from moto.cognitoidp import models

        from simplechat.stack.stable_subs import find_pool

        moto_pool = find_pool(models.cognitoidp_backends, user_pool_id)
        create_jwt = moto_pool.create_jwt

        def signed_here(*args: Any, **kwargs: Any) -> tuple[str, int]:
            token, expires_in = create_jwt(*args, **kwargs)
            return self.signer.resign(token), expires_in

        # On the instance: moto's own calls (sign-in, refresh, MFA) all go through it.
        moto_pool.create_jwt = signed_here
        sign_out = moto_pool.sign_out

        def sign_out_the_user(username: str) -> None:
            """moto ends the sessions whose username is spelled as given; one signed in by
            their `sub` (or another spelling) would outlive a reset. Here: by the user."""
            user = moto_pool._get_user(username)
            if user is not None:
                for token, session in list(moto_pool.refresh_tokens.items()):
                    if session is not None and moto_pool._get_user(session[1]) is user:
                        moto_pool.refresh_tokens[token] = None
                for token, (_, name) in list(moto_pool.access_tokens.items()):
                    if moto_pool._get_user(name) is user:
                        moto_pool.access_tokens.pop(token, None)
            sign_out(username)

        moto_pool.sign_out = sign_out_the_user
        return moto_pool

    def session_live(self, origin_jti: str) -> bool:
        """Whether the sign-in a token came from still stands: its refresh token was not
        revoked (RevokeToken) nor ended by a global sign-out or a new password."""
        sessions = list(self._moto_pool.refresh_tokens.values())  # moto's thread may add some
        return any(session is not None and session[2] == origin_jti for session in sessions)

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
        if self._admin_file is not None:
            self._admin_file.unlink(missing_ok=True)
        self._server.stop()


class TokenVerifier:
    """Checks an ID token's signature (JWKS), issuer, audience, token_use and expiry, and,
    given `session_live`, that its sign-in was not revoked since."""

    def __init__(self, pool: UserPool, session_live: Callable[[str], bool] | None = None) -> None:
        import jwt

        self._pool = pool
        self._session_live = session_live
        self._jwks = jwt.PyJWKClient(pool.jwks_url, cache_keys=True, timeout=5)

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
        if self._session_live is not None and not self._session_live(
            str(claims.get("origin_jti", ""))
        ):
            raise Unauthorized("signed out")
        return claims
