"""Who may use the local stack from a browser: only pages it serves itself, by a name it serves.

Two attacks on a stack on 127.0.0.1 come through the user's own browser. A page on any site can
send requests to it (CORS hides the answer, not the work; a form or a `text/plain` POST needs no
preflight), and DNS rebinding makes a hostile name resolve to 127.0.0.1 so that its page is
"same-origin" with the stack. So every request must name a host the stack serves (`Host`), and
the API (`/api`, `/llm`, `/cognito`, `/metrics`) refuses requests a browser marks as coming from
another origin (`Origin`, `Sec-Fetch-Site`). Clients that are not browsers send neither header
(curl, Python's urllib, the course's Lambdas) and are answered as before.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from urllib.parse import urlsplit

from starlette.types import ASGIApp, Receive, Scope, Send

from simplechat.api.cross_site import cannot_be_rebound, host_name

#: Paths that act or read data: closed to other origins. The UI's own files are not.
API_PATHS = ("/api", "/llm", "/cognito", "/metrics")
#: `Sec-Fetch-Site` values of a request the stack's own page (or the user, typing) made.
OWN_FETCH_SITES = frozenset({"same-origin", "none"})


class RequestGuard:
    """ASGI middleware: unknown `Host` -> 400; a cross-origin request to the API -> 403.

    An IP address is always a name the stack serves (rebinding needs a name); `localhost` too;
    other names only when given (`--allowed-host`, e.g. a LAN name or a proxy's domain).
    """

    def __init__(self, app: ASGIApp, *, allowed_hosts: Collection[str] = ()) -> None:
        self.app = app
        self.allowed_names = {h.strip().lower() for h in allowed_hosts}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1"): v.decode("latin-1") for k, v in scope["headers"]}
        host = headers.get("host", "")
        name = host_name(host)
        if not (cannot_be_rebound(host) or name in self.allowed_names):
            await refuse(
                send,
                400,
                f"This server does not answer for the host name {name!r}. If you reach it by "
                f"that name on purpose, start it with --allowed-host {name or 'NAME'}.",
            )
            return
        path = scope.get("path", "")
        if path.startswith(API_PATHS) and is_cross_origin(headers, host):
            await refuse(
                send,
                403,
                "Requests from other websites are refused: use the chat app's own page, or call "
                "the API from a program (no browser Origin).",
            )
            return
        await self.app(scope, receive, send)


def is_cross_origin(headers: dict[str, str], host: str) -> bool:
    origin = headers.get("origin")
    if origin is not None:
        # "null" (a sandboxed frame, a file: page) is no origin of ours either.
        return urlsplit(origin).netloc.lower() != host.strip().lower()
    fetch_site = headers.get("sec-fetch-site")
    return fetch_site is not None and fetch_site not in OWN_FETCH_SITES


async def refuse(send: Send, status: int, message: str) -> None:
    body = json.dumps({"message": message}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"vary", b"Origin"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
