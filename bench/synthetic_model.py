"""A real-size model for the benchmarks without a model hub: Qwen2.5-1.5B's shape, random weights.

Usage: .venv/bin/python bench/synthetic_model.py   (prints the GGUF's path; built once, cached)

Speed does not depend on the weights' values, only on the architecture, the sizes and the
quantization, so the benchmarks run a GGUF with Qwen2.5-1.5B-Instruct's shape (28 layers, hidden
1536, 12 query heads and 2 KV heads of 128, FFN 8960, tied embeddings) filled with random
weights, and a real tokenizer: Qwen2's, 151,936 tokens and its chat template, from the vocabulary
file that ships in llama.cpp's own sources (models/ggml-vocab-qwen2.gguf of the pinned
llama-cpp-python sdist, which scripts/install_llama_cpp.sh caches). The weights are written in
f16 and quantized to Q4_K_M by llama.cpp's own quantizer (llama_model_quantize), as a published
Q4_K_M file is. Its answers are noise: the benchmarks send `ignore_eos` and a fixed
`max_tokens`. Kept in ~/.cache/simplechat-bench/synthetic (about 1 GB; the f16 step needs 3 GB of
disk for a minute).
"""

from __future__ import annotations

import argparse
import ctypes
import hashlib
import json
import os
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

CACHE = Path(os.environ.get("SIMPLECHAT_BENCH_CACHE") or Path.home() / ".cache/simplechat-bench")
#: Bump when the file's recipe changes, so a cached file of an older recipe is not reused.
RECIPE = 1
#: Qwen2.5's instruct models stop at <|im_end|>; the vocabulary file says <|endoftext|>.
IM_END = "<|im_end|>"


@dataclass(frozen=True)
class Shape:
    """A Qwen2 decoder's sizes."""

    layers: int = 28
    hidden: int = 1536
    heads: int = 12
    kv_heads: int = 2
    ffn: int = 8960
    context: int = 32768

    @property
    def head_dim(self) -> int:
        return self.hidden // self.heads


QWEN25_1_5B = Shape()


def vocab_file_or_none() -> Path | None:
    """Qwen2's tokenizer as llama.cpp's sources ship it (no weights), from the cached sdist."""
    version = _pinned_llama_cpp_version()
    path = CACHE / f"llama-cpp-python-{version}/src/vendor/llama.cpp/models/ggml-vocab-qwen2.gguf"
    return path if path.is_file() else None


def vocab_file() -> Path:
    path = vocab_file_or_none()
    if path is None:
        sys.exit("llama.cpp's sources are not cached: run bench/build_llama_server.sh first")
    return path


