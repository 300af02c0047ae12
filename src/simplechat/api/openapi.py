"""The OpenAPI schema as the server really behaves: 400 for invalid input, keys when configured."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from simplechat.api import root_post

_ERROR_REF = {"$ref": "#/components/schemas/ErrorResponse"}


def build_openapi(
    app: FastAPI, *, requires_key: bool, open_paths: frozenset[str]
) -> dict[str, Any]:
    if app.openapi_schema:
        return app.openapi_schema
    schema = get_openapi(
        title=app.title, version=app.version, description=app.description, routes=app.routes
    )
    root_post.document(schema)
    components = schema.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    # FastAPI documents validation failures as 422 HTTPValidationError; ours are 400 envelopes.
    schemas.pop("HTTPValidationError", None)
    schemas.pop("ValidationError", None)
    for path, operations in schema.get("paths", {}).items():
        for operation in operations.values():
            responses = operation.get("responses", {})
            if responses.pop("422", None) is not None:
                responses.setdefault(
                    "400",
                    {
                        "description": "Invalid request: the message says what to fix",
                        "content": {"application/json": {"schema": _ERROR_REF}},
                    },
                )
            if requires_key and path not in open_paths:
                operation["security"] = [{"bearer": []}, {"apiKey": []}]
            elif not requires_key:
                responses.pop("401", None)
    if requires_key:
        components["securitySchemes"] = {
            "bearer": {"type": "http", "scheme": "bearer"},
            "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
        }
    app.openapi_schema = schema
    return schema
