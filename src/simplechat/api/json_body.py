"""Every request body is read as JSON, whatever Content-Type came with it.

Clients from tutorials often send JSON without saying so: `curl -d` and Python's urllib (with
`data=` and no headers) label it `application/x-www-form-urlencoded`, and FastAPI would then
hand the routes raw bytes. The API takes nothing but JSON, so the label adds nothing: a body that
is not JSON is refused with a message saying what to send. A web page gets no such leniency:
cross_site.py refuses a browser's (`Origin`) non-JSON write before it gets here.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send

JSON = b"application/json"


class JsonBodyMiddleware:
    """Labels every request body `application/json` before FastAPI parses it."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT", "PATCH"):
            # In place: the middlewares outside read what the router records in this scope.
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            scope["headers"] = [*headers, (b"content-type", JSON)]
        await self.app(scope, receive, send)
