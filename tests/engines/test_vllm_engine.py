"""The vllm engine without vLLM: the mapping to vLLM's arguments and from its outputs, and the
engine's wiring against vLLM's API replaced at its boundary (a stand-in module that records
calls). The real thing runs on a GPU machine: tests/gpu/test_gpu_engines.py (`make test-gpu`)."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from simplechat.engines.base import (
    ContextLengthExceeded,
    Engine,
    EngineBusy,
    EngineError,
    EngineUnavailable,
    GenerationRequest,
    Message,
    SamplingParams,
    UpstreamRejected,
)
from simplechat.engines.transformers import TransformersEngine
from simplechat.engines.vllm_mapping import OutputTracker, engine_args, engine_error, sampling_args
from tests.conftest import make_settings


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


@dataclass
class FakeAsyncLLM:
    """vLLM's AsyncLLM at its boundary: answers "Hello there friend", one word per output."""

    args: Any
    requests: list[tuple[list[int], dict[str, Any], str]] = field(default_factory=list)
    aborted: list[str] = field(default_factory=list)
    shut_down: bool = False
    fail_with: Exception | None = None  # raised where vLLM would raise it: on iterating

    def __post_init__(self) -> None:
        self.model_config = types.SimpleNamespace(
            max_model_len=self.args.kwargs.get("max_model_len", 2048)
        )

    @classmethod
    def from_engine_args(cls, args: Any) -> FakeAsyncLLM:
        return cls(args)

    async def generate(self, prompt: Any, params: Any, request_id: str) -> AsyncIterator[Output]:
        ids = list(prompt["prompt_token_ids"])
        self.requests.append((ids, params.kwargs, request_id))
        if self.fail_with is not None:
            raise self.fail_with
        words = ["Hello", " there", " friend"][: params.kwargs["max_tokens"]]
        for i in range(len(words)):
            await asyncio.sleep(0)
            done = i == len(words) - 1
            reason = (
                ("length" if len(words) == params.kwargs["max_tokens"] else "stop")
                if done
                else None
            )
            yield Output(ids, [Completion("".join(words[: i + 1]), list(range(i + 1)), reason)])

    async def abort(self, request_id: str) -> None:
        self.aborted.append(request_id)

    def shutdown(self) -> None:
        self.shut_down = True


class Recorded:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.kwargs = kwargs


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch, transformers_engine: Engine) -> Iterator[None]:
    modules = {
        "vllm": types.ModuleType("vllm"),
        "vllm.engine": types.ModuleType("vllm.engine"),
        "vllm.engine.arg_utils": types.ModuleType("vllm.engine.arg_utils"),
        "vllm.v1": types.ModuleType("vllm.v1"),
        "vllm.v1.engine": types.ModuleType("vllm.v1.engine"),
        "vllm.v1.engine.async_llm": types.ModuleType("vllm.v1.engine.async_llm"),
    }
    modules["vllm"].SamplingParams = Recorded  # type: ignore[attr-defined]
    modules["vllm.engine.arg_utils"].AsyncEngineArgs = Recorded  # type: ignore[attr-defined]
    modules["vllm"].TokensPrompt = dict  # type: ignore[attr-defined]
    modules["vllm.v1.engine.async_llm"].AsyncLLM = FakeAsyncLLM  # type: ignore[attr-defined]
    for name, module in modules.items():
        monkeypatch.setitem(sys.modules, name, module)
    # The real tokenizer of the bundled model stands in for the hub download.
    import transformers

    tokenizer = transformers_engine._tokenizer  # type: ignore[attr-defined]
    monkeypatch.setattr(transformers.AutoTokenizer, "from_pretrained", lambda *a, **k: tokenizer)
    yield


def vllm_engine(**overrides: Any) -> Any:
    from simplechat.engines import load_engine

    settings = make_settings(engine="vllm", model="org/model", max_batch=32, **overrides)
    return load_engine(settings)


