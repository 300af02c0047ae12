"""`POST /`: answered by the route its body's shape names (/chat, /generate or OpenAI's chat).

Some students' servers answered at the bare URL, so their Lambdas post there. The body is read
(inside the body limit, the key and cross-site checks), its shape picks the route, and the request
goes through the router again with that path: the same validation, handler, errors and metrics as
a request sent there. The answer says which route it was in `X-Simplechat-Route`.
"""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

from starlette.routing import get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simplechat.api.course_protocol import ChatRequest, GenerateRequest
from simplechat.api.errors import error_response
from simplechat.api.openai_protocol import ChatCompletionRequest

#: The field that names each shape, and the route that answers it.
ROUTES = {"message": "/chat", "prompt": "/generate", "messages": "/v1/chat/completions"}
ROUTE_HEADER = b"x-simplechat-route"
#: For request_metrics.py: a refused `POST /` is counted under "/", not as an unmatched path.
_ROOT = SimpleNamespace(path="/")
_NOT_JSON = object()

SHAPES = (
    'Send one of: {"message": "...", "conversationHistory": [...]} (answered as POST /chat), '
    '{"prompt": "..."} (as POST /generate), or {"messages": [{"role": "user", "content": '
    '"..."}]} (as POST /v1/chat/completions). Or post to that route itself.'
)


#: What each route takes, for the OpenAPI schema.
_BODIES = (ChatRequest, GenerateRequest, ChatCompletionRequest)


def document(schema: dict[str, Any]) -> None:
    """Adds `POST /` to an OpenAPI schema: it has no route of its own, and takes and answers
    what the three routes do."""
    paths = schema.get("paths", {})
    targets = [paths.get(path, {}).get("post") for path in ROUTES.values()]
    if not all(targets):
        return
    responses: dict[str, Any] = {}
    for target in targets:
        responses.update(target["responses"])
    answers = [t["responses"]["200"]["content"]["application/json"]["schema"] for t in targets]
    ref = "#/components/schemas/"
    responses["200"] = {
        "description": "What the route the body names answers (JSON, or server-sent events "
        "where that route streams); `X-Simplechat-Route` names it",
        "headers": {
            "X-Simplechat-Route": {"schema": {"type": "string", "enum": list(ROUTES.values())}}
        },
        "content": {"application/json": {"schema": {"anyOf": answers}}, "text/event-stream": {}},
    }
    paths.setdefault("/", {})["post"] = {
        "tags": ["meta"],
        "summary": "Answered as the route the body's shape names",
        "description": "`message` → `/chat`, `prompt` → `/generate`, `messages` → "
        "`/v1/chat/completions`. A body with more than one of these fields, or none, is a 400.",
        "operationId": "root_post",
        "requestBody": {
            "content": {
                "application/json": {
                    "schema": {"anyOf": [{"$ref": ref + m.__name__} for m in _BODIES]}
                }
            },
            "required": True,
        },
        "responses": responses,
    }


def route_for(data: Any) -> str | None:
    """The route a parsed body's shape names; None when it names none, or more than one."""
    if not isinstance(data, dict):
        return None
    named = [path for field, path in ROUTES.items() if field in data]
    return named[0] if len(named) == 1 else None


def _refusal(body: bytes, data: Any) -> str:
    fields = [field for field in ROUTES if field in data] if isinstance(data, dict) else []
    if len(fields) > 1:
        named = " and ".join(f"'{field}'" for field in fields)
        return f"POST / cannot tell which route you meant: the body has {named}. {SHAPES}"
    if data is _NOT_JSON:
        return f"The request body is not valid JSON. {SHAPES}"
    return f"POST / answers as the route its body's shape names; this body names none. {SHAPES}"


async def _read_body(receive: Receive) -> bytes | None:
    """The whole body (the body limit outside has bounded it); None if the client left."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


def _allowing_post(send: Send) -> Send:
    """A 405 on `/` (PUT, say) lists POST beside GET in its `Allow`: the router knows only GET."""

    async def sending(message: Message) -> None:
        if message["type"] == "http.response.start" and message["status"] == 405:
            headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"allow"]
            message = {**message, "headers": [*headers, (b"allow", b"GET, POST")]}
        await send(message)

    return sending


class RootPostMiddleware:
    """Innermost: every other middleware has seen the request as the `POST /` it is."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or get_route_path(scope) != "/":
            await self.app(scope, receive, send)
            return
        if scope["method"] != "POST":
            await self.app(scope, receive, _allowing_post(send))
            return
        body = await _read_body(receive)
        if body is None:
            return  # nobody is listening
        try:
            data = json.loads(body) if body.strip() else None
        except (ValueError, RecursionError):
            data = _NOT_JSON
        path = route_for(data)
        if path is None:
            scope["route"] = _ROOT
            refusal = error_response(400, _refusal(body, data), code="unknown_body_shape")
            await refusal(scope, receive, send)
            return
        full_path = scope.get("root_path", "") + path
        # A copy: the access log still shows the `POST /` the client sent.
        routed = {**scope, "path": full_path, "raw_path": full_path.encode()}
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()  # a disconnect, for the route's own watch
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        async def naming_the_route(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (ROUTE_HEADER, path.encode())]
                message = {**message, "headers": headers}
            await send(message)

        try:
            await self.app(routed, replay, naming_the_route)
        finally:
            # Counted under the route that answered (request_metrics.py reads this scope).
            if "route" in routed:
                scope["route"] = routed["route"]
