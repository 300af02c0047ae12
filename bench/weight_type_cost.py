"""What a decode step costs in llama.cpp with the bundled model's weights as they are (q4_1) and
converted (`--weight-type`), at 1 to 16 sequences a step, and how far the conversion moves the
model's answers.

Usage: .venv/bin/python bench/weight_type_cost.py [--types file q8_0] [--steps 40] [--threads 2]
       [--model PATH]   (a GGUF other than the bundled one, e.g. bench/synthetic_model.py's)
       [--levels 1 2 4 8 16]   (tokens a step; past 16, some slots get more than one)
Each type gets a context laid out as `simplechat serve` lays it out (a KV stream per slot, 16
slots), a 40-token prompt in every slot, then steps of one token for each of the first N slots
(consecutive, one compute pass). Prints the median step in milliseconds and tokens per second.
Then, against the file's own weights: the share of positions of a chat prompt where the
converted model's most likely next token is the same, and the largest probability it moves.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import llama_cpp as lc
import numpy as np
from llama_cpp._logger import set_verbose

from simplechat.engines.weight_type import weights_for
from simplechat.model_source import bundled_model_path

SLOTS = 16
CONTEXT = 1024
PROMPT_TOKENS = 40
LEVELS = (1, 2, 4, 8, 16)
#: A chat-like text whose next-token predictions are compared between weight types.
TEXT = (
    "<|im_start|>user\nExplain in three sentences why the sky is blue, then say it in "
    "Japanese: 空はなぜ青いのですか。<|im_end|>\n<|im_start|>assistant\nThe sky looks blue "
    "because sunlight is scattered by the molecules of the air, and blue light, with its "
    "shorter wavelength, is scattered much more than red light. Wherever we look, some of that "
    "scattered blue light reaches our eyes. 空が青く見えるのは、太陽の光が空気の分子に散乱"
    "されるからです。"
)


class Context:
    """SLOTS KV streams of CONTEXT cells and a batch to feed them."""

    def __init__(self, model: Any, threads: int) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = CONTEXT * SLOTS, SLOTS, False
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = threads
        self.ctx = lc.llama_init_from_model(model, params)
        self.batch = lc.llama_batch_init(512, 0, 1)
        self.length = [0] * SLOTS
        self.n_vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(model))

    def decode(self, feeds: list[tuple[int, int, int]], logits: bool = True) -> float:
        self.batch.n_tokens = len(feeds)
        for i, (token, position, slot) in enumerate(feeds):
            self.batch.token[i], self.batch.pos[i] = token, position
            self.batch.n_seq_id[i], self.batch.seq_id[i][0] = 1, slot
            self.batch.logits[i] = logits
        started = time.perf_counter()
        if lc.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")
        for _, position, slot in feeds:
            self.length[slot] = position + 1
        return time.perf_counter() - started

    def step_ms(self, n: int, steps: int) -> float:
        """The median time of a step of n tokens: one for each of the first n slots, or, past
        SLOTS, more than one for some (consecutive positions, as in a prompt chunk)."""
        times = []
        for _ in range(steps):
            feeds, fed = [], [0] * SLOTS
            for i in range(n):
                slot = i % SLOTS
                feeds.append((7, self.length[slot] + fed[slot], slot))
                fed[slot] += 1
            times.append(self.decode(feeds))
        return statistics.median(times) * 1000

    def logits(self, rows: int) -> np.ndarray:
        pointer = lc.llama_get_logits(self.ctx)
        buffer = (ctypes.c_float * (rows * self.n_vocab)).from_address(
            ctypes.cast(pointer, ctypes.c_void_p).value or 0
        )
        return np.frombuffer(buffer, dtype=np.float32).reshape(rows, self.n_vocab).copy()

    def close(self) -> None:
        lc.llama_batch_free(self.batch)
        lc.llama_free(self.ctx)


def load(path: Path) -> Any:
    params = lc.llama_model_default_params()
    model = lc.llama_model_load_from_file(str(path).encode(), params)
    if not model:
        raise RuntimeError(f"could not load {path}")
    return model


def tokens_of(model: Any, text: str) -> list[int]:
    vocab = lc.llama_model_get_vocab(model)
    data = text.encode()
    out = (lc.llama_token * (len(data) + 8))()
    n = lc.llama_tokenize(vocab, data, len(data), out, len(out), True, True)
    return list(out[:n])


def next_token_probabilities(model: Any, threads: int) -> np.ndarray:
    """Softmax of the model's logits at every position of TEXT."""
    context = Context(model, threads)
    try:
        tokens = tokens_of(model, TEXT)
        context.decode([(t, i, 0) for i, t in enumerate(tokens)])
        logits = context.logits(len(tokens))
    finally:
        context.close()
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def measure(path: Path, threads: int, steps: int, levels: tuple[int, ...]) -> dict[str, float]:
    model = load(path)
    context = Context(model, threads)
    try:
        for slot in range(SLOTS):
            context.decode([(100 + i, i, slot) for i in range(PROMPT_TOKENS)], logits=False)
        context.step_ms(SLOTS, 3)  # warm-up
        return {str(n): context.step_ms(n, steps) for n in levels}
    finally:
        context.close()
        lc.llama_model_free(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--types", nargs="+", default=["file", "q8_0"])
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--model", type=Path, help="a GGUF file (default: the bundled model)")
    parser.add_argument("--levels", type=int, nargs="+", default=list(LEVELS), help="tokens a step")
    args = parser.parse_args()
    levels = tuple(args.levels)
    set_verbose(False)
    lc.llama_backend_init()
    source = args.model or bundled_model_path()
    paths = {t: weights_for(source, t, threads=args.threads) for t in args.types}
    header = " | ".join(f"{n} tokens" for n in levels)
    print(f"| weights | MiB | {header} |", "| --- " * (len(levels) + 2) + "|", sep="\n")
    for weight_type, path in paths.items():
        ms = measure(path, args.threads, args.steps, levels)
        cells = " | ".join(
            f"{ms[str(n)]:.1f} ms, {n * 1000 / ms[str(n)]:.0f} tok/s" for n in levels
        )
        print(f"| {weight_type} | {path.stat().st_size / 2**20:.0f} | {cells} |", flush=True)
    if "file" not in paths or len(paths) < 2:
        return
    reference_model = load(paths["file"])
    reference = next_token_probabilities(reference_model, args.threads)
    lc.llama_model_free(reference_model)
    for weight_type, path in paths.items():
        if weight_type == "file":
            continue
        model = load(path)
        other = next_token_probabilities(model, args.threads)
        lc.llama_model_free(model)
        same = float(np.mean(reference.argmax(axis=1) == other.argmax(axis=1)))
        moved = float(np.abs(reference - other).max())
        print(
            f"{weight_type} against file: the same top token at {same:.1%} of "
            f"{len(reference)} positions; largest probability moved {moved:.3f}",
            file=sys.stdout,
        )


if __name__ == "__main__":
    main()
