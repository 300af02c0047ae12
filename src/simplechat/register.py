"""`simplechat register`: write the server's public URL into the SSM parameter the Lambda reads."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


class RegistrationError(Exception):
    """A one-line reason the URL could not be registered."""


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def ssm_client(region: str | None = None) -> Any:
    try:
        import boto3
    except ImportError:
        raise RegistrationError(
            "boto3 is not installed: pip install 'simplechat[aws]' (or pip install boto3)"
        ) from None
    # A fresh session reads the current AWS_* settings and profile, as a new process would.
    return boto3.session.Session(region_name=region).client("ssm")


def register_url(parameter: str, url: str, client: Any) -> None:
    """Overwrite the parameter (which the stack created) with `url`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistrationError(f"not an http(s) URL: {url!r}")
    try:
        client.get_parameter(Name=parameter)
        client.put_parameter(Name=parameter, Value=url, Type="String", Overwrite=True)
    except Exception as exc:
        raise RegistrationError(_explain(exc, parameter)) from None


def _explain(exc: Exception, parameter: str) -> str:
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "no AWS credentials found: run `aws configure`, or set AWS_PROFILE"
    if name == "NoRegionError":
        return "no AWS region set: pass --region, or set AWS_REGION"
    code = _code(exc)
    if code == "ParameterNotFound":
        return f"parameter {parameter} does not exist: deploy the stack first, or check the name"
    if "AccessDenied" in code or code == "UnrecognizedClientException":
        return f"not allowed to write parameter {parameter} ({code}): check your AWS credentials"
    return f"could not write parameter {parameter}: {code}"
