"""ID tokens are checked as API Gateway's Cognito authorizer does (signature, claims, expiry),
signed with the stack's own key, and only while the sign-in they came from stands."""

import gzip
import json
import time
from collections.abc import Iterator
from importlib.resources import files
from typing import Any

import jwt
import pytest

from simplechat.stack.cognito import LocalCognito, TokenVerifier, Unauthorized, UserPool
from tests.stack.conftest import PASSWORD
from tests.support.cognito import password_sign_in


def sign_in(cognito: LocalCognito, email: str = "user@example.com") -> dict[str, str]:
    return password_sign_in(cognito.client, cognito.pool.client_id, email, PASSWORD)


def real_id_token(cognito: LocalCognito) -> str:
    return sign_in(cognito)["IdToken"]


def reset_password(cognito: LocalCognito, email: str) -> None:
    """Forgot password, the emailed code, a new password: as the page does it."""
    client = cognito.pool.client_id
    cognito.client.forgot_password(ClientId=client, Username=email)
    code = cognito.extras.mail._codes[("reset", email)].value
    cognito.client.confirm_forgot_password(
        ClientId=client, Username=email, ConfirmationCode=code, Password="Another-password-456"
    )


def verifier(cognito: LocalCognito) -> TokenVerifier:
    return TokenVerifier(cognito.pool, cognito.session_live)


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def forged(cognito: LocalCognito, drop: tuple[str, ...] = (), **changes: Any) -> str:
    """A token signed with the stack's own key, with claims of our choosing."""
    claims = claims_of(real_id_token(cognito))
    claims.update(changes)
    for name in drop:
        del claims[name]
    private = cognito.signer._private
    return jwt.encode(claims, private, algorithm="RS256", headers={"kid": cognito.signer.kid})


def motos_key() -> jwt.PyJWK:
    raw = files("moto.cognitoidp").joinpath("resources/jwks-private.json.gz").read_bytes()
    return jwt.PyJWK(json.loads(gzip.decompress(raw)))


def test_a_real_id_token_passes(cognito: LocalCognito) -> None:
    claims = verifier(cognito).claims(real_id_token(cognito))
    assert claims["email"] == "user@example.com"
    assert claims["token_use"] == "id"


def test_tokens_are_signed_with_the_stacks_own_key_not_motos(cognito: LocalCognito) -> None:
    token = real_id_token(cognito)
    assert jwt.get_unverified_header(token)["kid"] == cognito.signer.kid
    with pytest.raises(jwt.InvalidSignatureError):
        jwt.decode(
            token, motos_key().key.public_key(), algorithms=["RS256"], options={"verify_aud": False}
        )


def test_a_token_signed_with_motos_shared_key_is_refused(cognito: LocalCognito) -> None:
    """moto's private key ships inside moto: anyone could sign a token that passed."""
    claims = claims_of(real_id_token(cognito))
    for kid in ("dummy", cognito.signer.kid):
        token = jwt.encode(claims, motos_key().key, algorithm="RS256", headers={"kid": kid})
        with pytest.raises(Unauthorized):
            verifier(cognito).claims(token)


def test_a_correctly_forged_token_passes_so_the_rejections_below_are_meaningful(
    cognito: LocalCognito,
) -> None:
    assert verifier(cognito).claims(forged(cognito))["sub"]


