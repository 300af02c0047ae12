"""bench/synthetic_model.py on a tiny shape: llama.cpp loads what it builds, with the shape asked
for, Q4_K_M weights and Qwen2's real tokenizer; a second build finds the cached file."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench"))
import synthetic_model  # noqa: E402  (bench/ is no package)

TINY = synthetic_model.Shape(layers=2, hidden=256, heads=4, kv_heads=2, ffn=512, context=2048)


@pytest.fixture(scope="module")
def vocab() -> Path:
    path = synthetic_model.vocab_file_or_none()
    if path is None:
        pytest.skip("llama.cpp's sources are not cached: bench/build_llama_server.sh fetches them")
    return path


def test_a_tiny_model_loads_with_its_shape_quantization_and_tokenizer(
    tmp_path: Path, vocab: Path
) -> None:
    import llama_cpp as lc
    from llama_cpp._internals import LlamaModel

    path = synthetic_model.build(TINY, folder=tmp_path, vocab=vocab)
    model = LlamaModel(path_model=str(path), params=lc.llama_model_default_params(), verbose=False)
    try:
        m = model.model
        assert (lc.llama_model_n_layer(m), lc.llama_model_n_embd(m)) == (2, 256)
        assert (lc.llama_model_n_head(m), lc.llama_model_n_head_kv(m)) == (4, 2)
        assert lc.llama_vocab_n_tokens(model.vocab) == 151936
        metadata = model.metadata()
        assert int(metadata["general.file_type"]) == lc.LLAMA_FTYPE_MOSTLY_Q4_K_M
        assert "<|im_start|>" in metadata["tokenizer.chat_template"]
        # Qwen2's own ids for this text, and its end of turn as the end of generation.
        assert list(model.tokenize(b"Hello world", add_bos=False, special=False)) == [9707, 1879]
        im_end = list(model.tokenize(b"<|im_end|>", add_bos=False, special=True))
        assert im_end == [151645] and lc.llama_vocab_is_eog(model.vocab, 151645)
    finally:
        model.close()
    assert not [p for p in tmp_path.iterdir() if p != path]  # no f16 or partial file left


def test_a_second_build_finds_the_cached_file(tmp_path: Path, vocab: Path) -> None:
    first = synthetic_model.build(TINY, folder=tmp_path, vocab=vocab)
    written = first.stat().st_mtime_ns
    assert synthetic_model.build(TINY, folder=tmp_path, vocab=vocab) == first
    assert first.stat().st_mtime_ns == written
