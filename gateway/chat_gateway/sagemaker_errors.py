"""SageMaker runtime's errors as the gateway's: a status and a sentence a person can act on."""

from __future__ import annotations

import json
from typing import Any

from chat_gateway.errors import GatewayError

#: Codes that mean "too many requests right now": the browser gets 429 and tries again.
BUSY = ("ThrottlingException", "ThrottledException", "TooManyRequestsException")
#: Codes that mean the function's role or credentials are wrong: the operator must act.
DENIED = (
    "AccessDeniedException",
    "AccessDenied",
    "UnrecognizedClientException",
    "InvalidSignatureException",
    "ExpiredTokenException",
)
UNAVAILABLE = ("ServiceUnavailable", "InternalFailure", "InternalDependencyException")


def _logs(endpoint: str) -> str:
    return f"its log group /aws/sagemaker/Endpoints/{endpoint} in CloudWatch"


def error_fields(exc: Any) -> tuple[str, int, dict[str, Any]]:
    """(error code, HTTP status, the parsed response) of a botocore ClientError."""
    response = getattr(exc, "response", None) or {}
    code = str(response.get("Error", {}).get("Code") or type(exc).__name__)
    status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return code, status if isinstance(status, int) else 0, response


def refused(exc: Any, endpoint: str) -> GatewayError:
    """The error for a call SageMaker refused before any answer started."""
    code, status, response = error_fields(exc)
    if code in BUSY or code == "ModelNotReadyException" or status == 429:
        return GatewayError(
            429,
            f"The model endpoint is busy ({code}). Try again in a moment; if this happens "
            "often, the operator can raise maxInstances.",
            headers={"Retry-After": "5"},
        )
    if code == "ModelError":
        return model_error(response, endpoint)
    if code in DENIED:
        return GatewayError(
            503,
            f"The chat gateway may not call the model endpoint {endpoint} ({code}). "
            "Check the function's role: it needs sagemaker:InvokeEndpoint on that endpoint.",
        )
    if code == "ValidationError":
        message = str(response.get("Error", {}).get("Message", ""))
        if "not found" in message.lower():
            return GatewayError(
                503,
                f"The model endpoint {endpoint} does not exist (yet). It is created by "
                "`make deploy` with -c modelServer=sagemaker; check that the deployment "
                "finished and that the endpoint was not deleted.",
            )
        return GatewayError(
            502,
            f"SageMaker refused the request to {endpoint} (ValidationError). "
            "Check that the endpoint is InService: aws sagemaker describe-endpoint "
            f"--endpoint-name {endpoint}",
        )
    if code in UNAVAILABLE or status >= 500:
        return GatewayError(
            503,
            f"SageMaker could not serve the model right now ({code}). Try again in a moment.",
            headers={"Retry-After": "5"},
        )
    return GatewayError(502, f"The model endpoint {endpoint} failed ({code}). Try again.")


def model_error(response: dict[str, Any], endpoint: str) -> GatewayError:
    """The container itself answered with an error status (SageMaker's ModelError)."""
    original = response.get("OriginalStatusCode")
    detail = _container_message(response.get("OriginalMessage"))
    if original == 429:
        return GatewayError(
            429, "The model is busy. Try again in a moment.", headers={"Retry-After": "5"}
        )
    if isinstance(original, int) and 400 <= original < 500:
        return GatewayError(400, f"The model rejected the request: {detail or f'HTTP {original}'}")
    return GatewayError(
        502,
        f"The model failed (HTTP {original or 'unknown'}). Try again; if it persists, the "
        f"operator can read {_logs(endpoint)}.",
    )


def _container_message(raw: Any) -> str:
    """The container's own error text: vLLM's JSON error's message, or the text as it is."""
    text = str(raw or "")
    try:
        data = json.loads(text)
    except ValueError:
        return text[:300]
    if isinstance(data, dict):
        error = data.get("error")
        found = error.get("message") if isinstance(error, dict) else data.get("message")
        if isinstance(found, str):
            return found[:300]
    return text[:300]


def mid_stream(exc: Any, endpoint: str) -> tuple[int, str]:
    """A failure event after the answer started (ModelStreamError, InternalStreamFailure):
    the status the done event reports, and its message."""
    code, _, response = error_fields(exc)
    # botocore keeps only Code and Message of an exception event (not ErrorCode).
    reason = str(response.get("ErrorCode") or "")
    text = str(response.get("Error", {}).get("Message") or "")
    if reason == "ModelInvocationTimeExceeded" or "allotted time" in text.lower():
        return 504, (
            "The model took longer than SageMaker allows for one answer and was cut off. "
            "Ask for a shorter answer, or try again."
        )
    if code == "ModelStreamError":
        return 502, (
            f"The model's stream broke mid-answer ({reason or code}). Try again; if it "
            f"persists, the operator can read {_logs(endpoint)}."
        )
    return 502, f"SageMaker failed while streaming the answer ({code}). Try again."
