"""`GET /` (what this API is) and `GET /health` (is the model loaded)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from simplechat import __version__
from simplechat.api.deps import ServiceDep

router = APIRouter(tags=["meta"])


class Health(BaseModel):
    status: str
    model: str
    engine: str


@router.get(
    "/health", response_model=Health, summary="Liveness and the loaded model (no key needed)"
)
async def health(service: ServiceDep) -> Health:
    return Health(status="ok", model=service.model_name, engine=service.engine.name)


@router.get(
    "/metrics",
    summary="Prometheus metrics (same key rule as the API)",
    response_class=Response,
    responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}},
)
async def metrics(service: ServiceDep) -> Response:
    return Response(service.metrics.render(), media_type=CONTENT_TYPE_LATEST)


@router.get("/", summary="What this API offers")
async def index(service: ServiceDep) -> dict[str, Any]:
    return {
        "name": "simplechat",
        "version": __version__,
        "description": "A custom LLM API for chat apps: the course's /chat and /generate, "
        "and an OpenAI-compatible /v1.",
        "model": service.model_name,
        "engine": service.engine.name,
        "endpoints": {
            "POST /chat": '{"message", "conversationHistory"} -> {"response"}',
            "POST /chat/count": '{"message", "conversationHistory"} -> {"prompt_tokens", '
            '"context_length", "fittings"} (docs/context.md)',
            "POST /generate": '{"prompt", "max_new_tokens", ...} -> {"generated_text"}',
            "GET /v1/models": "OpenAI-compatible model list",
            "POST /v1/chat/completions": "OpenAI-compatible chat, streaming with stream=true",
            "POST /v1/completions": "OpenAI-compatible text completion",
            "GET /health": "status and model",
            "GET /metrics": "Prometheus metrics",
        },
        "docs": "/docs",
        "openapi": "/openapi.json",
    }
