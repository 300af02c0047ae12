"""Point the deployed app here: its URL into the SSM parameter, its key into the secret."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from simplechat.engines.upstream_pool import sent_in_clear, without_credentials

log = logging.getLogger("simplechat")


class RegistrationError(Exception):
    """A one-line reason the URL or key could not be registered."""


def _code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


def aws_client(service: str, region: str | None = None) -> Any:
    try:
        import boto3
    except ImportError:
        raise RegistrationError(
            "boto3 is not installed: pip install -e '.[aws]' in the checkout (or pip install boto3)"
        ) from None
    # A fresh session reads the current AWS_* settings and profile, as a new process would.
    try:
        return boto3.session.Session(region_name=region).client(service)
    except Exception as exc:
        raise RegistrationError(_explain(exc, service)) from None


def ssm_client(region: str | None = None) -> Any:
    return aws_client("ssm", region)


def register_url(parameter: str, url: str, client: Any, *, allow_insecure: bool = False) -> None:
    """Overwrite the parameter (which the stack created) with `url`."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise RegistrationError(f"not an http(s) URL: {url!r}")
    if sent_in_clear(url) and not allow_insecure:
        raise RegistrationError(
            f"{without_credentials(url)} is plain http://: the deployed Lambda would send the "
            "API key and every conversation across the internet unencrypted. Register the "
            "https:// URL (an ngrok tunnel gives one), or add --allow-insecure-upstream if you "
            "really mean it"
        )
    try:
        client.get_parameter(Name=parameter)
        client.put_parameter(Name=parameter, Value=url, Type="String", Overwrite=True)
    except Exception as exc:
        raise RegistrationError(_explain(exc, f"parameter {parameter}")) from None


def register_key(secret: str, api_key: str, client: Any) -> None:
    """Store `api_key` as the secret's value (the gateway reads plain text or JSON)."""
    try:
        client.put_secret_value(SecretId=secret, SecretString=api_key)
    except Exception as exc:
        raise RegistrationError(_explain(exc, f"secret {secret}")) from None


def _explain(exc: Exception, what: str) -> str:
    name = type(exc).__name__
    if name == "NoCredentialsError":
        return "no AWS credentials found: run `aws configure`, or set AWS_PROFILE"
    if name == "NoRegionError":
        return "no AWS region set: set AWS_REGION (simplechat register also takes --region)"
    code = _code(exc)
    if code in ("ParameterNotFound", "ResourceNotFoundException"):
        return f"{what} does not exist: deploy the stack first, or check the name"
    if "AccessDenied" in code or code in ("UnrecognizedClientException", "InvalidClientTokenId"):
        return f"not allowed to write {what} ({code}): check your AWS credentials"
    return f"could not write {what}: {code}"


def stack_outputs(stack: str, client: Any) -> dict[str, str]:
    """The deployed stack's outputs (CloudFormation), e.g. UpstreamUrlParameterName."""
    try:
        reply = client.describe_stacks(StackName=stack)
    except Exception as exc:
        code = _code(exc)
        if code == "ValidationError":
            raise RegistrationError(
                f"stack {stack} was not found in this region: deploy it (make deploy), "
                "or check the name and AWS_REGION"
            ) from None
        raise RegistrationError(_explain(exc, f"stack {stack}").replace("write", "read")) from None
    outputs = reply["Stacks"][0].get("Outputs") or []
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in outputs}


class Registrar:
    """Writes each new public URL (and the key, once) for the deployed app; a failure is logged
    as one line and the server keeps serving."""

    def __init__(self, parameter: str = "", secret: str = "", region: str | None = None) -> None:
        self.parameter = parameter
        self.secret = secret
        self.region = region

    @classmethod
    def for_stack(cls, stack: str = "Simplechat", region: str | None = None) -> Registrar:
        """The parameter and secret named in the deployed stack's outputs."""
        outputs = stack_outputs(stack, aws_client("cloudformation", region))
        try:
            return cls(
                outputs["UpstreamUrlParameterName"], outputs["UpstreamApiKeySecretName"], region
            )
        except KeyError as missing:
            raise RegistrationError(
                f"stack {stack} has no output {missing}: not a simplechat stack?"
            ) from None

    def publish_url(self, url: str) -> bool:
        if not self.parameter:
            return False
        try:
            register_url(self.parameter, url, aws_client("ssm", self.region))
        except RegistrationError as exc:
            log.error("could not register the URL: %s (the server keeps running)", exc)
            return False
        log.info("registered %s in SSM parameter %s", url, self.parameter)
        return True

    def publish_key(self, api_key: str) -> bool:
        if not self.secret:
            return False
        try:
            register_key(self.secret, api_key, aws_client("secretsmanager", self.region))
        except RegistrationError as exc:
            log.error("could not register the API key: %s (the server keeps running)", exc)
            return False
        log.info("stored the API key in secret %s", self.secret)
        return True
