"""The vllm engine's mapping to vLLM's arguments and from its outputs, on machines without vLLM.
The engine itself runs on real vLLM in tests/vllm (its CPU build, `make test`) and on a GPU in
tests/gpu (`make test-gpu`)."""

from __future__ import annotations

import sys
from dataclasses import dataclass

import pytest

from simplechat.engines.base import (
    EngineError,
    EngineUnavailable,
    SamplingParams,
)
from simplechat.engines.vllm import VllmEngine
from simplechat.engines.vllm_mapping import OutputTracker, engine_args, sampling_args
from tests.support.settings import make_settings


@dataclass
class Completion:
    text: str
    token_ids: list[int]
    finish_reason: str | None = None


@dataclass
class Output:
    prompt_token_ids: list[int]
    outputs: list[Completion]


def test_engine_arguments_pass_through() -> None:
    args = engine_args(
        "org/model",
        context_length=8192,
        tensor_parallel_size=4,
        gpu_memory_utilization=0.8,
        max_batch=64,
    )
    assert args == {
        "model": "org/model",
        "tensor_parallel_size": 4,
        "gpu_memory_utilization": 0.8,
        "max_num_seqs": 64,
        "max_model_len": 8192,
    }
    unbounded = engine_args(
        "m", context_length=None, tensor_parallel_size=1, gpu_memory_utilization=0.9, max_batch=4
    )
    assert "max_model_len" not in unbounded  # vLLM then uses the model's own


def test_sampling_arguments() -> None:
    greedy = sampling_args(SamplingParams(max_tokens=32, temperature=0, stop=("\n",)))
    assert greedy == {
        "n": 1,
        "max_tokens": 32,
        "temperature": 0,
        "top_p": 1.0,
        "ignore_eos": False,
        "skip_special_tokens": True,
    }  # no seed unless asked; stops stay ours
    seeded = sampling_args(SamplingParams(max_tokens=8, seed=7, ignore_eos=True, top_p=0.9))
    assert (seeded["seed"], seeded["ignore_eos"], seeded["top_p"]) == (7, True, 0.9)


def test_cumulative_outputs_become_new_text_steps() -> None:
    tracker = OutputTracker()
    prompt = [1, 2, 3]
    steps = [
        tracker.step(Output(prompt, [Completion("こん", [10])])),
        tracker.step(Output(prompt, [Completion("こん", [10, 11])])),  # mid-character: no text
        tracker.step(Output(prompt, [Completion("こんにちは", [10, 11, 12], "length")])),
    ]
    assert [s.text for s in steps] == ["こん", "", "にちは"]
    assert [(s.prompt_tokens, s.completion_tokens) for s in steps] == [(3, 1), (3, 2), (3, 3)]
    assert [s.finish_reason for s in steps] == [None, None, "length"]
    assert OutputTracker().step(Output(prompt, [Completion("x", [5], "stop")])).finish_reason == (
        "stop"
    )
    with pytest.raises(EngineError, match="aborted"):
        OutputTracker().step(Output(prompt, [Completion("", [], "abort")]))
    # vLLM 0.33 added two: a loop cut short ends the answer; a retryable failure is a 503.
    repeated = OutputTracker().step(
        Output(prompt, [Completion("la la la", [7, 7, 7], "repetition")])
    )
    assert (repeated.text, repeated.finish_reason) == ("la la la", "stop")
    with pytest.raises(EngineUnavailable, match="retryable"):
        OutputTracker().step(Output(prompt, [Completion("", [], "error")]))


def test_without_vllm_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    with pytest.raises(EngineError, match=r"pip install vllm.*scripts/install_vllm_cpu.sh"):
        VllmEngine("org/model", model_name="model")


def test_the_vllm_engine_needs_a_model() -> None:
    with pytest.raises(ValueError, match="the vllm engine needs --model"):
        make_settings(engine="vllm")