def _pinned_llama_cpp_version() -> str:
    pyproject = (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    return pyproject.split("llama-cpp-python==", 1)[1].split('"', 1)[0].split(";", 1)[0].strip()


def tensors(shape: Shape, vocab: int) -> list[tuple[str, tuple[int, ...]]]:
    """Every tensor of a Qwen2 GGUF with tied embeddings: name and numpy shape (rows, columns)."""
    kv = shape.kv_heads * shape.head_dim
    out: list[tuple[str, tuple[int, ...]]] = [
        ("token_embd.weight", (vocab, shape.hidden)),
        ("output_norm.weight", (shape.hidden,)),
    ]
    for i in range(shape.layers):
        b = f"blk.{i}"
        out += [
            (f"{b}.attn_norm.weight", (shape.hidden,)),
            (f"{b}.attn_q.weight", (shape.hidden, shape.hidden)),
            (f"{b}.attn_q.bias", (shape.hidden,)),
            (f"{b}.attn_k.weight", (kv, shape.hidden)),
            (f"{b}.attn_k.bias", (kv,)),
            (f"{b}.attn_v.weight", (kv, shape.hidden)),
            (f"{b}.attn_v.bias", (kv,)),
            (f"{b}.attn_output.weight", (shape.hidden, shape.hidden)),
            (f"{b}.ffn_norm.weight", (shape.hidden,)),
            (f"{b}.ffn_gate.weight", (shape.ffn, shape.hidden)),
            (f"{b}.ffn_up.weight", (shape.ffn, shape.hidden)),
            (f"{b}.ffn_down.weight", (shape.hidden, shape.ffn)),
        ]
    return out


def _values(name: str, dims: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Norm weights 1 (as trained models have them, near enough), biases 0, matrices small
    normal values (std 0.02, a usual init): the activations stay finite over 28 layers."""
    if name.endswith("norm.weight"):
        return np.ones(dims, dtype=np.float32)
    if name.endswith(".bias"):
        return np.zeros(dims, dtype=np.float32)
    return (rng.standard_normal(dims, dtype=np.float32) * 0.02).astype(np.float16)


def write_f16(target: Path, shape: Shape, vocab_path: Path, seed: int = 0) -> None:
    """The model in f16 (norms and biases f32, as converted models have them), tensor by tensor
    so that memory holds one at a time."""
    import gguf

    source = gguf.GGUFReader(vocab_path)
    tokens = _strings(source, "tokenizer.ggml.tokens")
    token_types = source.fields["tokenizer.ggml.token_type"].contents()
    merges = _strings(source, "tokenizer.ggml.merges")
    template = source.fields["tokenizer.chat_template"].contents()
    pre = source.fields["tokenizer.ggml.pre"].contents()
    end_of_text = int(source.fields["tokenizer.ggml.eos_token_id"].contents())
    im_end = tokens.index(IM_END.encode())

    writer = gguf.GGUFWriter(target, "qwen2")
    writer.add_name("synthetic-qwen2.5-1.5b-shape")
    writer.add_file_type(gguf.LlamaFileType.MOSTLY_F16)
    writer.add_block_count(shape.layers)
    writer.add_context_length(shape.context)
    writer.add_embedding_length(shape.hidden)
    writer.add_feed_forward_length(shape.ffn)
    writer.add_head_count(shape.heads)
    writer.add_head_count_kv(shape.kv_heads)
    writer.add_rope_freq_base(1_000_000.0)
    writer.add_layer_norm_rms_eps(1e-6)
    writer.add_tokenizer_model("gpt2")
    writer.add_tokenizer_pre(pre)
    writer.add_token_list(tokens)
    writer.add_token_types(list(token_types))
    writer.add_token_merges(merges)
    writer.add_eos_token_id(im_end)
    writer.add_pad_token_id(end_of_text)
    writer.add_bos_token_id(end_of_text)
    writer.add_add_bos_token(False)  # as Qwen2.5's own GGUFs
    writer.add_chat_template(template)
    plan = tensors(shape, len(tokens))
    for name, dims in plan:
        dtype = np.float32 if len(dims) == 1 else np.float16
        writer.add_tensor_info(name, dims, np.dtype(dtype), int(np.prod(dims)) * dtype().itemsize)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_ti_data_to_file()
    rng = np.random.default_rng(seed)
    for name, dims in plan:
        writer.write_tensor_data(_values(name, dims, rng))
    writer.close()


def _strings(reader: Any, key: str) -> list[bytes]:
    """A string array of a GGUF's metadata, as the bytes it holds (tokens need not be UTF-8)."""
    field = reader.fields[key]
    return [bytes(field.parts[i]) for i in field.data]


def quantize(source: Path, target: Path, threads: int) -> None:
    """llama.cpp's own quantizer, as `llama-quantize model.gguf out.gguf Q4_K_M` runs it."""
    import llama_cpp as lc

    params = lc.llama_model_quantize_default_params()
    params.ftype = lc.LLAMA_FTYPE_MOSTLY_Q4_K_M
    params.nthread = threads
    if lc.llama_model_quantize(str(source).encode(), str(target).encode(), ctypes.byref(params)):
        raise RuntimeError(f"llama.cpp could not quantize {source}")


def model_path(shape: Shape = QWEN25_1_5B, *, folder: Path | None = None) -> Path:
    """Where the model of `shape` is kept: one file per shape and recipe."""
    key = hashlib.sha256(json.dumps([RECIPE, asdict(shape)]).encode()).hexdigest()[:10]
    name = f"qwen2-{shape.layers}l-{shape.hidden}h.{key}.Q4_K_M.gguf"
    return (folder or CACHE / "synthetic") / name


def build(
    shape: Shape = QWEN25_1_5B, *, folder: Path | None = None, vocab: Path | None = None
) -> Path:
    """The model's Q4_K_M file: built the first time (minutes), then found in the cache."""
    target = model_path(shape, folder=folder)
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    f16 = target.with_name(f"{target.stem}.{os.getpid()}.f16.partial")
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    try:
        print(f"==> writing a random-weight {shape} in f16", file=sys.stderr, flush=True)
        write_f16(f16, shape, vocab or vocab_file())
        print("==> quantizing to Q4_K_M with llama.cpp", file=sys.stderr, flush=True)
        quantize(f16, partial, threads=len(os.sched_getaffinity(0)))
        os.replace(partial, target)  # whole or not at all
    finally:
        f16.unlink(missing_ok=True)
        partial.unlink(missing_ok=True)
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.parse_args()
    print(build())


if __name__ == "__main__":
    main()
