"""`--weight-type q8_0`: the bundled model converted once, kept, and answering as before."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest

from simplechat.engines.base import EngineError, GenerationRequest, Message, SamplingParams
from simplechat.engines.llamacpp import LlamaCppEngine
from simplechat.engines.weight_type import converted_path, weights_for

pytestmark = pytest.mark.real_model


def file_type(path: Path) -> int:
    """The GGUF's `general.file_type`: llama.cpp's LLAMA_FTYPE_* of most of its tensors."""
    import llama_cpp as lc
    from llama_cpp._internals import LlamaModel

    params = lc.llama_model_default_params()
    params.vocab_only = True
    return int(
        LlamaModel(path_model=str(path), params=params, verbose=False).metadata()[
            "general.file_type"
        ]
    )


async def answer(engine: LlamaCppEngine, question: str) -> str:
    request = GenerationRequest(
        engine.render_chat([Message("user", question)]),
        SamplingParams(max_tokens=24, temperature=0),
    )
    return (await engine.complete(request)).text


@pytest.fixture
def cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    return tmp_path / "cache" / "simplechat" / "weights"


def test_the_bundled_model_is_converted_once_and_answers(
    bundled_model: Path, cache_home: Path
) -> None:
    import llama_cpp as lc

    assert file_type(bundled_model) == lc.LLAMA_FTYPE_MOSTLY_Q4_1
    converted = weights_for(bundled_model, "q8_0", threads=2)
    assert converted.parent == cache_home
    assert file_type(converted) == lc.LLAMA_FTYPE_MOSTLY_Q8_0
    assert list(cache_home.iterdir()) == [converted]  # no partial file left beside it
    written = converted.stat().st_mtime_ns
    assert weights_for(bundled_model, "q8_0", threads=2) == converted
    assert converted.stat().st_mtime_ns == written  # kept, not converted again

    engine = LlamaCppEngine(
        bundled_model,
        model_name="smollm2",
        context_length=1024,
        threads=2,
        max_batch=2,
        weight_type="q8_0",
    )
    try:
        reply = asyncio.run(answer(engine, "What is the capital city of Japan?"))
    finally:
        asyncio.run(engine.aclose())
    assert "Tokyo" in reply


def test_file_serves_the_weights_as_they_are(bundled_model: Path, cache_home: Path) -> None:
    assert weights_for(bundled_model, "file", threads=2) == bundled_model
    assert not cache_home.exists()


def test_a_changed_source_file_gets_a_new_conversion(tmp_path: Path) -> None:
    source = tmp_path / "model.gguf"
    source.write_bytes(b"one")
    first = converted_path(source, "q8_0", tmp_path)
    os.utime(source, ns=(1, 1))
    assert converted_path(source, "q8_0", tmp_path) != first
    assert converted_path(source, "q8_0", tmp_path).name.endswith(".q8_0.gguf")


def test_a_file_llama_cpp_cannot_read_is_a_clear_error_and_leaves_nothing(
    tmp_path: Path, cache_home: Path
) -> None:
    broken = tmp_path / "broken.gguf"
    broken.write_bytes(b"GGUF" + b"\0" * 64)
    with pytest.raises(
        EngineError, match=r"could not convert broken.gguf to q8_0.*--weight-type file"
    ):
        weights_for(broken, "q8_0", threads=2)
    assert list(cache_home.iterdir()) == []


def test_a_cache_folder_that_cannot_be_made_is_a_clear_error(
    bundled_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))
    with pytest.raises(EngineError, match="cannot keep converted weights in"):
        weights_for(bundled_model, "q8_0", threads=2)
