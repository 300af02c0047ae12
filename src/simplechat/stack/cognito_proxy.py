"""The web UI's way to the local user pool: the stack's own `/cognito`, never moto's port.

The browser makes the calls Cognito lets anyone make (sign-up, sign-in, reset, MFA set-up,
sign-out); each is passed to moto with this process's secret. Admin calls (AdminSetUserPassword,
ListUsers, ...) are refused here, so whoever reaches the stack cannot manage its users.
"""

from __future__ import annotations

import json

import httpx
from fastapi import Request, Response
from fastapi.responses import JSONResponse

from simplechat.stack.cognito import ADMIN_SECRET_HEADER

COGNITO_PREFIX = "/cognito"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
#: What the UI calls, and what Cognito's public (unsigned) API offers a signed-in user.
PUBLIC_ACTIONS = frozenset(
    {
        "SignUp",
        "ConfirmSignUp",
        "ResendConfirmationCode",
        "ForgotPassword",
        "ConfirmForgotPassword",
        "InitiateAuth",
        "RespondToAuthChallenge",
        "AssociateSoftwareToken",
        "VerifySoftwareToken",
        "SetUserMFAPreference",
        "GetUser",
        "GlobalSignOut",
        "RevokeToken",
    }
)
#: A Cognito request is small; this is far above any of them.
MAX_BODY_BYTES = 64 * 1024
#: Sign-in flows the page uses. moto checks no password in USER_SRP_AUTH (and no signature in
#: its PASSWORD_VERIFIER step): open to the web, they signed anyone in as anyone.
AUTH_FLOWS = frozenset({"USER_PASSWORD_AUTH", "REFRESH_TOKEN_AUTH"})
CHALLENGES = frozenset({"NEW_PASSWORD_REQUIRED", "SOFTWARE_TOKEN_MFA", "MFA_SETUP"})


def cognito_error(status: int, code: str, message: str) -> Response:
    return JSONResponse(
        {"__type": code, "message": message},
        status,
        media_type="application/x-amz-json-1.1",
    )


async def forward(
    request: Request, client: httpx.AsyncClient, endpoint: str, admin_secret: str
) -> Response:
    """One Cognito call from the page, passed on if the public API has it."""
    action = request.headers.get("x-amz-target", "")
    if request.method != "POST" or not action.startswith(TARGET_PREFIX):
        return cognito_error(400, "InvalidAction", "Send Cognito calls as POST with X-Amz-Target.")
    name = action.removeprefix(TARGET_PREFIX)
    if name not in PUBLIC_ACTIONS:
        return cognito_error(
            400, "NotAuthorizedException", f"{name} is not open to the web; only the stack uses it."
        )
    body = await request.body()
    if len(body) > MAX_BODY_BYTES:
        return cognito_error(413, "InvalidParameterException", "The request is too large.")
    refusal = step_refusal(name, body)
    if refusal is not None:
        return cognito_error(400, "InvalidParameterException", refusal)
    reply = await client.post(
        endpoint,
        content=body,
        headers={
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": action,
            ADMIN_SECRET_HEADER: admin_secret,
        },
    )
    return Response(
        reply.content,
        reply.status_code,
        media_type=reply.headers.get("content-type", "application/x-amz-json-1.1"),
    )


def step_refusal(action: str, body: bytes) -> str | None:
    """Why a sign-in step is not open to the web (None: it is)."""
    if action not in ("InitiateAuth", "RespondToAuthChallenge"):
        return None
    try:
        request = json.loads(body or b"{}")
    except ValueError:
        return "The request body is not JSON."
    if not isinstance(request, dict):
        return "The request body is not a JSON object."
    if action == "InitiateAuth" and request.get("AuthFlow") not in AUTH_FLOWS:
        return f"AuthFlow must be one of {', '.join(sorted(AUTH_FLOWS))}."
    if action == "RespondToAuthChallenge" and request.get("ChallengeName") not in CHALLENGES:
        return f"ChallengeName must be one of {', '.join(sorted(CHALLENGES))}."
    return None
