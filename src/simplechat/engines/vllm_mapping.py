"""What the vllm engine hands vLLM and what it makes of vLLM's outputs, kept free of any vLLM
import so that it is tested on machines without vLLM (or a GPU)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from simplechat.engines.base import (
    EngineBusy,
    EngineError,
    EngineUnavailable,
    FinishReason,
    SamplingParams,
    Step,
    UpstreamRejected,
)


def engine_args(
    model: str,
    *,
    context_length: int | None,
    tensor_parallel_size: int,
    gpu_memory_utilization: float,
    max_batch: int,
    enforce_eager: bool = False,
) -> dict[str, Any]:
    """Keyword arguments for vLLM's AsyncEngineArgs."""
    args: dict[str, Any] = {
        "model": model,
        "tensor_parallel_size": tensor_parallel_size,
        "gpu_memory_utilization": gpu_memory_utilization,
        "max_num_seqs": max_batch,  # --max-batch: requests decoded together, as everywhere
    }
    if enforce_eager:  # measured on our 2-core CPU machine: 135 s to start compiled, ~30 s eager
        args["enforce_eager"] = True
    if context_length:
        args["max_model_len"] = context_length
    return args


def sampling_args(params: SamplingParams) -> dict[str, Any]:
    """Keyword arguments for vLLM's SamplingParams (stop sequences stay ours, applied once for
    every engine; reaching one closes the stream, which aborts the request in vLLM)."""
    args: dict[str, Any] = {
        "n": 1,
        "max_tokens": params.max_tokens,
        "temperature": params.temperature,  # vLLM decodes greedily at 0, as we do
        "top_p": params.top_p,
        "ignore_eos": params.ignore_eos,
        "skip_special_tokens": True,
    }
    if params.seed is not None:
        args["seed"] = params.seed
    return args


class CompletionLike(Protocol):
    text: str
    token_ids: Any
    finish_reason: str | None


class RequestOutputLike(Protocol):
    prompt_token_ids: Any
    outputs: Any


@dataclass
class OutputTracker:
    """Turns vLLM's cumulative outputs (all text so far, each time) into our Steps (new text)."""

    emitted_chars: int = 0

    def step(self, output: RequestOutputLike) -> Step:
        completion: CompletionLike = output.outputs[0]
        text = completion.text[self.emitted_chars :]
        self.emitted_chars = len(completion.text)
        prompt_tokens = len(output.prompt_token_ids or ())
        generated = len(completion.token_ids or ())
        return Step(text, prompt_tokens, generated, _finish(completion.finish_reason))


def _finish(reason: str | None) -> FinishReason | None:
    """vLLM's finish reasons (vllm/v1/engine FinishReason, as strings) in our terms."""
    if reason is None:
        return None
    if reason == "length":  # max_tokens, or the model's max_model_len reached
        return "length"
    if reason == "abort":
        raise EngineError("vLLM aborted the request")
    if reason == "error":  # vLLM's retryable request-level failure (e.g. a KV cache load)
        raise EngineUnavailable("vLLM failed the request with a retryable error")
    return "stop"  # "stop" (end of sequence, a stop token) or "repetition" (a loop cut short)


def engine_error(exc: Exception) -> EngineError:
    """vLLM's exceptions in our terms. Matched by class name, not imported: their module has
    moved between vLLM releases (vllm/exceptions.py in 0.33), and older ones raise ValueError."""
    if isinstance(exc, EngineError):
        return exc
    names = {cls.__name__ for cls in type(exc).__mro__}
    if names & {"QueueOverflowError", "MaxQueuedTokensError"}:
        return EngineBusy("vLLM's queue is full. Try again in a few seconds.")
    if names & {"VLLMClientError", "ValueError"}:  # validation: the request is the problem
        return UpstreamRejected(f"vLLM refused the request: {exc}")
    if "RetryableRequestError" in names:  # vLLM says so: safe to try again
        return EngineUnavailable(f"vLLM could not finish the request, try again: {exc}")
    if "EngineDeadError" in names:
        return EngineUnavailable(f"vLLM's engine has stopped ({exc}); restart the server")
    return EngineError(f"vLLM failed: {type(exc).__name__}: {exc}")
