"""Copying a slot's KV cells into another slot: the copy continues exactly as the original."""

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from simplechat.engines.kv_copy import KvCopier

pytestmark = pytest.mark.real_model

CONTEXT = 512
PROMPT = [100 + i for i in range(40)]


class Slots:
    """A llama.cpp context with a KV stream per slot, laid out as the batch engine lays it."""

    def __init__(self, model_path: Path) -> None:
        import llama_cpp as lc

        lc.llama_backend_init()
        self.model = lc.llama_model_load_from_file(
            str(model_path).encode(), lc.llama_model_default_params()
        )
        params = lc.llama_context_default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = CONTEXT * 3, 3, False
        params.n_batch = params.n_ubatch = 64
        params.n_threads = params.n_threads_batch = 2
        self.ctx = lc.llama_init_from_model(self.model, params)
        self.memory = lc.llama_get_memory(self.ctx)
        self.batch = lc.llama_batch_init(64, 0, 1)
        self.n_vocab = lc.llama_vocab_n_tokens(lc.llama_model_get_vocab(self.model))

    def decode(self, tokens: list[int], start: int, slot: int) -> np.ndarray:
        """Decodes tokens at positions from `start` in `slot`; the last one's logits."""
        import llama_cpp as lc

        self.batch.n_tokens = len(tokens)
        for i, token in enumerate(tokens):
            self.batch.token[i], self.batch.pos[i] = token, start + i
            self.batch.n_seq_id[i], self.batch.seq_id[i][0] = 1, slot
            self.batch.logits[i] = i == len(tokens) - 1
        assert lc.llama_decode(self.ctx, self.batch) == 0
        row = lc.llama_get_logits_ith(self.ctx, -1)
        return np.ctypeslib.as_array(row, shape=(self.n_vocab,)).copy()

    def last_position(self, slot: int) -> int:
        import llama_cpp as lc

        return int(lc.llama_memory_seq_pos_max(self.memory, slot))

    def close(self) -> None:
        import llama_cpp as lc

        lc.llama_batch_free(self.batch)
        lc.llama_free(self.ctx)
        lc.llama_model_free(self.model)


@pytest.fixture(scope="module")
def slots(bundled_model: Path) -> Iterator[Slots]:
    context = Slots(bundled_model)
    yield context
    context.close()


@pytest.mark.parametrize("stream_cells", [CONTEXT, 1], ids=["cells", "whole-stream"])
def test_a_copied_slot_continues_exactly_as_the_slot_it_came_from(
    slots: Slots, stream_cells: int
) -> None:
    # stream_cells=1 makes a whole-stream copy look cheaper than any cell copy: both ways run.
    copier = KvCopier(slots, stream_cells)
    slots.decode(PROMPT, 0, 0)
    slots.decode([7, 8, 9], 0, 1)  # the target holds something else, to be dropped
    copier.copy(0, 1, len(PROMPT))
    assert slots.last_position(1) == len(PROMPT) - 1
    # The same next token in each slot, one at a time (the same batch shape): the same logits.
    original = slots.decode([42], len(PROMPT), 0)
    copied = slots.decode([42], len(PROMPT), 1)
    assert np.array_equal(original, copied)
    assert slots.last_position(0) == len(PROMPT)  # the source kept its cells
    for slot in (0, 1):
        _clear(slots, slot)


def test_a_copy_costs_its_cells_up_to_a_whole_streams_worth(slots: Slots) -> None:
    copier = KvCopier(slots, 4096)
    # 40 cells: well under a token's worth; a full stream's worth caps the cost of any copy.
    assert copier.cost(40) < 0.2
    assert copier.cost(4096) == copier.cost(100_000) == 4096 / 1024


def _clear(slots: Slots, slot: int) -> None:
    import llama_cpp as lc

    lc.llama_memory_seq_rm(slots.memory, slot, -1, -1)
