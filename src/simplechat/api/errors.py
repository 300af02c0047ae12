"""Every failure a client can see, in one envelope: {"error": {message, type, param, code}}."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException

from simplechat.admission import Overloaded
from simplechat.api.disconnect import ClientGone, CutOffByShutdown
from simplechat.engines.base import (
    ContextLengthExceeded,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    PromptRejected,
    UpstreamRejected,
    clean_text,
)

log = logging.getLogger(__name__)

_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    405: "invalid_request_error",
    413: "invalid_request_error",
    429: "rate_limit_error",
}


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str | None = None


class ErrorResponse(BaseModel):
    """OpenAI's error envelope, used on every route so clients parse one shape."""

    error: ErrorDetail


#: For route decorators: the errors each route can answer with, as documented in OpenAPI.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {"model": ErrorResponse, "description": description}
    for status, description in {
        400: "Invalid request: the message says what to fix",
        401: "Missing or wrong API key (when the server has keys)",
        403: "A web page on another site (allow one with --cors-origin)",
        404: "Unknown model",
        413: "Request body too large",
        415: "A web page's request without a JSON body",
        429: "Too many requests running or waiting: retry after Retry-After seconds",
        500: "Server error",
    }.items()
}


class ApiError(Exception):
    """An error meant for the client, raised by routes."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.headers = headers


def error_body(
    status: int, message: str, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    kind = _TYPES.get(status, "server_error" if status >= 500 else "invalid_request_error")
    # A message may quote what the client sent (a model name): no lone surrogate may break it.
    return ErrorResponse(
        error=ErrorDetail(message=clean_text(message), type=kind, param=param, code=code)
    ).model_dump()


def error_response(
    status: int,
    message: str,
    *,
    param: str | None = None,
    code: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(status, message, param=param, code=code), status, headers=headers
    )


def describe_validation_error(errors: list[Any]) -> tuple[str, str | None]:
    """Turn pydantic's error list into one sentence a person can act on, and the field."""
    first = errors[0]
    if first["type"] == "json_invalid":
        return (
            "The request body is not valid JSON. Send a JSON object, with the header "
            "Content-Type: application/json.",
            None,
        )
    loc = [str(part) for part in first["loc"] if part != "body" and not _union_branch(part)]
    param = ".".join(loc) or None
    message = str(first["msg"]).removeprefix("Value error, ")
    if param is None and first["type"] in ("model_type", "model_attributes_type", "dict_type"):
        text = f"The request body must be a JSON object ({message})."
    elif param is None:  # a rule about the request as a whole (e.g. tools are not supported)
        text = f"{message}."
    elif first["type"] == "missing":
        text = f"'{param}' is required."
    elif first["type"] == "string_pattern_mismatch" or first["type"] == "string_too_short":
        text = f"'{param}' must not be empty."
    else:
        text = f"'{param}': {message}."
    if len(errors) > 1:
        text += f" ({len(errors) - 1} more problem{'s' if len(errors) > 2 else ''} in the request.)"
    return text, param


def _union_branch(part: object) -> bool:
    """pydantic names the branch of a union it tried (`str`, `list[constrained-str]`): not a
    field the client sent, so not part of `param`."""
    type_names = ("str", "int", "float", "bool", "list", "dict", "none")
    return isinstance(part, str) and (part in type_names or "[" in part or "-" in part)


def install_error_handlers(app: FastAPI) -> None:
    """Map every exception to the envelope; nothing a client sends can produce a stack trace."""

    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> JSONResponse:
        return error_response(
            exc.status, exc.message, param=exc.param, code=exc.code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(_: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = describe_validation_error(list(exc.errors()))
        return error_response(400, message, param=param)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"There is no {request.url.path} here. GET / lists the API's routes."
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}."
        else:
            message = str(exc.detail)
        return error_response(exc.status_code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(ClientGone)
    async def _gone(_: Request, exc: ClientGone) -> Response:
        return Response(status_code=499)  # nobody is listening; for the access log only

    @app.exception_handler(CutOffByShutdown)
    async def _cut_off(_: Request, exc: CutOffByShutdown) -> JSONResponse:
        return error_response(
            503,
            "The server is shutting down; the answer was cut off. Try again in a moment.",
            code="shutting_down",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(Overloaded)
    async def _busy(_: Request, exc: Overloaded) -> JSONResponse:
        return error_response(
            429, str(exc), code="server_busy", headers={"Retry-After": str(exc.retry_after)}
        )

    @app.exception_handler(ContextLengthExceeded)
    async def _too_long(_: Request, exc: ContextLengthExceeded) -> JSONResponse:
        return error_response(400, str(exc), param=exc.param, code="context_length_exceeded")

    @app.exception_handler(PromptRejected)
    async def _rejected(_: Request, exc: PromptRejected) -> JSONResponse:
        return error_response(400, str(exc), param=exc.param)

    @app.exception_handler(EngineUnavailable)
    async def _unavailable(_: Request, exc: EngineUnavailable) -> JSONResponse:
        log.error("no model server available: %s", exc)
        return error_response(
            503,
            "The model server is unavailable right now. Try again in a few seconds.",
            code="model_unavailable",
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(EngineBusy)
    async def _engine_busy(_: Request, exc: EngineBusy) -> JSONResponse:
        return error_response(429, str(exc), code="server_busy", headers={"Retry-After": "2"})

    @app.exception_handler(UpstreamRejected)
    async def _upstream_rejected(_: Request, exc: UpstreamRejected) -> JSONResponse:
        return error_response(400, str(exc))

    @app.exception_handler(EngineError)
    async def _engine(_: Request, exc: EngineError) -> JSONResponse:
        log.error("engine failure: %s", exc)
        return error_response(
            500, "The model failed to answer. Try again; if it persists, check the server log."
        )

    @app.exception_handler(Exception)
    async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error")
        return error_response(500, "Internal server error. The server log has the details.")
