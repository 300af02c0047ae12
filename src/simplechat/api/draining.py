"""While the server drains, /health says so and new requests get 503 with Retry-After."""

from __future__ import annotations

from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from simplechat.api.errors import error_response
from simplechat.draining import Drain


class DrainingMiddleware:
    def __init__(self, app: ASGIApp, *, drain: Drain) -> None:
        self.app = app
        self.drain = drain

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.drain.draining:
            await self.app(scope, receive, send)
            return
        if scope["path"] == "/health":
            response = JSONResponse({"status": "draining"}, 503, headers={"Retry-After": "5"})
        else:
            response = error_response(
                503,
                "The server is shutting down and takes no new requests. Retry shortly.",
                code="shutting_down",
                headers={"Retry-After": "5"},
            )
        await response(scope, receive, send)