@pytest.mark.parametrize(
    "changes",
    [
        {"exp": int(time.time()) - 10},
        {"aud": "another-client"},
        {"iss": "https://cognito-idp.us-east-1.amazonaws.com/other_pool"},
        {"token_use": "access"},
        {"origin_jti": "a-sign-in-that-never-was"},
    ],
)
def test_wrong_claims_are_refused(cognito: LocalCognito, changes: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(forged(cognito, **changes))


@pytest.mark.parametrize("missing", ["sub", "exp", "origin_jti"])
def test_a_token_without_a_required_claim_is_refused(cognito: LocalCognito, missing: str) -> None:
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(forged(cognito, drop=(missing,)))


def test_hs256_signed_with_the_public_key_and_a_real_kid_is_refused(cognito: LocalCognito) -> None:
    """The algorithm-confusion attack: the public key used as an HMAC secret."""
    import hashlib
    import hmac

    public = json.dumps(cognito.signer.jwks()["keys"][0]).encode()
    header = {"alg": "HS256", "typ": "JWT", "kid": cognito.signer.kid}
    parts = [
        jwt.utils.base64url_encode(json.dumps(part).encode())
        for part in (header, claims_of(real_id_token(cognito)))
    ]
    signing_input = b".".join(parts)
    signature = hmac.new(public, signing_input, hashlib.sha256).digest()
    token = (signing_input + b"." + jwt.utils.base64url_encode(signature)).decode()
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(token)


def test_an_unknown_kid_is_refused(cognito: LocalCognito) -> None:
    claims = claims_of(real_id_token(cognito))
    private = cognito.signer._private
    token = jwt.encode(claims, private, algorithm="RS256", headers={"kid": "not-a-key-of-ours"})
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(token)


def test_an_unreachable_jwks_refuses_every_token(cognito: LocalCognito) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{probe.getsockname()[1]}"
    pool = cognito.pool
    elsewhere = UserPool(dead, pool.region, pool.user_pool_id, pool.client_id)
    with pytest.raises(Unauthorized):
        TokenVerifier(elsewhere, cognito.session_live).claims(real_id_token(cognito))


def test_a_tampered_signature_is_refused(cognito: LocalCognito) -> None:
    header, payload, signature = real_id_token(cognito).split(".")
    body = json.loads(jwt.utils.base64url_decode(payload))
    body["email"] = "admin@example.com"
    tampered = jwt.utils.base64url_encode(json.dumps(body).encode()).decode()
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(f"{header}.{tampered}.{signature}")


@pytest.mark.parametrize("value", [None, "", "Bearer ", "garbage", "a.b.c"])
def test_missing_or_malformed_tokens_are_refused(cognito: LocalCognito, value: str | None) -> None:
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(value)


def test_a_revoked_refresh_token_ends_its_id_tokens(cognito: LocalCognito) -> None:
    kept, revoked = sign_in(cognito), sign_in(cognito)
    cognito.client.revoke_token(Token=revoked["RefreshToken"], ClientId=cognito.pool.client_id)
    with pytest.raises(Unauthorized, match="signed out"):
        verifier(cognito).claims(revoked["IdToken"])
    with pytest.raises(cognito.client.exceptions.NotAuthorizedException):
        cognito.client.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=cognito.pool.client_id,
            AuthParameters={"REFRESH_TOKEN": revoked["RefreshToken"]},
        )
    assert verifier(cognito).claims(kept["IdToken"])  # the other sign-in stands


def test_a_global_sign_out_ends_every_sign_in_of_the_user(cognito: LocalCognito) -> None:
    cognito.add_user("other@example.com", PASSWORD)
    first, second = sign_in(cognito, "other@example.com"), sign_in(cognito, "other@example.com")
    bystander = sign_in(cognito)
    cognito.client.global_sign_out(AccessToken=first["AccessToken"])
    for tokens in (first, second):
        with pytest.raises(Unauthorized):
            verifier(cognito).claims(tokens["IdToken"])
    assert verifier(cognito).claims(bystander["IdToken"])


def test_a_new_password_by_reset_ends_every_sign_in(cognito: LocalCognito) -> None:
    cognito.add_user("reset@example.com", PASSWORD)
    before = sign_in(cognito, "reset@example.com")
    reset_password(cognito, "reset@example.com")
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(before["IdToken"])


def test_a_users_sub_cannot_be_computed_from_the_email(cognito: LocalCognito) -> None:
    """The old sub was uuid5(a namespace in our source, pool name and email)."""
    import uuid

    sub = claims_of(real_id_token(cognito))["sub"]
    namespace = uuid.UUID("7f0c5d0e-4c1b-4f0e-9a43-5e0f6c2a9b11")
    assert sub != str(uuid.uuid5(namespace, "simplechat-local/user@example.com"))
    uuid.UUID(sub)  # still a UUID, as Cognito's are


