"""The local stack's one ASGI app: UI files, /config.js, the local API Gateway, and the LLM API."""

from __future__ import annotations

import json
import logging
import re
import secrets
from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse, StreamingResponse
from fastapi.staticfiles import StaticFiles
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from simplechat.stack.cognito import TokenVerifier, Unauthorized, UserPool
from simplechat.stack.cognito_proxy import COGNITO_PREFIX, forward
from simplechat.stack.first_run import ModelInfo
from simplechat.stack.local_gateway import (
    ADAPTER_SECRET_HEADER,
    METRICS_USERS_HEADER,
    request_context,
)
from simplechat.stack.paths import ROOT
from simplechat.stack.request_guard import RequestGuard

if TYPE_CHECKING:
    from simplechat.stack.cognito import LocalCognito

# One line per proxied request would double the access log (uvicorn logs the browser's).
logging.getLogger("httpx").setLevel(logging.WARNING)

#: Where the inference API is mounted; the gateway calls it over HTTP like any upstream.
LLM_PREFIX = "/llm"
#: The UI's apiEndpoint: it posts to {apiEndpoint}/chat, as on AWS.
API_PREFIX = "/api"
#: The READMEs the guide page may show.
GUIDE_FILES = frozenset({"README.md", "README.ja.md"})
#: Besides them: the docs pages the READMEs link to, and their images.
GUIDE_DOCS = re.compile(r"docs/(?:[A-Za-z0-9_-]+(?:\.ja)?\.md|images/[A-Za-z0-9_.-]+\.(?:png|svg))")
GUIDE_TYPES = {
    ".md": "text/markdown; charset=utf-8",
    ".png": "image/png",
    ".svg": "image/svg+xml",
}
#: API Gateway's own limit on a request body.
MAX_EVENT_BYTES = 10 * 1024 * 1024
#: The routes under {apiEndpoint} (as the CDK app deploys them), after "/chat"; and
#: /conversations, /conversations/{id}.
API_ROUTES = frozenset({"", "/cancel"})
#: Headers about one connection, not the request: never passed on by a proxy.
HOP_BY_HOP = frozenset(
    {"host", "connection", "keep-alive", "transfer-encoding", "content-length", "upgrade", "te"}
)
#: Headers only the stack may set on the way to the gateway: a browser's are dropped.
STACK_ONLY = frozenset({"x-amzn-request-context", ADAPTER_SECRET_HEADER, METRICS_USERS_HEADER})


def missing_route() -> Response:
    """What API Gateway answers for a path it has no resource for."""
    return JSONResponse({"message": "Missing Authentication Token"}, 403)


def config_js(pool: UserPool | None, language: str, model: ModelInfo | None = None) -> str:
    auth: dict[str, Any] = {"type": "none"}
    if pool is not None:
        auth = {
            "type": "cognito",
            # The stack's own path to the pool (cognito_proxy), not moto's port.
            "endpoint": COGNITO_PREFIX + "/",
            "region": pool.region,
            "userPoolId": pool.user_pool_id,
            "clientId": pool.client_id,
            **pool.ui_settings(),
        }
    settings: dict[str, Any] = {"apiEndpoint": API_PREFIX, "language": language, "auth": auth}
    if model is not None:
        settings["model"] = model.as_config()
    return f"window.SIMPLECHAT_CONFIG = {json.dumps(settings, indent=2)};\n"


