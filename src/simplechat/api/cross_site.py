"""Browsers on other sites: their writes are refused before anything reads the body.

CORS only hides an answer from the page; a "simple" request (a `text/plain` POST, an HTML form)
is sent without a preflight and would still make the model work, for any page the user opens.
Every browser marks such a request with `Origin` (and `Sec-Fetch-Site`); curl, urllib, requests
and the course's Lambdas send neither, so they are answered exactly as before.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from urllib.parse import urlsplit

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Receive, Scope, Send

from simplechat.api.errors import error_response

#: Methods that change something or start work; GET and HEAD only read, OPTIONS is CORS's own.
WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def is_json(content_type: str) -> bool:
    media_type = content_type.partition(";")[0].strip().lower()
    return media_type == "application/json" or (
        media_type.startswith("application/") and media_type.endswith("+json")
    )


def host_name(host: str) -> str:
    """The name in a `Host` header (`[::1]:8000` -> `::1`); "" for one that is not a host."""
    try:
        return urlsplit(f"//{host.strip()}").hostname or ""
    except ValueError:  # e.g. an unclosed "[": no name we serve
        return ""


def cannot_be_rebound(host: str) -> bool:
    """An IP literal or localhost: no other site's DNS name can point a browser at it."""
    name = host_name(host)
    if name == "localhost":
        return True
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class CrossSiteMiddleware:
    """403 for a write from a page on another site, 415 for a browser's write that is not JSON."""

    def __init__(self, app: ASGIApp, *, allowed_origins: Iterable[str], keyed: bool) -> None:
        self.app = app
        origins = frozenset(allowed_origins)
        self.any_origin = "*" in origins
        self.origins = origins - {"*"}
        # With keys, a page that reached us through a DNS name it controls still has no key.
        self.keyed = keyed

    def _allowed(self, origin: str | None, fetch_site: str | None, host: str) -> bool:
        if self.any_origin:
            return True
        if origin is None:  # not a browser, or a same-site one that sent no Origin
            return fetch_site != "cross-site"
        if origin in self.origins:
            return True
        # The server's own pages (/docs): same origin, on a host no other site can rebind.
        same_origin = origin != "null" and urlsplit(origin).netloc.lower() == host.lower()
        return same_origin and (self.keyed or cannot_be_rebound(host))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in WRITES:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = headers.get("origin")
        if not self._allowed(origin, headers.get("sec-fetch-site"), headers.get("host", "")):
            shown = origin if origin is not None else "another site"
            message = (
                f"Requests from web pages on other sites ({shown}) are refused, so that a page "
                "cannot use this model behind your back. To call the API from your own web app, "
                "start the server with --cors-origin https://your.app (or "
                "SIMPLECHAT_CORS_ORIGINS); programs that send no Origin header are not affected."
            )
            await error_response(403, message, code="cross_site_request")(scope, receive, send)
            return
        if origin is not None and not is_json(headers.get("content-type", "")):
            message = (
                "A request from a web page must send a JSON body with the header "
                "Content-Type: application/json."
            )
            await error_response(415, message, code="unsupported_media_type")(scope, receive, send)
            return
        await self.app(scope, receive, send)