def test_a_sign_in_by_sub_ends_with_a_reset_by_email(cognito: LocalCognito) -> None:
    """moto ends the sessions whose username is spelled as the reset's; signed in by the sub,
    a thief's session outlived the victim's new password."""
    cognito.add_user("spelled@example.com", PASSWORD)
    sub = claims_of(sign_in(cognito, "spelled@example.com")["IdToken"])["sub"]
    by_sub = sign_in(cognito, sub)
    reset_password(cognito, "spelled@example.com")
    with pytest.raises(Unauthorized):
        verifier(cognito).claims(by_sub["IdToken"])
    with pytest.raises(cognito.client.exceptions.NotAuthorizedException):
        cognito.client.initiate_auth(
            AuthFlow="REFRESH_TOKEN_AUTH",
            ClientId=cognito.pool.client_id,
            AuthParameters={"REFRESH_TOKEN": by_sub["RefreshToken"]},
        )


def test_revoking_a_refresh_token_ends_its_access_token(cognito: LocalCognito) -> None:
    tokens = sign_in(cognito)
    assert cognito.client.get_user(AccessToken=tokens["AccessToken"])
    cognito.client.revoke_token(Token=tokens["RefreshToken"], ClientId=cognito.pool.client_id)
    with pytest.raises(cognito.client.exceptions.NotAuthorizedException):
        cognito.client.get_user(AccessToken=tokens["AccessToken"])


def test_a_session_answers_only_for_its_own_user(cognito: LocalCognito) -> None:
    """moto took the user from the USERNAME sent with a challenge's answer, not the session."""
    cognito.add_user("temporary@example.com", "Temporary-pass-12", permanent=False)
    started = cognito.client.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=cognito.pool.client_id,
        AuthParameters={"USERNAME": "temporary@example.com", "PASSWORD": "Temporary-pass-12"},
    )
    assert started["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    answered = cognito.client.respond_to_auth_challenge(
        ClientId=cognito.pool.client_id,
        ChallengeName="NEW_PASSWORD_REQUIRED",
        Session=started["Session"],
        ChallengeResponses={"USERNAME": "user@example.com", "NEW_PASSWORD": "Taken-over-123"},
    )
    assert claims_of(answered["AuthenticationResult"]["IdToken"])["email"] == (
        "temporary@example.com"
    )
    assert sign_in(cognito)["IdToken"]  # the other user's password is untouched


def test_each_user_gets_an_authenticator_secret_of_their_own(cognito: LocalCognito) -> None:
    from moto.cognitoidp import models

    cognito.add_user("second@example.com", PASSWORD)
    secrets = {
        cognito.client.associate_software_token(AccessToken=sign_in(cognito, who)["AccessToken"])[
            "SecretCode"
        ]
        for who in ("user@example.com", "second@example.com")
    }
    assert len(secrets) == 2
    assert models.COGNITO_TOTP_MFA_SECRET not in secrets


@pytest.fixture(scope="module")
def mfa_required() -> Iterator[LocalCognito]:
    local = LocalCognito(mfa="required")
    local.add_user("enrol@example.com", PASSWORD)
    yield local
    local.stop()


def test_mfa_set_up_needs_a_code_from_the_users_own_authenticator(
    mfa_required: LocalCognito,
) -> None:
    from moto.cognitoidp.utils import cognito_totp

    from simplechat.stack.authenticators import motos_code

    client, app = mfa_required.client, mfa_required.pool.client_id
    started = client.initiate_auth(
        AuthFlow="USER_PASSWORD_AUTH",
        ClientId=app,
        AuthParameters={"USERNAME": "enrol@example.com", "PASSWORD": PASSWORD},
    )
    assert started["ChallengeName"] == "MFA_SETUP"
    with pytest.raises(client.exceptions.NotAuthorizedException):  # skipping the code
        client.respond_to_auth_challenge(
            ClientId=app, ChallengeName="MFA_SETUP", Session=started["Session"]
        )
    associated = client.associate_software_token(Session=started["Session"])
    with pytest.raises(client.exceptions.CodeMismatchException):  # moto's shared secret
        client.verify_software_token(Session=associated["Session"], UserCode=motos_code())
    code = cognito_totp(associated["SecretCode"]).generate(int(time.time())).decode()
    verified = client.verify_software_token(Session=associated["Session"], UserCode=code)
    done = client.respond_to_auth_challenge(
        ClientId=app, ChallengeName="MFA_SETUP", Session=verified["Session"]
    )
    assert verifier(mfa_required).claims(done["AuthenticationResult"]["IdToken"])
