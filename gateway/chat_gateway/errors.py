"""The one error type the gateway answers with: a status and a message a person can act on."""

from typing import Any


class GatewayError(Exception):
    """Becomes `{"success": false, "error": message}` with `status`."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        headers: dict[str, str] | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}
        self.details = details or {}  # more fields of the body, for clients to act on


def bad_request(message: str) -> GatewayError:
    return GatewayError(400, message)