async def body_within(request: Request, limit: int) -> bytes | None:
    """The request body, or None once it passes `limit` bytes (declared or, if chunked, counted)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_stack_app(
    *,
    llm_app: FastAPI | None,
    gateway_url: str,
    web_dir: Path,
    cognito: LocalCognito | None = None,
    language: str = "auto",
    model: ModelInfo | None = None,
    adapter_secret: str = "",
    allowed_hosts: Collection[str] = (),
    operator_keys: Collection[str] = (),
) -> FastAPI:
    """`gateway_url`: the gateway server (chat_gateway.server), as the adapter reaches it, with
    `adapter_secret` (its ADAPTER_SECRET). `allowed_hosts`: host names served besides IP
    addresses and localhost. `operator_keys`: the API keys that may see per-user metrics."""
    # No read timeout: a stream is long, and the gateway sends keep-alives while it is quiet.
    client = httpx.AsyncClient(timeout=httpx.Timeout(None, connect=5.0))

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        await client.aclose()

    app = FastAPI(
        title="simplechat local stack",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    pool = cognito.pool if cognito is not None else None
    verifier = TokenVerifier(cognito.pool, cognito.session_live) if cognito is not None else None
    script = config_js(pool, language, model)

    @app.get("/guide/{name:path}", include_in_schema=False)
    async def guide(name: str) -> Response:
        # The README and the docs it links to, for the UI's guide page (web/guide.html renders
        # them): only these names, so no path reaches outside them.
        if not (name in GUIDE_FILES or GUIDE_DOCS.fullmatch(name)) or not (ROOT / name).is_file():
            return JSONResponse({"message": "Not Found"}, 404)
        media_type = GUIDE_TYPES[Path(name).suffix]
        # An SVG is an image here, never a document that runs script.
        headers = {"Content-Security-Policy": "script-src 'none'"}
        return Response((ROOT / name).read_bytes(), media_type=media_type, headers=headers)

    @app.get("/config.js", include_in_schema=False)
    async def runtime_config() -> Response:
        return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    async def local_api_gateway(request: Request, path: str) -> Response:
        body = await body_within(request, MAX_EVENT_BYTES)
        if body is None:
            return JSONResponse({"message": "Request Too Long"}, 413)
        claims = None
        if verifier is not None and request.method != "OPTIONS":
            # As API Gateway's Cognito authorizer: no valid ID token, no Lambda call.
            try:
                claims = await run_in_threadpool(
                    verifier.claims, request.headers.get("authorization")
                )
            except Unauthorized:
                return JSONResponse({"message": "Unauthorized"}, 401)
        headers = {
            k: v
            for k, v in request.headers.items()
            if k.lower() not in HOP_BY_HOP and k.lower() not in STACK_ONLY
        }
        headers["x-amzn-request-context"] = json.dumps(
            request_context(path, request.method, claims)
        )
        headers[ADAPTER_SECRET_HEADER] = adapter_secret
        target = gateway_url.rstrip("/") + path
        if request.url.query:
            target += "?" + request.url.query
        upstream = client.build_request(request.method, target, headers=headers, content=body)
        try:
            reply = await client.send(upstream, stream=True)
        except httpx.HTTPError:
            return JSONResponse({"message": "Internal server error"}, 502)  # as AWS says
        kept = {k: v for k, v in reply.headers.items() if k.lower() not in HOP_BY_HOP}
        # Passed on as it arrives (a stream's events, or a JSON body); a browser that leaves
        # closes the gateway's connection, as the adapter does when its invoke ends.
        return StreamingResponse(
            reply.aiter_raw(),
            status_code=reply.status_code,
            headers=kept,
            background=BackgroundTask(reply.aclose),
        )

    @app.api_route(
        f"{API_PREFIX}/chat{{rest:path}}",
        methods=["POST", "OPTIONS", "GET"],
        include_in_schema=False,
    )
    async def chat_routes(request: Request, rest: str) -> Response:
        if rest not in API_ROUTES:
            return missing_route()
        return await local_api_gateway(request, "/chat" + rest)

    @app.get("/metrics", include_in_schema=False)
    async def gateway_metrics(request: Request) -> Response:
        # The gateway's counts (requests by status, throttled by limit, tokens by user, time to
        # first token): what the CDK app's dashboard shows on AWS. The model's are /llm/metrics.
        # Users' ids only for the operator (an API key): they are what a token would claim.
        headers = {ADAPTER_SECRET_HEADER: adapter_secret}
        if is_operator(request.headers.get("authorization"), operator_keys):
            headers[METRICS_USERS_HEADER] = "1"
        reply = await client.get(gateway_url.rstrip("/") + "/metrics", headers=headers)
        return Response(reply.content, reply.status_code, media_type=reply.headers["content-type"])

    if cognito is not None:
        moto = cognito.endpoint.rstrip("/") + "/"

        @app.api_route(f"{COGNITO_PREFIX}/", methods=["POST", "GET"], include_in_schema=False)
        async def cognito_route(request: Request) -> Response:
            return await forward(request, client, moto, cognito.admin_secret)

    @app.api_route(f"{API_PREFIX}/usage", methods=["GET", "OPTIONS"], include_in_schema=False)
    async def usage_route(request: Request) -> Response:
        return await local_api_gateway(request, "/usage")

    @app.api_route(
        f"{API_PREFIX}/conversations{{rest:path}}",
        methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"],
        include_in_schema=False,
    )
    async def conversation_routes(request: Request, rest: str) -> Response:
        parts = rest.split("/")[1:]  # only /conversations[/{id}[/title]]
        if len(parts) > 2 or "" in parts or parts[1:] not in ([], ["title"]):
            return missing_route()
        return await local_api_gateway(request, "/conversations" + rest)

    @app.api_route(
        f"{API_PREFIX}/presets{{rest:path}}",
        methods=["GET", "POST", "PATCH", "DELETE", "OPTIONS", "PUT"],
        include_in_schema=False,
    )
    async def preset_routes(request: Request, rest: str) -> Response:
        if rest.count("/") > 1 or (rest and len(rest) < 2):  # only /presets[/{id}]
            return missing_route()
        return await local_api_gateway(request, "/presets" + rest)

    if llm_app is not None:
        app.mount(LLM_PREFIX, llm_app)
    app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
    app.add_middleware(RequestGuard, allowed_hosts=allowed_hosts)
    return app


def is_operator(authorization: str | None, keys: Collection[str]) -> bool:
    given = (authorization or "").removeprefix("Bearer ").strip().encode()
    return bool(given) and any(secrets.compare_digest(given, key.encode()) for key in keys)
