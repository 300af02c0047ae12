"""Engines turn prompts into token streams; `load_engine` builds the one the settings name."""

from __future__ import annotations

from typing import TYPE_CHECKING

from simplechat.engines.base import Engine
from simplechat.model_source import default_model_name

if TYPE_CHECKING:
    from simplechat.settings import Settings

#: `--max-batch` unset, for the engines that do not choose their own (llama.cpp does).
OTHER_ENGINES_MAX_BATCH = 4


def load_engine(settings: Settings) -> Engine:
    """Load the model with the engine the settings pick (imports heavy libraries lazily)."""
    name = settings.model_name or default_model_name(settings.model or "fake-model")
    engine = settings.resolved_engine if settings.engine != "fake" else "fake"
    if engine == "fake":
        from simplechat.engines.fake import FakeEngine

        return FakeEngine(model_name=name)
    if engine == "openai":
        from simplechat.engines.openai_upstream import OpenAIUpstreamEngine

        key = settings.upstream_api_key
        return OpenAIUpstreamEngine(
            settings.upstreams,
            model=settings.model,
            model_name=settings.model_name or "",
            api_key=key.get_secret_value() if key else "",
            balance=settings.balance,
            health_interval=settings.upstream_health_interval,
            read_timeout=settings.request_time_limit,
            context_length=settings.context_length,
        )
    if engine == "vllm":
        from simplechat.engines.vllm import VllmEngine

        return VllmEngine(
            settings.model,
            model_name=name,
            context_length=settings.context_length,
            tensor_parallel_size=settings.tensor_parallel_size,
            gpu_memory_utilization=settings.gpu_memory_utilization,
            max_batch=settings.max_batch or OTHER_ENGINES_MAX_BATCH,
            enforce_eager=settings.enforce_eager,
        )
    if engine == "llamacpp":
        from simplechat.engines.llamacpp import LlamaCppEngine

        return LlamaCppEngine(
            settings.model,
            model_name=name,
            context_length=settings.context_length,
            threads=settings.threads,
            use_gpu=settings.device != "cpu",
            max_batch=settings.max_batch,
            prompt_cache=settings.prompt_cache,
            kv_cache_type=settings.kv_cache_type,
            weight_type=settings.weight_type,
        )
    from simplechat.engines.transformers import TransformersEngine

    return TransformersEngine(
        settings.model,
        model_name=name,
        context_length=settings.context_length,
        device=settings.device,
        threads=settings.threads,
        max_batch=settings.max_batch or OTHER_ENGINES_MAX_BATCH,
    )


__all__ = ["Engine", "load_engine"]
