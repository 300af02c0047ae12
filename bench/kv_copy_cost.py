"""What the batch scheduler's choices cost in llama.cpp, on this machine, with the bundled model.

Usage: .venv/bin/python bench/kv_copy_cost.py [--context 4096] [--repeats 5]
Measures, on a context laid out as `simplechat serve` lays it out (a KV stream per slot):
- decoding a 40-token prompt, against copying another slot's KV stream (llama_memory_seq_cp,
  done inside the next decode) or only its cells (llama_state_seq_get/set_data, as
  simplechat.engines.kv_copy does for short sequences) and decoding only its last token: where
  a copy starts to pay;
- one step of two sequences in consecutive slots, against two slots with a gap between them:
  what a gap costs each step (llama.cpp computes one run of consecutive slots per pass).
Prints medians in milliseconds.
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import llama_cpp as lc
from llama_cpp._logger import set_verbose

from simplechat.engines.kv_copy import KvCopier
from simplechat.model_source import bundled_model_path

PROMPT_TOKENS = 40


class Slots:
    """A context with `n` KV streams of `context` cells each, and one batch to feed it."""

    def __init__(self, model: Any, n: int, context: int) -> None:
        params = lc.llama_context_default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = context * n, n, False
        params.n_batch = params.n_ubatch = 512
        params.n_threads = params.n_threads_batch = 2
        self.ctx = lc.llama_init_from_model(model, params)
        self.memory = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(512, 0, 1)
        self.copier = KvCopier(self, context)
        self.length = [0] * n  # cells each slot holds

    def decode(self, feeds: list[tuple[int, int, int]]) -> float:
        """Decodes (token, position, slot) feeds, logits for each; seconds taken."""
        self.batch.n_tokens = len(feeds)
        for i, (token, position, slot) in enumerate(feeds):
            self.batch.token[i], self.batch.pos[i] = token, position
            self.batch.n_seq_id[i], self.batch.seq_id[i][0], self.batch.logits[i] = 1, slot, 1
        started = time.perf_counter()
        if lc.llama_decode(self.ctx, self.batch) != 0:
            raise RuntimeError("llama_decode failed")
        for _, position, slot in feeds:
            self.length[slot] = position + 1
        return time.perf_counter() - started

    def prompt(self, slot: int) -> float:
        lc.llama_memory_seq_rm(self.memory, slot, -1, -1)
        return self.decode([(100 + i, i, slot) for i in range(PROMPT_TOKENS)])

    def copied_prompt(self, donor: int, slot: int) -> float:
        """The donor's prompt copied into `slot`, then its last token decoded for logits."""
        lc.llama_memory_seq_cp(self.memory, donor, slot, -1, -1)
        lc.llama_memory_seq_rm(self.memory, slot, PROMPT_TOKENS - 1, -1)
        return self.decode([(100 + PROMPT_TOKENS - 1, PROMPT_TOKENS - 1, slot)])

    def cells_copied_prompt(self, donor: int, slot: int) -> float:
        """As copied_prompt, copying only the donor's cells."""
        started = time.perf_counter()
        if not self.copier.copy_cells(donor, slot):
            raise RuntimeError("llama_state_seq_set_data failed")
        copied = time.perf_counter() - started
        lc.llama_memory_seq_rm(self.memory, slot, PROMPT_TOKENS - 1, -1)
        return copied + self.decode([(100 + PROMPT_TOKENS - 1, PROMPT_TOKENS - 1, slot)])

    def step(self, *slots: int) -> float:
        """One generated token for each of these slots, in one decode."""
        return self.decode([(7, self.length[s], s) for s in slots])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--context", type=int, default=4096, help="cells per slot (stream)")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    set_verbose(False)  # llama.cpp's own log: errors only
    lc.llama_backend_init()
    model = lc.llama_model_load_from_file(
        str(bundled_model_path()).encode(), lc.llama_model_default_params()
    )
    slots = Slots(model, 4, args.context)
    names = ("prefill", "copy", "cells", "together", "gap")
    times: dict[str, list[float]] = {name: [] for name in names}
    slots.prompt(0)
    for _ in range(args.repeats):
        times["prefill"].append(slots.prompt(1))
        times["copy"].append(slots.copied_prompt(0, 2))
        times["cells"].append(slots.cells_copied_prompt(0, 2))
        slots.copied_prompt(0, 1)
        slots.copied_prompt(0, 3)
        for _ in range(4):  # slots 1, 2: consecutive; 1, 3: a gap
            times["together"].append(slots.step(1, 2))
            times["gap"].append(slots.step(1, 3))
    print(f"context {args.context} cells a slot, {PROMPT_TOKENS}-token prompt; medians:")
    ms = {name: statistics.median(t) * 1000 for name, t in times.items()}
    per_token = ms["prefill"] / PROMPT_TOKENS
    print(f"- decoding the prompt: {ms['prefill']:.1f} ms ({per_token:.2f} ms a token)")
    print(f"- copying a stream, then decoding its last token: {ms['copy']:.1f} ms")
    print(f"- copying only its {PROMPT_TOKENS} cells, then the same: {ms['cells']:.1f} ms")
    print(f"- a step of two consecutive slots: {ms['together']:.1f} ms,")
    print(f"  of two with a gap between them: {ms['gap']:.1f} ms")


if __name__ == "__main__":
    main()