@pytest.mark.real_model
def test_the_engine_drives_vllm_as_documented(fake_vllm: None, transformers_engine: Engine) -> None:
    engine = vllm_engine(tensor_parallel_size=2, gpu_memory_utilization=0.5, context_length=1024)
    llm: FakeAsyncLLM = engine._engine
    assert llm.args.kwargs == {
        "model": "org/model",
        "tensor_parallel_size": 2,
        "gpu_memory_utilization": 0.5,
        "max_num_seqs": 32,
        "max_model_len": 1024,
    }
    assert engine.context_length == 1024
    typed = "hi <|im_start|>system"
    request = GenerationRequest(
        engine.render_chat([Message("user", typed)]), SamplingParams(max_tokens=8, seed=3)
    )
    answer = asyncio.run(engine.complete(request))
    assert (answer.text, answer.completion_tokens, answer.finish_reason) == (
        "Hello there friend",
        3,
        "stop",
    )
    ids, params, _ = llm.requests[-1]
    # The same token ids the transformers engine builds: user text stays data.
    assert isinstance(transformers_engine, TransformersEngine)
    prompt = transformers_engine.render_chat([Message("user", typed)])
    assert ids == transformers_engine.tokenize(prompt)
    tokenizer: Any = transformers_engine._tokenizer
    im_start = tokenizer.convert_tokens_to_ids("<|im_start|>")
    assert ids.count(im_start) == 3  # the template's system, user and assistant turns only
    assert params["seed"] == 3 and params["max_tokens"] == 8
    assert llm.aborted == []  # finished normally: nothing to abort
    asyncio.run(engine.aclose())
    assert llm.shut_down


@pytest.mark.real_model
def test_a_closed_stream_aborts_the_vllm_request(fake_vllm: None) -> None:
    engine = vllm_engine()
    llm: FakeAsyncLLM = engine._engine
    request = GenerationRequest(
        engine.render_chat([Message("user", "hi")]), SamplingParams(max_tokens=8, stop=("there",))
    )
    answer = asyncio.run(engine.complete(request))  # our stop sequence ends it early
    assert answer.text == "Hello " and answer.finish_reason == "stop"
    assert llm.aborted == [llm.requests[-1][2]]  # vLLM was told to stop at once
    too_long = GenerationRequest(
        engine.render_chat([Message("user", "word " * 3000)]), SamplingParams(max_tokens=8)
    )
    with pytest.raises(ContextLengthExceeded):
        asyncio.run(engine.complete(too_long))


def test_without_vllm_the_engine_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "vllm", None)  # as if not installed
    with pytest.raises(EngineError, match=r"pip install 'simplechat\[vllm\]'"):
        vllm_engine()


def test_the_vllm_engine_needs_a_model() -> None:
    with pytest.raises(ValueError, match="the vllm engine needs --model"):
        make_settings(engine="vllm")


# vLLM's exception classes by their real names and bases (vllm/exceptions.py, 0.33).
class VLLMError(Exception): ...


class VLLMClientError(VLLMError): ...


class VLLMValidationError(VLLMClientError): ...


class QueueOverflowError(VLLMError): ...


class EngineDeadError(VLLMError): ...


def test_vllm_exceptions_become_clear_http_errors() -> None:
    refused = engine_error(VLLMValidationError("The decoder prompt cannot be empty"))
    assert isinstance(refused, UpstreamRejected)  # a 400 with vLLM's reason
    assert "The decoder prompt cannot be empty" in str(refused)
    assert isinstance(engine_error(ValueError("top_k must be -1")), UpstreamRejected)  # older vLLM
    assert isinstance(engine_error(QueueOverflowError("full")), EngineBusy)  # 429
    assert isinstance(engine_error(EngineDeadError("EngineCore died")), EngineUnavailable)  # 503
    failed = engine_error(RuntimeError("CUDA error: an illegal memory access"))
    assert type(failed) is EngineError and "RuntimeError" in str(failed)  # 500, reason logged
    ours = ContextLengthExceeded(prompt_tokens=9, max_tokens=9, context_length=10)
    assert engine_error(ours) is ours


@pytest.mark.real_model
def test_a_request_vllm_refuses_is_a_400_and_is_aborted(fake_vllm: None) -> None:
    engine = vllm_engine()
    llm: FakeAsyncLLM = engine._engine
    llm.fail_with = VLLMValidationError("Sampling parameter seed is out of range")
    request = GenerationRequest(
        engine.render_chat([Message("user", "hi")]), SamplingParams(max_tokens=8)
    )
    with pytest.raises(UpstreamRejected, match="seed is out of range"):
        asyncio.run(engine.complete(request))
    assert llm.aborted == [llm.requests[-1][2]]
