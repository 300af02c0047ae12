"""Signing in to a local Cognito user pool (moto) as the web page does: the tokens it returns."""

from __future__ import annotations

from typing import Any


def password_sign_in(client: Any, client_id: str, username: str, password: str) -> dict[str, str]:
    """USER_PASSWORD_AUTH with boto3's `cognito-idp` client: IdToken, AccessToken, RefreshToken."""
    reply = client.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=client_id,
        AuthParameters={"USERNAME": username, "PASSWORD": password},
    )
    tokens: dict[str, str] = reply["AuthenticationResult"]
    return tokens
