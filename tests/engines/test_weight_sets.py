"""`--weight-type auto`: steps of few tokens on the file's weights, of many on a q8_0 twin."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest

from simplechat.engines.base import Chunk, EngineError, GenerationRequest, Message, SamplingParams
from simplechat.engines.kv_copy import KvCopier
from simplechat.engines.llamacpp import LlamaCppEngine, auto_batch_and_sets
from simplechat.engines.llamacpp_batch import Sequence
from simplechat.engines.weight_sets import (
    BATCHED_FROM_TOKENS,
    CELLS_PER_PROMPT_TOKEN,
    FILE_UP_TO_TOKENS,
    CellTransfer,
    WeightSet,
    preferred,
)
from simplechat.engines.weight_type import weight_sets_for, weights_for

GIB = 1 << 30
Q4_1, Q8_0, Q4_K_M = 3, 7, 15  # llama.cpp's LLAMA_FTYPE_MOSTLY_*


@pytest.mark.parametrize(
    ("file_type", "n_params", "on_gpu", "expected"),
    [
        (Q4_1, 135_000_000, False, ("file", "q8_0")),  # the bundled model on a CPU
        (Q4_K_M, 8_000_000_000, False, ("file",)),  # k-quants have batched CPU kernels
        (Q8_0, 135_000_000, False, ("file",)),  # already the batched type
        (Q4_1, 135_000_000, True, ("file",)),  # a GPU batches any type
        (Q4_1, 8_000_000_000, False, ("file",)),  # an 8.5 GB twin: over an eighth of 24 GiB
    ],
)
def test_auto_pairs_the_file_with_a_q8_0_twin_only_where_that_pays(
    file_type: int, n_params: int, on_gpu: bool, expected: tuple[str, ...]
) -> None:
    sets = weight_sets_for("auto", file_type, n_params, on_gpu=on_gpu, memory_bytes=24 * GIB)
    assert sets == expected


@pytest.mark.parametrize(
    ("memory", "may_drop", "expected"),
    [
        (24 * GIB, True, (16, ("file", "q8_0"))),  # 2 x 16 x 94 MB fit in an eighth
        (8 * GIB, True, (8, ("file",))),  # two caches would leave 4 slots: one set keeps 8
        (8 * GIB, False, (4, ("file", "q8_0"))),  # `file+q8_0` asked for: both, 4 slots
    ],
)
def test_a_twin_never_costs_slots_unless_asked_for(
    memory: int, may_drop: bool, expected: tuple[int, tuple[str, ...]]
) -> None:
    # The bundled model, 23,040 bytes of KV a token, 4096 tokens a slot.
    chosen = auto_batch_and_sets(
        ("file", "q8_0"), 23_040, 4096, may_drop_twin=may_drop, memory_bytes=memory
    )
    assert chosen == expected


def test_named_weight_types_are_taken_as_named() -> None:
    for name, sets in [("file", ("file",)), ("q8_0", ("q8_0",)), ("file+q8_0", ("file", "q8_0"))]:
        assert weight_sets_for(name, Q8_0, 1, on_gpu=True, memory_bytes=GIB) == sets


def test_few_tokens_run_on_the_file_and_many_on_the_twin() -> None:
    def choose(current: int, tokens: int, generating: int, cells: int = 0) -> int:
        return preferred(current, 2, step_tokens=tokens, generating=generating, busy_cells=cells)

    assert choose(1, FILE_UP_TO_TOKENS, FILE_UP_TO_TOKENS) == 0  # one stream, a few: the file
    assert choose(0, BATCHED_FROM_TOKENS, BATCHED_FROM_TOKENS) == 1  # many streams: the twin
    # In between, whichever is in use stays: a load at the line copies nothing back and forth.
    between = FILE_UP_TO_TOKENS + 1
    assert (choose(0, between, between), choose(1, between, between)) == (0, 1)
    # A 100-token prompt beside one stream goes over if its cells are few against the prompt,
    many_cells = CELLS_PER_PROMPT_TOKEN * 101 + 1
    assert choose(0, 101, 1, cells=200) == 1
    # not for a long history (copying it would cost more than the prompt saves),
    assert choose(0, 101, 1, cells=many_cells) == 0
    # but many streams go over whatever they hold: the load lasts, the copy is paid once.
    assert choose(0, 16, 16, cells=many_cells) == 1
    assert preferred(0, 1, step_tokens=16, generating=16, busy_cells=0) == 0  # one set only


# -- with the bundled model -----------------------------------------------------------------


def ask(engine: LlamaCppEngine, question: str, max_tokens: int = 24) -> GenerationRequest:
    return GenerationRequest(
        engine.render_chat([Message("user", question)]),
        SamplingParams(max_tokens=max_tokens, temperature=0, ignore_eos=True),
    )


async def collect(stream: AsyncIterator[Chunk]) -> str:
    return "".join([chunk.text async for chunk in stream])


@pytest.fixture(scope="module")
def paired_engine(bundled_model: Path) -> Iterator[LlamaCppEngine]:
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=1024, threads=2, max_batch=8
    )
    yield engine
    asyncio.run(engine.aclose())


@pytest.mark.real_model
def test_one_user_is_answered_on_the_files_weights_and_many_on_the_twin(
    paired_engine: LlamaCppEngine,
) -> None:
    engine = paired_engine
    scheduler = engine._scheduler
    assert engine.weight_sets == ("file", "q8_0")

    async def alone() -> str:
        return await collect(engine.stream(ask(engine, "What is the capital city of Japan?")))

    first = asyncio.run(alone())
    assert "Tokyo" in first
    assert scheduler.weights_in_use == "file"  # its answer was generated one token a step
    switches = engine.weight_switches

    seen: set[str] = set()

    async def many() -> list[str]:
        async def one(i: int) -> str:
            text = ""
            async for chunk in engine.stream(ask(engine, f"Name a fruit, number {i}.", 40)):
                seen.add(scheduler.weights_in_use)
                text += chunk.text
            return text

        return await asyncio.gather(*(one(i) for i in range(8)))

    answers = asyncio.run(many())
    assert "batched" in seen  # eight streams at once ran on the q8_0 twin
    assert all(a.strip() for a in answers)
    assert asyncio.run(alone()).strip()
    assert scheduler.weights_in_use == "file"  # and one alone is back on the file's weights
    assert engine.weight_switches >= switches + 2


@pytest.mark.real_model
def test_a_conversation_cached_on_one_set_is_reused_on_the_other(
    bundled_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A question is answered alone (its cells kept by the file's set, in slot 0 of a new
    # engine); asked again while six others (slots 1-6) keep the twin busy, its prompt is
    # copied over from the file's set, not decoded again.
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=1024, threads=2, max_batch=8
    )
    scheduler = engine._scheduler
    question = ask(engine, "Describe the colour of the sky at sunset in a few words.", 8)
    n_prompt = engine.count_tokens(question.prompt)
    submitted: list[Sequence] = []
    submit = scheduler.submit

    def recorded(sequence: Sequence) -> None:
        submitted.append(sequence)
        submit(sequence)

    monkeypatch.setattr(scheduler, "submit", recorded)

    async def scenario() -> str:
        await collect(engine.stream(question))
        assert scheduler.weights_in_use == "file"
        started = [asyncio.Event() for _ in range(BATCHED_FROM_TOKENS)]

        async def busy(i: int) -> None:
            async for _ in engine.stream(ask(engine, f"Count to {20 + i} in words.", 60)):
                started[i].set()

        others = [asyncio.ensure_future(busy(i)) for i in range(BATCHED_FROM_TOKENS)]
        await asyncio.gather(*(e.wait() for e in started))
        assert scheduler.weights_in_use == "batched"
        again = await collect(engine.stream(question))
        await asyncio.gather(*others)
        return again

    try:
        assert asyncio.run(scenario()).strip()
    finally:
        asyncio.run(engine.aclose())
    asked_again = submitted[-1]
    assert asked_again.prompt == submitted[0].prompt
    assert asked_again.reused == n_prompt - 1  # all but the last token, for fresh logits
    assert engine.copied_prefixes >= 1


@pytest.mark.real_model
def test_cells_copied_to_the_twin_and_back_are_the_same_cells(bundled_model: Path) -> None:
    # A prompt decoded in slot 0 of the file's context, copied to the twin's slot 1 and back to
    # the file's slot 2: both slots then generate the same greedy tokens.
    import llama_cpp as lc
    from llama_cpp._internals import LlamaContext, LlamaModel

    def context(path: Path) -> tuple[Any, Any]:
        model = LlamaModel(path_model=str(path), params=lc.llama_model_default_params())
        params = lc.llama_context_default_params()
        params.n_ctx, params.n_seq_max, params.kv_unified = 3 * 256, 3, False
        params.n_threads = params.n_threads_batch = 2
        return model, LlamaContext(model=model, params=params, verbose=False)

    file_model, file_context = context(bundled_model)
    twin_model, twin_context = context(weights_for(bundled_model, "q8_0", threads=2))
    file = WeightSet("file", file_context, KvCopier(file_context, 256))
    twin = WeightSet("batched", twin_context, KvCopier(twin_context, 256))
    batch = lc.llama_batch_init(64, 0, 1)
    n_vocab = lc.llama_vocab_n_tokens(file_model.vocab)

    def decode(feeds: list[tuple[int, int, int]]) -> None:
        batch.n_tokens = len(feeds)
        for i, (token, position, slot) in enumerate(feeds):
            batch.token[i], batch.pos[i], batch.n_seq_id[i] = token, position, 1
            batch.seq_id[i][0], batch.logits[i] = slot, i == len(feeds) - 1
        assert lc.llama_decode(file_context.ctx, batch) == 0

    def greedy(slot: int, token: int, position: int) -> list[int]:
        out = []
        for step in range(12):
            decode([(token, position + step, slot)])
            logits = lc.llama_get_logits_ith(file_context.ctx, -1)
            token = max(range(n_vocab), key=lambda t: logits[t])
            out.append(token)
        return out

    try:
        prompt = list(file_model.tokenize(b"The sea is deep and", add_bos=True, special=False))
        decode([(t, i, 0) for i, t in enumerate(prompt[:-1])])
        transfer = CellTransfer()
        assert transfer.copy_slot(file, 0, twin, 1)
        assert transfer.copy_slot(twin, 1, file, 2)
        last = len(prompt) - 1
        assert greedy(2, prompt[-1], last) == greedy(0, prompt[-1], last)
    finally:
        lc.llama_batch_free(batch)
        for closing in (file_context, twin_context, file_model, twin_model):
            closing.close()


@pytest.mark.real_model
def test_a_copy_that_cannot_be_made_leaves_auto_serving_the_file(
    bundled_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Nowhere to keep the q8_0 copy (a read-only home): `auto` chose it for speed, so the
    # server starts on the file's weights alone; `file+q8_0`, asked for, says why it cannot.
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocked))
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=512, threads=2, max_batch=2
    )
    try:
        assert engine.weight_sets == ("file",)
        answer = asyncio.run(collect(engine.stream(ask(engine, "What is the capital of Japan?"))))
        assert "Tokyo" in answer
    finally:
        asyncio.run(engine.aclose())
    with pytest.raises(EngineError, match="cannot keep converted weights"):
        LlamaCppEngine(
            bundled_model,
            model_name="smollm2",
            context_length=512,
            max_batch=2,
            weight_type="file+q8_0",
        )
