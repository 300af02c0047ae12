"""The page's way to the local user pool lets through Cognito's public calls, and no more."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from simplechat.stack.app import create_stack_app
from simplechat.stack.cognito import LocalCognito
from tests.stack.conftest import PASSWORD


@pytest.fixture
def client(cognito: LocalCognito, tmp_path: Path) -> Iterator[TestClient]:
    app = create_stack_app(
        llm_app=None,
        gateway_url="http://127.0.0.1:9",
        web_dir=tmp_path,
        cognito=cognito,
        allowed_hosts=("testserver",),
    )
    with TestClient(app) as test_client:
        yield test_client


def call(client: TestClient, action: str, body: dict[str, object]) -> tuple[int, dict[str, str]]:
    reply = client.post(
        "/cognito/",
        content=json.dumps(body),
        headers={
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": f"AWSCognitoIdentityProviderService.{action}",
        },
    )
    return reply.status_code, reply.json()


def test_a_password_sign_in_passes(client: TestClient, cognito: LocalCognito) -> None:
    status, body = call(
        client,
        "InitiateAuth",
        {
            "AuthFlow": "USER_PASSWORD_AUTH",
            "ClientId": cognito.pool.client_id,
            "AuthParameters": {"USERNAME": "user@example.com", "PASSWORD": PASSWORD},
        },
    )
    assert status == 200 and "IdToken" in json.dumps(body)


def test_the_passwordless_srp_path_of_moto_is_closed(
    client: TestClient, cognito: LocalCognito
) -> None:
    """moto's USER_SRP_AUTH checks no password: with it, anyone signed in as anyone."""
    status, body = call(
        client,
        "InitiateAuth",
        {
            "AuthFlow": "USER_SRP_AUTH",
            "ClientId": cognito.pool.client_id,
            "AuthParameters": {"USERNAME": "user@example.com", "SRP_A": "x"},
        },
    )
    assert status == 400 and "AuthFlow must be one of" in body["message"]
    status, body = call(
        client,
        "RespondToAuthChallenge",
        {
            "ClientId": cognito.pool.client_id,
            "ChallengeName": "PASSWORD_VERIFIER",
            "ChallengeResponses": {"USERNAME": "user@example.com"},
        },
    )
    assert status == 400 and "ChallengeName must be one of" in body["message"]


@pytest.mark.parametrize("action", ["AdminSetUserPassword", "ListUsers", "AdminCreateUser"])
def test_admin_calls_are_refused(client: TestClient, cognito: LocalCognito, action: str) -> None:
    status, body = call(client, action, {"UserPoolId": cognito.pool.user_pool_id})
    assert status == 400 and "not open to the web" in body["message"]
