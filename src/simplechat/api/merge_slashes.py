"""Repeated slashes in a path count as one (`//generate` is `/generate`), as nginx's default
`merge_slashes` does: a base URL ending in `/` joined to a path starting with `/` still works."""

from __future__ import annotations

import re

from starlette.types import ASGIApp, Receive, Scope, Send

_REPEATED = re.compile(r"/{2,}")
_REPEATED_BYTES = re.compile(rb"/{2,}")


class MergeSlashesMiddleware:
    """Outermost, so that the key check, the metrics and the router all see the merged path."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket") and "//" in scope["path"]:
            # A copy: the access log still shows the path as the client sent it. The query string
            # is apart from both paths and is left as it came.
            scope = {**scope, "path": _REPEATED.sub("/", scope["path"])}
            raw_path = scope.get("raw_path")
            if raw_path is not None:
                scope["raw_path"] = _REPEATED_BYTES.sub(b"/", raw_path)
        await self.app(scope, receive, send)
