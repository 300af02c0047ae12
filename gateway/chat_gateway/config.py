"""Gateway configuration from environment variables (the names the CDK and local stacks set)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from chat_gateway.limits import Limits
from chat_gateway.upstream_url import INSECURE_UPSTREAM, is_insecure

PROTOCOLS = ("chat", "generate", "openai", "sagemaker")


def _number(env: Mapping[str, str], name: str, default: float, problems: list[str]) -> float:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        problems.append(f"{name} must be a number, got {raw!r}")
        return default
    if value <= 0:
        problems.append(f"{name} must be positive, got {raw!r}")
        return default
    return value


def _flag(env: Mapping[str, str], name: str, problems: list[str]) -> bool:
    raw = env.get(name, "").strip().lower()
    if raw in ("", "0", "false", "no", "off"):
        return False
    if raw in ("1", "true", "yes", "on"):
        return True
    problems.append(f"{name} must be true or false, got {env[name]!r}")
    return False


@dataclass(frozen=True)
class Config:
    """Everything the function is told. `problems` lists settings that could not be used."""

    upstream_url: str = ""
    upstream_url_parameter: str = ""
    upstream_protocol: str = "chat"
    upstream_api_key: str = field(default="", repr=False)
    upstream_api_key_secret: str = ""
    upstream_model: str = ""
    #: The SageMaker endpoint the `sagemaker` protocol invokes (no URL, no API key: IAM).
    sagemaker_endpoint: str = ""
    allowed_origins: tuple[str, ...] = ("*",)
    time_budget_seconds: float = 29.0
    connect_timeout_seconds: float = 3.0
    #: A stream with no byte from the model server for this long is given up (our server
    #: sends a keep-alive every 10 s, so only a dead one, or a slow first token elsewhere).
    stream_idle_seconds: float = 120.0
    system_prompt: str = ""
    max_tokens: int = 512
    max_body_bytes: int = 256 * 1024
    max_message_chars: int = 8000
    max_history_messages: int = 100
    max_history_chars: int = 64000
    #: The model's context in tokens, for fitting history where the upstream cannot count
    #: (our server's /chat/count tells it); None: unknown, only the MAX_HISTORY_* caps apply.
    context_tokens: int | None = None
    cache_ttl_seconds: float = 60.0
    log_content: bool = False
    #: Where conversations are kept: a DynamoDB table (AWS) or an SQLite file (local stack).
    conversations_table: str = ""
    conversations_db: str = ""
    #: Per-user limits (docs/limits.md); None: no limit.
    limits: Limits = field(default_factory=Limits)
    #: The secret every request to the gateway server's port carries (server.py); "" on AWS.
    adapter_secret: str = field(default="", repr=False)
    #: A stack without sign-in: requests with no `sub` are the one user "local" (events.py).
    local_single_user: bool = False
    #: http:// to a model server on another host: the key and chats travel unencrypted.
    allow_insecure_upstream: bool = False
    #: The model names a conversation after its first answer (model_title.py); off: the first
    #: line stays (the local stack's fake engine, whose "answer" would be an echo).
    model_titles: bool = True
    problems: tuple[str, ...] = ()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Config:
        problems: list[str] = []
        protocol = env.get("UPSTREAM_PROTOCOL", "chat").strip().lower() or "chat"
        if protocol not in PROTOCOLS:
            problems.append(
                f"UPSTREAM_PROTOCOL must be one of {', '.join(PROTOCOLS)}, got {protocol!r}"
            )
            protocol = "chat"
        origins = tuple(o.strip() for o in env.get("ALLOWED_ORIGINS", "*").split(",") if o.strip())

        def number(name: str, default: float) -> float:
            return _number(env, name, default, problems)

        def limit(name: str) -> int | None:
            if not env.get(name, "").strip():
                return None
            value = number(name, 0)
            if value and value != int(value):
                problems.append(f"{name} must be a whole number, got {env[name]!r}")
            return int(value) or None

        limits = Limits(
            tokens_per_day=limit("USER_TOKENS_PER_DAY"),
            requests_per_minute=limit("USER_REQUESTS_PER_MINUTE"),
            concurrent_answers=limit("USER_CONCURRENT_ANSWERS"),
        )
        stored = env.get("CONVERSATIONS_TABLE", "").strip() or env.get("CONVERSATIONS_DB", "")
        if limits.any and not stored.strip():
            problems.append(
                "per-user limits (USER_*) are counted in the conversations' store: set "
                "CONVERSATIONS_TABLE or CONVERSATIONS_DB too"
            )

        sagemaker_endpoint = env.get("SAGEMAKER_ENDPOINT_NAME", "").strip()
        if protocol == "sagemaker" and not sagemaker_endpoint:
            problems.append("UPSTREAM_PROTOCOL sagemaker needs SAGEMAKER_ENDPOINT_NAME")
        upstream_url = env.get("UPSTREAM_URL", "").strip()
        allow_insecure = _flag(env, "ALLOW_INSECURE_UPSTREAM", problems)
        if upstream_url and is_insecure(upstream_url) and not allow_insecure:
            # Not the URL itself: problems are shown to chat users, and a URL can carry a token.
            problems.append("UPSTREAM_URL " + INSECURE_UPSTREAM)
        return cls(
            upstream_url=upstream_url,
            upstream_url_parameter=env.get("UPSTREAM_URL_PARAMETER", "").strip(),
            upstream_protocol=protocol,
            upstream_api_key=env.get("UPSTREAM_API_KEY", "").strip(),
            upstream_api_key_secret=env.get("UPSTREAM_API_KEY_SECRET", "").strip(),
            upstream_model=env.get("UPSTREAM_MODEL", "").strip(),
            sagemaker_endpoint=sagemaker_endpoint,
            allowed_origins=origins or ("*",),
            time_budget_seconds=number("TIME_BUDGET_SECONDS", 27.0),
            connect_timeout_seconds=number("CONNECT_TIMEOUT_SECONDS", 3.0),
            stream_idle_seconds=number("STREAM_IDLE_SECONDS", 120.0),
            system_prompt=env.get("SYSTEM_PROMPT", "").strip(),
            max_tokens=int(number("MAX_TOKENS", 512)),
            max_body_bytes=int(number("MAX_BODY_BYTES", 256 * 1024)),
            max_message_chars=int(number("MAX_MESSAGE_CHARS", 8000)),
            max_history_messages=int(number("MAX_HISTORY_MESSAGES", 100)),
            max_history_chars=int(number("MAX_HISTORY_CHARS", 64000)),
            context_tokens=int(number("CONTEXT_TOKENS", 0)) or None,
            cache_ttl_seconds=number("CACHE_TTL_SECONDS", 60.0),
            log_content=env.get("LOG_CONTENT", "").strip().lower() in ("1", "true", "yes"),
            conversations_table=env.get("CONVERSATIONS_TABLE", "").strip(),
            conversations_db=env.get("CONVERSATIONS_DB", "").strip(),
            limits=limits,
            adapter_secret=env.get("ADAPTER_SECRET", "").strip(),
            local_single_user=_flag(env, "LOCAL_SINGLE_USER", problems),
            allow_insecure_upstream=allow_insecure,
            model_titles=not env.get("MODEL_TITLES", "").strip()
            or _flag(env, "MODEL_TITLES", problems),
            problems=tuple(problems),
        )
