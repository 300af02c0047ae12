"""API keys: every route but /health needs one when keys are configured."""

from __future__ import annotations

import hmac
from collections.abc import Iterable

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from simplechat.api.errors import error_response
from simplechat.api.root_post import ROUTES

#: Always reachable without a key; more can be opened with --open-path (e.g. /metrics).
ALWAYS_OPEN = frozenset({"/health"})


def presented_key(headers: Headers) -> str | None:
    """The key from `Authorization: Bearer <key>` or `X-API-Key: <key>`."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    return headers.get("x-api-key") or None


class KeyChecker:
    """Compares in constant time against every configured key."""

    def __init__(self, keys: Iterable[str]) -> None:
        self._keys = [k.encode() for k in keys]

    @property
    def enabled(self) -> bool:
        return bool(self._keys)

    def accepts(self, key: str) -> bool:
        candidate = key.encode("utf-8", errors="surrogateescape")
        # No early exit: the time taken does not reveal which key nearly matched.
        matches = [hmac.compare_digest(candidate, known) for known in self._keys]
        return any(matches)


class ApiKeyMiddleware:
    """Plain ASGI, so it also guards /docs, /openapi.json and unknown paths."""

    def __init__(
        self, app: ASGIApp, *, checker: KeyChecker, open_paths: frozenset[str] = ALWAYS_OPEN
    ) -> None:
        self.app = app
        self.checker = checker
        self.open_paths = open_paths | ALWAYS_OPEN
        # POST / is answered as one of these routes (root_post.py): open only if all of them are.
        self.root_post_open = all(path in self.open_paths for path in ROUTES.values())

    def _open(self, scope: Scope) -> bool:
        path = path_in_app(scope)
        if path == "/" and scope["method"] == "POST":
            return self.root_post_open
        return path in self.open_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if (
            scope["type"] != "http"
            or not self.checker.enabled
            or self._open(scope)
            or scope["method"] == "OPTIONS"  # CORS preflights carry no credentials
        ):
            await self.app(scope, receive, send)
            return
        key = presented_key(Headers(scope=scope))
        if key is None:
            message = "Missing API key. Send 'Authorization: Bearer <key>' or 'X-API-Key: <key>'."
        elif not self.checker.accepts(key):
            message = "Invalid API key."
        else:
            await self.app(scope, receive, send)
            return
        response = error_response(
            401, message, code="invalid_api_key", headers={"WWW-Authenticate": "Bearer"}
        )
        await response(scope, receive, send)


def path_in_app(scope: Scope) -> str:
    """The path as this app names it: mounted (the stack's /llm), Starlette keeps the full
    path in `path` and the mount's prefix in `root_path`."""
    path, root = scope["path"], scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return str(path)
