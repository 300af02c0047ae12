"""Copying one slot's KV cells into another slot, the cheaper of llama.cpp's two ways."""

from __future__ import annotations

import ctypes
import logging
from typing import Any

log = logging.getLogger(__name__)

#: llama_memory_seq_cp between KV streams (a stream per slot) copies the whole stream, whatever
#: it holds: 4096 cells of the bundled model took 12-16 ms on 2 CPU cores, as long as decoding
#: 3-4 prompt tokens (bench/kv_copy_cost.py).
STREAM_CELLS_PER_TOKEN = 1024
#: Reading a sequence's cells out (llama_state_seq_get_data) and writing them into another slot
#: (llama_state_seq_set_data) moves only the cells it holds, 13-16 µs a cell there: 40 cells in
#: 0.6 ms, 400 in 5.5 ms.
CELL_COPIES_PER_TOKEN = 300


class KvCopier:
    """Copies a slot's cells into another slot: cell by cell when it holds few of them (a chat
    prompt and answer: under a millisecond), else the whole stream (bounded by the context)."""

    def __init__(self, context: Any, stream_cells: int) -> None:
        self._ctx = context.ctx
        self._memory = context.memory
        self._stream_cost = stream_cells / STREAM_CELLS_PER_TOKEN
        self._buffer = (ctypes.c_uint8 * 0)()

    def cost(self, cells: int) -> float:
        """What copying a slot holding `cells` cells costs, in prompt tokens decoded."""
        return min(cells / CELL_COPIES_PER_TOKEN, self._stream_cost)

    def copy(self, source: int, target: int, cells: int) -> None:
        """Makes `target` hold what `source` holds (its own cells are dropped)."""
        import llama_cpp as lc

        if cells / CELL_COPIES_PER_TOKEN < self._stream_cost:
            if self.copy_cells(source, target):
                return
            log.warning("slot %d: copying its cells failed; copying its whole stream", source)
        lc.llama_memory_seq_cp(self._memory, source, target, -1, -1)

    def copy_cells(self, source: int, target: int) -> bool:
        """Only the cells `source` holds; False if llama.cpp could not set them."""
        import llama_cpp as lc

        size = lc.llama_state_seq_get_size(self._ctx, source)
        if size > len(self._buffer):  # kept between copies: most are about the same size
            self._buffer = (ctypes.c_uint8 * size)()
        written = lc.llama_state_seq_get_data(self._ctx, self._buffer, size, source)
        # Setting a slot's state first empties it; 0 means nothing was set.
        return (
            written > 0
            and lc.llama_state_seq_set_data(self._ctx, self._buffer, written, target) == written
        )
