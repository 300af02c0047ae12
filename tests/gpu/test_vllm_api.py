"""Where vLLM is installed (`make test-gpu`; no GPU needed for these): what the vllm engine hands
vLLM builds vLLM's own objects, and what vLLM returns and raises maps as the engine expects."""

from __future__ import annotations

import importlib.util

import pytest

from simplechat.engines.base import (
    EngineUnavailable,
    SamplingParams,
    UpstreamRejected,
)
from simplechat.engines.vllm_mapping import OutputTracker, engine_args, engine_error, sampling_args

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def vllm_installed() -> None:
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed here: pip install 'simplechat[vllm]'")


def test_sampling_arguments_build_vllms_sampling_params() -> None:
    from vllm import SamplingParams as VllmSamplingParams
    from vllm.sampling_params import RequestOutputKind

    greedy = VllmSamplingParams(**sampling_args(SamplingParams(max_tokens=32, temperature=0)))
    assert (greedy.temperature, greedy.max_tokens, greedy.seed) == (0, 32, None)
    # the engine reads cumulative text and takes the new part itself
    assert greedy.output_kind == RequestOutputKind.CUMULATIVE
    ours = SamplingParams(max_tokens=8, temperature=0.7, top_p=0.9, seed=2**63 - 1, ignore_eos=True)
    sampled = VllmSamplingParams(**sampling_args(ours))
    assert (sampled.top_p, sampled.seed, sampled.ignore_eos) == (0.9, 2**63 - 1, True)


def test_engine_arguments_build_vllms_engine_args() -> None:
    from vllm.engine.arg_utils import AsyncEngineArgs

    args = AsyncEngineArgs(
        **engine_args(
            "org/model",
            context_length=8192,
            tensor_parallel_size=4,
            gpu_memory_utilization=0.8,
            max_batch=64,
        )
    )
    assert (args.tensor_parallel_size, args.gpu_memory_utilization) == (4, 0.8)
    assert (args.max_num_seqs, args.max_model_len) == (64, 8192)


def test_vllms_outputs_become_steps() -> None:
    from vllm.outputs import CompletionOutput, RequestOutput
    from vllm.v1.engine import FinishReason

    def output(text: str, ids: list[int], reason: str | None) -> RequestOutput:
        completion = CompletionOutput(
            index=0,
            text=text,
            token_ids=ids,
            cumulative_logprob=None,
            logprobs=None,
            finish_reason=reason,
        )
        return RequestOutput(
            request_id="r",
            prompt=None,
            prompt_token_ids=[1, 2, 3],
            prompt_logprobs=None,
            outputs=[completion],
            finished=reason is not None,
        )

    tracker = OutputTracker()
    first = tracker.step(output("こん", [10], None))
    last = tracker.step(output("こんにちは", [10, 11], str(FinishReason.LENGTH)))
    assert (first.text, last.text, last.completion_tokens) == ("こん", "にちは", 2)
    assert last.finish_reason == "length"
    repeated = OutputTracker().step(output("la la", [7, 7], str(FinishReason.REPETITION)))
    assert repeated.finish_reason == "stop"
    with pytest.raises(EngineUnavailable):
        OutputTracker().step(output("", [], str(FinishReason.ERROR)))


def test_vllms_exceptions_map_to_clear_errors() -> None:
    from vllm import SamplingParams as VllmSamplingParams

    with pytest.raises(Exception) as invalid:
        VllmSamplingParams(**sampling_args(SamplingParams(max_tokens=0)))
    refused = engine_error(invalid.value)
    assert isinstance(refused, UpstreamRejected) and "max_tokens" in str(refused)
    from vllm.v1.engine.exceptions import EngineDeadError

    assert isinstance(engine_error(EngineDeadError()), EngineUnavailable)
