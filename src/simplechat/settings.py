"""Server settings: one typed object from flags and SIMPLECHAT_* variables, checked at start."""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from simplechat.engines.upstream_pool import api_base, sent_in_clear, without_credentials
from simplechat.model_source import (
    bundled_model_path,
    check_model,
    is_gguf,
    is_hub_gguf,
    pick_engine,
)

EngineName = Literal["auto", "llamacpp", "transformers", "vllm", "openai", "fake"]


def _split_commas(value: object) -> object:
    """Environment variables carry lists as comma-separated text."""
    if isinstance(value, str):
        return [part.strip() for part in value.split(",") if part.strip()]
    return value


class Settings(BaseSettings):
    """Everything `simplechat serve` can be told."""

    model_config = SettingsConfigDict(env_prefix="SIMPLECHAT_", extra="forbid")

    engine: EngineName = "auto"
    model: str = Field("", description="GGUF file, Hugging Face folder or hub id; default: bundled")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=0, le=65535)
    api_key: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="keys clients must send; none means no auth"
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="origins (https://your.app) whose web pages may call the API; none by "
        "default, so no other site's page can use the model; * allows every site",
    )
    open_paths: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="paths reachable without a key besides /health, e.g. /metrics or /docs",
    )
    model_name: str | None = Field(None, description="model id shown to clients")
    system_prompt: str = Field(
        "",
        description="system prompt for conversations that bring none of their own; default: "
        "the catalogue's for its models (to keep answers in the user's language)",
    )
    context_length: int | None = Field(None, ge=64, description="default: the model's own")
    threads: int | None = Field(None, ge=1, le=512)
    max_batch: int | None = Field(
        None,
        ge=1,
        le=256,
        description="requests decoded together; default: llama.cpp picks from the model's KV "
        "size and the machine's memory (up to 16), the other engines 4",
    )
    kv_cache_type: Literal["f16", "q8_0"] = Field(
        "f16", description="llama.cpp KV cache precision; q8_0 halves its memory"
    )
    weight_type: Literal["auto", "file", "q8_0", "file+q8_0"] = Field(
        "auto",
        description="llama.cpp weights: as in the file, converted once to q8_0, or both (steps "
        "of few tokens on the file's, of many on the q8_0 copy); auto: both for a q4_1/q5_1 "
        "model on the CPU, else the file's",
    )
    prompt_cache: bool = Field(
        True, description="reuse the KV cache of a previous request's shared prompt prefix"
    )
    request_time_limit: float = Field(
        600.0, gt=0, description="seconds a request may take, queueing included; then it ends"
    )
    request_read_timeout: float = Field(
        15.0, gt=0, description="seconds a client has to send a whole request (slowloris guard)"
    )
    max_connections: int = Field(
        512,
        ge=1,
        le=100_000,
        description="open client connections at once; one more gets 503 and is closed",
    )
    shutdown_grace_seconds: float = Field(
        30.0, ge=0, description="on SIGTERM, how long admitted requests may take to finish"
    )
    max_queue: int = Field(
        16, ge=0, le=10_000, description="requests that may wait beyond the batch; more get 429"
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger request bodies get 413")
    default_max_tokens: int = Field(512, ge=1, description="when a request names no limit")
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    log_level: Literal["critical", "error", "warning", "info", "debug"] = "info"
    upstreams: Annotated[list[str], NoDecode] = Field(
        default_factory=list, description="OpenAI-compatible servers the openai engine forwards to"
    )
    upstream_api_key: SecretStr | None = Field(None, description="key the upstreams want")
    allow_insecure_upstream: bool = Field(
        False, description="allow http:// upstreams on other machines (the key crosses in clear)"
    )
    balance: Literal["round-robin", "least-outstanding"] = "least-outstanding"
    upstream_health_interval: float = Field(5.0, gt=0, description="seconds between checks")
    tensor_parallel_size: int = Field(1, ge=1, le=64, description="GPUs per model (vllm)")
    gpu_memory_utilization: float = Field(
        0.9, gt=0, le=1, description="share of each GPU's memory vLLM may take"
    )
    enforce_eager: bool = Field(
        False,
        description="vllm: skip torch.compile and CUDA graphs (starts faster)",
    )
    tunnel: Literal["none", "ngrok"] = Field("none", description="open a public tunnel")
    insecure_public: bool = Field(False, description="allow a public tunnel without an API key")
    register_parameter: str = Field(
        "", description="SSM parameter that gets the tunnel's URL (the deployed Lambda reads it)"
    )
    register_secret: str = Field(
        "", description="Secrets Manager secret that gets the API key (the Lambda sends it)"
    )
    tunnel_check_interval: float = Field(
        10.0, gt=0, description="seconds between checks that the tunnel is still up"
    )

    @field_validator("api_key", "cors_origins", "open_paths", "upstreams", mode="before")
    @classmethod
    def _lists_from_text(cls, value: object) -> object:
        return _split_commas(value)

    @field_validator("open_paths")
    @classmethod
    def _paths_are_paths(cls, paths: list[str]) -> list[str]:
        for path in paths:
            if not path.startswith("/"):
                raise ValueError(f"an open path starts with '/', got {path!r}")
        return paths

    @field_validator("api_key")
    @classmethod
    def _keys_not_blank(cls, keys: list[SecretStr]) -> list[SecretStr]:
        for key in keys:
            if len(key.get_secret_value()) < 8:
                raise ValueError("an API key must be at least 8 characters long")
        return keys

    @field_validator("upstreams")
    @classmethod
    def _upstreams_are_urls(cls, urls: list[str]) -> list[str]:
        return [api_base(url) for url in urls]

    @field_validator("model")
    @classmethod
    def _resolve_model(cls, model: str, info: ValidationInfo) -> str:
        engine = info.data.get("engine", "auto")
        if engine in ("fake", "openai"):
            return model  # openai: the upstream's model id, or empty to ask the upstream
        if engine == "vllm" and not model:
            raise ValueError("the vllm engine needs --model: a hub id or a model folder")
        if not model:
            model = str(bundled_model_path())
        check_model(model)
        if is_hub_gguf(model) and pick_engine(model, engine) != "llamacpp":
            raise ValueError(f"{model!r} is a GGUF model: it runs on the llamacpp engine")
        if pick_engine(model, engine) == "llamacpp" and not (is_gguf(model) or is_hub_gguf(model)):
            raise ValueError(f"the llamacpp engine needs a .gguf file, got {model!r}")
        return model

    @model_validator(mode="after")
    def _upstreams_go_with_the_openai_engine(self) -> Settings:
        if self.engine == "openai" and not self.upstreams:
            raise ValueError(
                "--engine openai forwards to other servers: name them with --upstream URL "
                "(repeat it for several)"
            )
        if self.upstreams and self.engine != "openai":
            raise ValueError("--upstream is for --engine openai (add it, or drop --upstream)")
        in_clear = [url for url in self.upstreams if sent_in_clear(url)]
        if in_clear and not self.allow_insecure_upstream:
            raise ValueError(
                f"--upstream {without_credentials(in_clear[0])} is plain http:// to another "
                "machine: the upstream key and every prompt would cross the network unencrypted. "
                "Use https://, or add --allow-insecure-upstream (SIMPLECHAT_ALLOW_INSECURE_UPSTREAM"
                "=true) if that network is yours"
            )
        return self

    @model_validator(mode="after")
    def _public_access_is_safe(self) -> Settings:
        if self.tunnel != "none" and not self.api_key and not self.insecure_public:
            raise ValueError(
                "a public tunnel without --api-key lets anyone on the internet use your model "
                "(and your GPU); add --api-key (or SIMPLECHAT_API_KEY), or --insecure-public "
                "if you really mean it"
            )
        if self.register_parameter and self.tunnel == "none":
            raise ValueError(
                "--register-parameter writes the tunnel's URL, so it needs --tunnel ngrok "
                "(for a fixed URL use: simplechat register --parameter NAME --url URL)"
            )
        if self.register_secret and not self.api_key:
            raise ValueError("--register-secret writes the API key, so it needs --api-key")
        return self

    @property
    def resolved_engine(self) -> str:
        return pick_engine(self.model, self.engine)

    @property
    def binds_publicly(self) -> bool:
        """True when the server can be reached from other machines."""
        if self.host == "localhost":
            return False
        try:
            return not ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return True
