"""Lambda proxy responses: JSON bodies with CORS headers on every one, errors included."""

from __future__ import annotations

import json
from typing import Any

from chat_gateway.config import Config

ALLOW_HEADERS = "Content-Type,Authorization,X-Amz-Date,X-Api-Key,X-Amz-Security-Token"


def cors_headers(config: Config, origin: str) -> dict[str, str]:
    if "*" in config.allowed_origins:
        allowed = "*"
    elif origin in config.allowed_origins:
        allowed = origin
    else:
        return {"Vary": "Origin"}  # not an allowed origin: the browser will block it
    return {
        "Access-Control-Allow-Origin": allowed,
        "Access-Control-Allow-Headers": ALLOW_HEADERS,
        "Access-Control-Allow-Methods": "OPTIONS,GET,POST,PATCH,DELETE",
        "Vary": "Origin",
    }


def json_response(
    status: int,
    payload: dict[str, Any],
    config: Config,
    origin: str,
    extra_headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    headers = {"Content-Type": "application/json; charset=utf-8", **cors_headers(config, origin)}
    headers.update(extra_headers or {})
    return {
        "statusCode": status,
        "headers": headers,
        "body": json.dumps(payload, ensure_ascii=False),
        "isBase64Encoded": False,
    }


def preflight_response(config: Config, origin: str) -> dict[str, Any]:
    headers = {**cors_headers(config, origin), "Access-Control-Max-Age": "600"}
    return {"statusCode": 204, "headers": headers, "body": "", "isBase64Encoded": False}


def no_content_response(config: Config, origin: str) -> dict[str, Any]:
    """204: done, nothing to say (a deleted conversation)."""
    return {
        "statusCode": 204,
        "headers": cors_headers(config, origin),
        "body": "",
        "isBase64Encoded": False,
    }
