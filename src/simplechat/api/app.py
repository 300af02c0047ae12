"""Builds the FastAPI application around one loaded engine."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from simplechat import __version__
from simplechat.api import routes_course, routes_meta, routes_openai
from simplechat.api.auth import ALWAYS_OPEN, ApiKeyMiddleware, KeyChecker
from simplechat.api.body_limit import BodyLimitMiddleware
from simplechat.api.cross_site import CrossSiteMiddleware
from simplechat.api.draining import DrainingMiddleware
from simplechat.api.errors import install_error_handlers
from simplechat.api.json_body import JsonBodyMiddleware
from simplechat.api.merge_slashes import MergeSlashesMiddleware
from simplechat.api.openapi import build_openapi
from simplechat.api.request_metrics import RequestMetricsMiddleware
from simplechat.api.root_post import RootPostMiddleware
from simplechat.draining import Drain
from simplechat.engines.base import Engine
from simplechat.generations import Generations
from simplechat.metrics import Metrics
from simplechat.service import ChatService
from simplechat.settings import Settings

DESCRIPTION = (
    "Your own LLM behind a chat app. `/chat` is the course seed's contract, `/generate` the "
    "course's Colab server, `/v1/*` is OpenAI-compatible. Errors always come as "
    '`{"error": {"message", "type", "param", "code"}}`.'
)


def create_app(settings: Settings, engine: Engine, drain: Drain | None = None) -> FastAPI:
    """The API over an already loaded engine; the caller owns the engine's lifetime."""
    app = FastAPI(title="simplechat", version=__version__, description=DESCRIPTION)
    app.state.settings = settings
    app.state.drain = drain = drain or Drain(settings.shutdown_grace_seconds)
    metrics = Metrics()
    app.state.generations = Generations()
    app.state.service = ChatService(
        engine,
        default_max_tokens=settings.default_max_tokens,
        capacity=(settings.max_batch or engine.max_batch) + settings.max_queue,
        time_limit=settings.request_time_limit,
        metrics=metrics,
        system_prompt=settings.system_prompt,
    )
    install_error_handlers(app)
    app.include_router(routes_meta.router)
    app.include_router(routes_course.router)
    app.include_router(routes_openai.router)

    # Innermost: POST / goes through the router again as the route its body names, after every
    # check below has seen it.
    app.add_middleware(RootPostMiddleware)
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(DrainingMiddleware, drain=drain)
    app.add_middleware(RequestMetricsMiddleware, metrics=metrics)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    checker = KeyChecker(key.get_secret_value() for key in settings.api_key)
    open_paths = ALWAYS_OPEN | frozenset(settings.open_paths)
    app.add_middleware(ApiKeyMiddleware, checker=checker, open_paths=open_paths)
    # Outside the key check: another site's page is told why, whether or not it sent a key.
    app.add_middleware(
        CrossSiteMiddleware, allowed_origins=settings.cors_origins, keyed=checker.enabled
    )
    # Added last so it is outermost: 401s and errors carry CORS headers too. No origin is
    # allowed unless --cors-origin names it (cross_site.py refuses the others' writes).
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.cors_origins,
        allow_credentials=False,
        allow_methods=["GET", "POST", "OPTIONS"],
        allow_headers=["Authorization", "Content-Type", "X-API-Key"],
    )
    # Outermost of all: `//generate` is `/generate` for every check and for the router.
    app.add_middleware(MergeSlashesMiddleware)

    def openapi() -> dict[str, object]:
        return build_openapi(app, requires_key=checker.enabled, open_paths=open_paths)

    app.openapi = openapi  # type: ignore[method-assign]
    return app
