"""The upstream URL and API key: from environment variables, or SSM / Secrets Manager, cached."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Any

from chat_gateway.config import Config
from chat_gateway.errors import GatewayError
from chat_gateway.upstream_url import INSECURE_UPSTREAM, is_insecure


class TtlCache:
    """Keeps each value for `ttl` seconds: a changed tunnel URL is seen without a redeploy."""

    def __init__(self, ttl: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._ttl = ttl
        self._clock = clock
        self._values: dict[str, tuple[float, str]] = {}

    def get(self, key: str, load: Callable[[], str]) -> str:
        now = self._clock()
        cached = self._values.get(key)
        if cached is not None and now - cached[0] < self._ttl:
            return cached[1]
        value = load()
        self._values[key] = (now, value)
        return value

    def forget(self, key: str) -> None:
        self._values.pop(key, None)


def _error_code(exc: Exception) -> str:
    response = getattr(exc, "response", None) or {}
    return str(response.get("Error", {}).get("Code", type(exc).__name__))


class UpstreamSettings:
    """Where the model server is and which key it wants; boto3 only when a name is configured."""

    def __init__(
        self,
        config: Config,
        *,
        client_factory: Callable[[str], Any] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._client_factory = client_factory or _boto3_client
        self._clients: dict[str, Any] = {}
        self._cache = TtlCache(config.cache_ttl_seconds, clock)

    def _client(self, service: str) -> Any:
        if service not in self._clients:
            self._clients[service] = self._client_factory(service)
        return self._clients[service]

    def url(self) -> str:
        """The model server's URL; GatewayError 503 when there is none, or only one the API
        key must not be sent to (http:// on another host)."""
        config = self._config
        if config.upstream_url:
            url = config.upstream_url
            if is_insecure(url) and not config.allow_insecure_upstream:
                # Config lists it too; checked here as well so no path can send the key.
                raise GatewayError(
                    503, "The chat gateway is misconfigured: UPSTREAM_URL " + INSECURE_UPSTREAM
                )
            return url
        if not config.upstream_url_parameter:
            raise GatewayError(
                503,
                "The chat service is not configured yet: set UPSTREAM_URL or "
                "UPSTREAM_URL_PARAMETER on the function.",
            )
        name = config.upstream_url_parameter
        url = self._cache.get("url", lambda: self._read_parameter(name)).strip()
        if not url.startswith(("http://", "https://")):
            raise GatewayError(
                503,
                f"No model server is registered yet (parameter {name} holds {url[:40]!r}). "
                f"Run: simplechat register --parameter {name} --url https://YOUR-SERVER",
            )
        if is_insecure(url) and not config.allow_insecure_upstream:
            self.forget_url()  # a corrected registration is read on the next request
            raise GatewayError(
                503,
                f"The model server URL registered in {name} {INSECURE_UPSTREAM} To fix it, run: "
                f"simplechat register --parameter {name} --url https://YOUR-SERVER",
            )
        return url

    def forget_url(self) -> None:
        """After a failure, read the parameter again next time: the tunnel may have moved."""
        self._cache.forget("url")

    def api_key(self) -> str:
        config = self._config
        if config.upstream_api_key:
            return config.upstream_api_key
        if not config.upstream_api_key_secret:
            return ""
        name = config.upstream_api_key_secret
        return self._cache.get("key", lambda: self._read_secret(name))

    def _read_parameter(self, name: str) -> str:
        try:
            reply = self._client("ssm").get_parameter(Name=name, WithDecryption=True)
        except Exception as exc:
            code = _error_code(exc)
            if code == "ParameterNotFound":
                message = (
                    f"The parameter {name} does not exist; deploy the stack or check its name."
                )
            elif "AccessDenied" in code:
                message = f"The function may not read the parameter {name} ({code})."
            else:
                message = f"The model server's URL could not be read from {name} ({code})."
            raise GatewayError(503, message) from None
        return str(reply["Parameter"]["Value"])

    def _read_secret(self, name: str) -> str:
        try:
            reply = self._client("secretsmanager").get_secret_value(SecretId=name)
        except Exception as exc:
            code = _error_code(exc)
            raise GatewayError(
                503, f"The model server's API key could not be read from secret {name} ({code})."
            ) from None
        value = str(reply.get("SecretString", ""))
        try:  # a JSON secret may hold the key under a field
            data = json.loads(value)
        except json.JSONDecodeError:
            return value.strip()
        if isinstance(data, dict):
            for field in ("apiKey", "api_key", "key"):
                if isinstance(data.get(field), str):
                    return str(data[field]).strip()
        return value.strip()


def _boto3_client(service: str) -> Any:
    import boto3  # provided by the Lambda runtime; imported only when a name is configured
    from botocore.config import Config as BotoConfig

    # boto3's defaults (60 s, retries) could outlast API Gateway's 29 s on a slow or throttled
    # call; short ones leave the model's answer its time, and a failure is a clear 503 instead.
    quick = BotoConfig(
        connect_timeout=2, read_timeout=3, retries={"total_max_attempts": 2, "mode": "standard"}
    )
    return boto3.client(service, config=quick)
