"""Two weight sets of one model, each with its own llama.cpp context: which one a step runs on.

On the CPU, llama.cpp multiplies q4_1 weights (the bundled model's) column by column: a step of
16 tokens costs 16 times one token. The same weights converted to q8_0 have batched kernels
(16 tokens: 54 against 72 ms, a 256-token prompt: 1.4 against 2.6 ms a token) but, being 1.5
times the bytes, decode one token slower (11.9 against 8.7 ms; bench/weight_type_cost.py). So a
step of few tokens runs on the file's weights and a step of many on the q8_0 twin, and the busy
sequences' KV cells are copied across when the choice changes (7 µs a cell: 145 cells in 1 ms).
"""

from __future__ import annotations

import ctypes
import logging
from dataclasses import dataclass, field
from typing import Any

from simplechat.engines.kv_copy import KvCopier

log = logging.getLogger(__name__)

#: A step of at least this many tokens runs on the batched set (from 8 tokens on it is faster;
#: at 4-5 the two are even: 22.3 against 22.0 ms for four sequences).
BATCHED_FROM_TOKENS = 6
#: A step of at most this many runs on the file's weights; in between, the set stays as it is,
#: so a load that hovers at the line does not copy the busy cells back and forth.
FILE_UP_TO_TOKENS = 4
#: Going over for a prompt alone (few sequences generating) pays only if the busy cells to copy
#: are few against the prompt tokens it speeds up: a chat with a 4,000-token history and a
#: 10-token question stays where it is.
CELLS_PER_PROMPT_TOKEN = 64


@dataclass(eq=False)
class WeightSet:
    """One set of weights: its llama.cpp context (a KV stream per slot) and what each of its
    free slots holds for the prompt cache. Only the set in use is written to, so what a set
    records of its slots stays true while the other is in use."""

    name: str
    context: Any
    copier: KvCopier
    cached: dict[int, list[int]] = field(default_factory=dict)


def preferred(
    current: int,
    n_sets: int,
    *,
    step_tokens: int,
    generating: int,
    busy_cells: int,
) -> int:
    """Which set the next step should run on: 0, the file's weights, or 1, the batched twin."""
    if n_sets < 2:
        return 0
    if step_tokens <= FILE_UP_TO_TOKENS:
        return 0
    if step_tokens < BATCHED_FROM_TOKENS:
        return current
    many_generating = generating >= BATCHED_FROM_TOKENS  # a load that lasts: any copy pays
    worth_a_copy = busy_cells <= CELLS_PER_PROMPT_TOKEN * step_tokens
    return 1 if many_generating or worth_a_copy else current


class CellTransfer:
    """Copies slots' KV cells from one set's context to the same slots of another's."""

    def __init__(self) -> None:
        self._buffer = (ctypes.c_uint8 * 0)()
        self.cells = 0  # copied so far, for the log and the tests

    def copy(self, source: WeightSet, target: WeightSet, slots: dict[int, int]) -> bool:
        """Makes each slot (id -> cells it holds) of `target` hold what it holds in `source`;
        False if llama.cpp refused one (`source` is left as it was)."""
        import llama_cpp as lc

        for slot, cells in slots.items():
            if cells == 0:
                target.cached.pop(slot, None)
                lc.llama_memory_seq_rm(target.context.memory, slot, -1, -1)
            elif not self.copy_slot(source, slot, target, slot):
                return False
            self.cells += cells
        return True

    def copy_slot(self, source: WeightSet, slot: int, target: WeightSet, into: int) -> bool:
        """Makes `target`'s slot `into` hold what `source`'s slot `slot` holds; False if
        llama.cpp refused (then `into` holds nothing)."""
        import llama_cpp as lc

        target.cached.pop(into, None)  # overwritten now, whatever happens below
        size = lc.llama_state_seq_get_size(source.context.ctx, slot)
        if size > len(self._buffer):
            self._buffer = (ctypes.c_uint8 * size)()
        written = lc.llama_state_seq_get_data(source.context.ctx, self._buffer, size, slot)
        if written and (
            lc.llama_state_seq_set_data(target.context.ctx, self._buffer, written, into) == written
        ):
            return True
        log.warning("slot %d: its cells could not be copied to the %s weights", slot, target.name)
        lc.llama_memory_seq_rm(target.context.memory, into, -1, -1)
        return False
