"""The web UI's way to the local user pool: the stack's own `/cognito`, never moto's port.

The browser makes the calls Cognito lets anyone make (sign-up, sign-in, reset, MFA set-up,
sign-out); each is passed to moto with this process's secret. Admin calls (AdminSetUserPassword,
ListUsers, ...) are refused here, so whoever reaches the stack cannot manage its users.
"""

from __future__ import annotations

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
