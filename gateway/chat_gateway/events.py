"""API Gateway REST (v1), HTTP API (v2) and function URL events, read into one request shape."""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any

from chat_gateway.errors import bad_request

#: The one user of a local stack without sign-in (LOCAL_SINGLE_USER=true); anywhere else a
#: request without a `sub` is refused before any store is read (handler.py).
LOCAL_USER = "local"


@dataclass(frozen=True)
class HttpRequest:
    method: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    request_id: str
    user_sub: str
    path: str = "/chat"
    query: dict[str, str] = field(default_factory=dict)

    @property
    def origin(self) -> str:
        return self.headers.get("origin", "")

    @property
    def user(self) -> str:
        """Whose conversations and usage: the authorizer's `sub`, or the one local user of a
        stack without sign-in (the gateway refuses a request without `sub` where a store is
        configured and LOCAL_SINGLE_USER is not set)."""
        return self.user_sub or LOCAL_USER


def claims_of(context: dict[str, Any]) -> dict[str, Any]:
    authorizer = context.get("authorizer") or {}
    # REST + Cognito authorizer: authorizer.claims; HTTP API JWT authorizer: authorizer.jwt.claims
    claims = authorizer.get("claims") or (authorizer.get("jwt") or {}).get("claims") or {}
    return claims if isinstance(claims, dict) else {}


def parse_event(event: Any) -> HttpRequest:
    """Read any of the three event shapes; a malformed event is a 400, never a crash."""
    if not isinstance(event, dict):
        raise bad_request("The request could not be read (not an HTTP event).")
    context = event.get("requestContext") or {}
    if not isinstance(context, dict):
        context = {}
    if event.get("version") == "2.0":  # HTTP API and function URLs
        method = str((context.get("http") or {}).get("method", ""))
    else:
        method = str(event.get("httpMethod", ""))
    headers = {str(k).lower(): str(v) for k, v in (event.get("headers") or {}).items()}
    raw = event.get("body")
    if raw is None:
        body = b""
    elif not isinstance(raw, str):
        raise bad_request("The request body could not be read.")
    elif event.get("isBase64Encoded"):
        try:
            body = base64.b64decode(raw, validate=True)
        except (binascii.Error, ValueError):
            raise bad_request(
                "The request body is marked base64 but is not valid base64."
            ) from None
    else:
        body = raw.encode("utf-8", errors="surrogatepass")
    return HttpRequest(
        method=method.upper(),
        headers=headers,
        body=body,
        request_id=str(context.get("requestId", "")),
        user_sub=str(claims_of(context).get("sub", "")),
        path=str(event.get("path") or event.get("rawPath") or "/chat"),
        query=_query(event.get("queryStringParameters")),
    )


def _query(raw: Any) -> dict[str, str]:
    if not isinstance(raw, dict):
        return {}
    return {str(k): str(v) for k, v in raw.items() if v is not None}
