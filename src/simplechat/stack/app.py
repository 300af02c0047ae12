"""The local stack's one ASGI app: UI files, /config.js, the local API Gateway, and the LLM API."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from simplechat.stack.cognito import TokenVerifier, Unauthorized, UserPool
from simplechat.stack.first_run import ModelInfo
from simplechat.stack.local_gateway import LambdaHandler, LocalLambdaContext, rest_event
from simplechat.stack.paths import ROOT

#: Where the inference API is mounted; the gateway calls it over HTTP like any upstream.
LLM_PREFIX = "/llm"
#: The UI's apiEndpoint: it posts to {apiEndpoint}/chat, as on AWS.
API_PREFIX = "/api"
#: The READMEs the guide page may show.
GUIDE_FILES = frozenset({"README.md", "README.ja.md"})
#: API Gateway's own limit on a request body.
MAX_EVENT_BYTES = 10 * 1024 * 1024


def config_js(pool: UserPool | None, language: str, model: ModelInfo | None = None) -> str:
    auth: dict[str, Any] = {"type": "none"}
    if pool is not None:
        auth = {
            "type": "cognito",
            "endpoint": pool.endpoint,
            "region": pool.region,
            "userPoolId": pool.user_pool_id,
            "clientId": pool.client_id,
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
    lambda_handler: LambdaHandler,
    web_dir: Path,
    pool: UserPool | None = None,
    language: str = "auto",
    lambda_timeout_seconds: float = 30.0,
    model: ModelInfo | None = None,
) -> FastAPI:
    app = FastAPI(title="simplechat local stack", docs_url=None, redoc_url=None, openapi_url=None)
    verifier = TokenVerifier(pool) if pool is not None else None
    script = config_js(pool, language, model)

    @app.get("/guide/{name}", include_in_schema=False)
    async def guide(name: str) -> Response:
        # The README, for the UI's guide page (web/guide.html renders it).
        if name not in GUIDE_FILES or not (ROOT / name).is_file():
            return JSONResponse({"message": "Not Found"}, 404)
        text = (ROOT / name).read_text(encoding="utf-8")
        return Response(text, media_type="text/markdown; charset=utf-8")

    @app.get("/config.js", include_in_schema=False)
    async def runtime_config() -> Response:
        return Response(script, media_type="text/javascript", headers={"Cache-Control": "no-store"})

    @app.api_route(
        f"{API_PREFIX}/chat", methods=["POST", "OPTIONS", "GET"], include_in_schema=False
    )
    async def local_api_gateway(request: Request) -> Response:
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
        event = rest_event(
            method=request.method,
            path="/chat",
            headers=dict(request.headers),
            query=dict(request.query_params),
            body=body,
            claims=claims,
        )
        context = LocalLambdaContext(lambda_timeout_seconds)
        result = await run_in_threadpool(lambda_handler, event, context)
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else raw.encode("utf-8")
        return Response(data, status_code=int(result["statusCode"]), headers=result.get("headers"))

    if llm_app is not None:
        app.mount(LLM_PREFIX, llm_app)
    app.mount("/", StaticFiles(directory=web_dir, html=True), name="web")
    return app
