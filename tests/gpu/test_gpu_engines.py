"""On a CUDA machine only (`make test-gpu`; `make test` leaves these out): the transformers engine
on the GPU, and the vllm engine when vLLM is installed. The bundled model is used (saved as a
Hugging Face folder), so no hub access is needed."""

from __future__ import annotations

import asyncio
import importlib.util
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplechat.engines.base import Engine, GenerationRequest, Message, SamplingParams
from simplechat.model_source import bundled_model_path

pytestmark = pytest.mark.gpu


@pytest.fixture(scope="module", autouse=True)
def cuda() -> None:
    import torch

    if not torch.cuda.is_available():
        pytest.fail("make test-gpu needs a CUDA GPU; `make test` covers everything else")


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The bundled GGUF, dequantized into a Hugging Face folder any engine can load."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf = bundled_model_path()
    folder = tmp_path_factory.mktemp("smollm2-hf")
    model = AutoModelForCausalLM.from_pretrained(gguf.parent, gguf_file=gguf.name)
    model.save_pretrained(folder)
    AutoTokenizer.from_pretrained(gguf.parent, gguf_file=gguf.name).save_pretrained(folder)
    return folder


def ask(engine: Engine, text: str, max_tokens: int = 24) -> str:
    request = GenerationRequest(
        engine.render_chat([Message("user", text)]),
        SamplingParams(max_tokens=max_tokens, temperature=0),
    )
    return asyncio.run(engine.complete(request)).text


def answer_eight_at_once(engine: Engine) -> list[str]:
    async def many() -> list[str]:
        requests = [
            GenerationRequest(
                engine.render_chat([Message("user", f"Count from {i} to {i + 5}.")]),
                SamplingParams(max_tokens=32, temperature=0),
            )
            for i in range(8)
        ]
        return [c.text for c in await asyncio.gather(*(engine.complete(r) for r in requests))]

    return asyncio.run(many())


def test_transformers_engine_on_cuda(hf_folder: Path) -> None:
    from simplechat.engines.transformers import TransformersEngine

    engine = TransformersEngine(str(hf_folder), model_name="smollm2", device="cuda")
    assert engine.device == "cuda"
    answer = ask(engine, "What is the capital of France?")
    assert "Paris" in answer


def test_transformers_continuous_batching_on_cuda(hf_folder: Path) -> None:
    from simplechat.engines.transformers import TransformersEngine

    engine = TransformersEngine(str(hf_folder), model_name="smollm2", device="cuda", max_batch=8)
    assert engine._batcher is not None
    assert all(answer.strip() for answer in answer_eight_at_once(engine))
    assert "Paris" in ask(engine, "What is the capital of France?")
    asyncio.run(engine.aclose())


@pytest.fixture(scope="module")
def vllm_engine(hf_folder: Path) -> Iterator[Engine]:
    if importlib.util.find_spec("vllm") is None:
        pytest.fail("vLLM is not installed here: pip install 'simplechat[vllm]'")
    from simplechat.engines.vllm import VllmEngine

    engine = VllmEngine(
        str(hf_folder), model_name="smollm2", gpu_memory_utilization=0.3, max_batch=16
    )
    yield engine
    asyncio.run(engine.aclose())


def test_vllm_answers_streams_and_batches(vllm_engine: Engine) -> None:
    assert "Paris" in ask(vllm_engine, "What is the capital of France?")
    assert all(answer.strip() for answer in answer_eight_at_once(vllm_engine))


def test_vllm_abandoned_stream_is_aborted(vllm_engine: Engine) -> None:
    async def abandon() -> int:
        request = GenerationRequest(
            vllm_engine.render_chat([Message("user", "Write a long story.")]),
            SamplingParams(max_tokens=2000, ignore_eos=True),
        )
        stream = vllm_engine.stream(request)
        await anext(stream)
        await stream.aclose()  # type: ignore[attr-defined]
        await asyncio.sleep(0.5)
        return vllm_engine.running

    assert asyncio.run(abandon()) == 0
