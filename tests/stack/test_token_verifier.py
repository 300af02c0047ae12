"""ID tokens are checked as API Gateway's Cognito authorizer does: signature, claims, expiry."""

import gzip
import json
import time
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import jwt
import pytest

from simplechat.stack.cognito import LocalCognito, TokenVerifier, Unauthorized


@pytest.fixture(scope="module")
def cognito() -> Iterator[LocalCognito]:
    local = LocalCognito()
    local.add_user("user@example.com", "Good-password-123")
    yield local
    local.stop()


def real_id_token(cognito: LocalCognito) -> str:
    reply = cognito.client.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=cognito.pool.client_id,
        AuthParameters={"USERNAME": "user@example.com", "PASSWORD": "Good-password-123"},
    )
    token: str = reply["AuthenticationResult"]["IdToken"]
    return token


def forged(cognito: LocalCognito, **changes: Any) -> str:
    """A token signed with the pool's own key (moto's), but with claims of our choosing."""
    claims = jwt.decode(real_id_token(cognito), options={"verify_signature": False})
    claims.update(changes)
    raw = files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    key = jwt.PyJWK(json.loads(gzip.decompress(raw)))
    return jwt.encode(claims, key.key, algorithm="RS256", headers={"kid": key.key_id})


def test_a_real_id_token_passes(cognito: LocalCognito) -> None:
    claims = TokenVerifier(cognito.pool).claims(real_id_token(cognito))
    assert claims["email"] == "user@example.com"
    assert claims["token_use"] == "id"


def test_a_correctly_forged_token_passes_so_the_rejections_below_are_meaningful(
    cognito: LocalCognito,
) -> None:
    assert TokenVerifier(cognito.pool).claims(forged(cognito))["sub"]


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 10},
        {"aud": "another-client"},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/other_pool"},
        {"token_use": "access"},
    ],
)
def test_wrong_claims_are_refused(cognito: LocalCognito, changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(cognito.pool).claims(forged(cognito, **changes))


def test_a_tampered_signature_is_refused(cognito: LocalCognito) -> None:
    header, payload, signature = real_id_token(cognito).split(".")
    body = json.loads(jwt.utils.base64url_decode(payload))
    body["email"] = "admin@example.com"
    tampered = jwt.utils.base64url_encode(json.dumps(body).encode()).decode()
    with pytest.raises(Unauthorized):
        TokenVerifier(cognito.pool).claims(f"{header}.{tampered}.{signature}")


@pytest.mark.parametrize("value", [None, "", "Bearer ", "garbage", "a.b.c"])
def test_missing_or_malformed_tokens_are_refused(cognito: LocalCognito, value: str | None) -> None:
    with pytest.raises(Unauthorized):
        TokenVerifier(cognito.pool).claims(value)
