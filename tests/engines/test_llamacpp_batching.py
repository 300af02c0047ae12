"""Continuous batching in llama.cpp: requests share decode steps, leave early, keep sampling."""

import asyncio
from collections.abc import AsyncGenerator, AsyncIterator
from pathlib import Path

import pytest

from simplechat.engines import llamacpp_batch
from simplechat.engines.base import Chunk, Engine, GenerationRequest, Message
from simplechat.engines.llamacpp import (
    LlamaCppEngine,
    auto_batch_and_sets,
    auto_max_batch,
    machine_memory,
)
from simplechat.engines.llamacpp_batch import BatchScheduler, Sequence
from simplechat.service import ChatService, SamplingOptions

pytestmark = pytest.mark.real_model

#: The slot layout and the prompt cache are tested on one weight set, whose answers are the same
#: alone and together; the two sets of `--weight-type auto` have tests of their own
#: (test_weight_sets.py).
ONE_SET = "file"


def cached_engine(model: Path, max_batch: int) -> LlamaCppEngine:
    """An engine of its own with the prompt cache, on one weight set: what each slot holds is
    known exactly."""
    return LlamaCppEngine(
        model,
        model_name="smollm2",
        context_length=1024,
        max_batch=max_batch,
        prompt_cache=True,
        weight_type=ONE_SET,
    )


PROMPTS = [
    "What is the capital city of Japan?",
    "Name three colours.",
    "Write a haiku about the sea.",
    "Count from 1 to 5.",
    "What is 2 + 2?",
    "Say hello in French.",
]


def request(engine: Engine, text: str, **options: object) -> GenerationRequest:
    service = ChatService(engine, default_max_tokens=32)
    return service.chat_request([Message("user", text)], SamplingOptions(**options))  # type: ignore[arg-type]


async def collect(stream: AsyncIterator[Chunk]) -> str:
    return "".join([chunk.text async for chunk in stream])


def test_concurrent_greedy_answers_equal_the_answers_alone(llama_engine: LlamaCppEngine) -> None:
    requests = [request(llama_engine, p, temperature=0, max_tokens=24) for p in PROMPTS]

    async def alone() -> list[str]:
        return [await collect(llama_engine.stream(r)) for r in requests]

    async def together() -> list[str]:
        return list(await asyncio.gather(*(collect(llama_engine.stream(r)) for r in requests)))

    solo = asyncio.run(alone())
    assert len(set(solo)) == len(solo)  # six different answers: no cross-talk can hide
    assert asyncio.run(together()) == solo


def test_each_request_keeps_its_own_sampling(llama_engine: LlamaCppEngine) -> None:
    greedy = request(llama_engine, "Tell me a story.", temperature=0, max_tokens=20)
    seeded = request(
        llama_engine, "Tell me a story.", temperature=1.0, top_p=0.95, seed=11, max_tokens=20
    )

    async def alone() -> tuple[str, str]:
        return await collect(llama_engine.stream(greedy)), await collect(
            llama_engine.stream(seeded)
        )

    async def together() -> tuple[str, str]:
        a, b = await asyncio.gather(
            collect(llama_engine.stream(greedy)), collect(llama_engine.stream(seeded))
        )
        return a, b

    assert asyncio.run(together()) == asyncio.run(alone())


def test_streams_progress_together_not_one_after_another(llama_engine: LlamaCppEngine) -> None:
    first = request(llama_engine, "Write a long essay about the sea.", temperature=0, max_tokens=60)
    second = request(llama_engine, "Write a long essay about trees.", temperature=0, max_tokens=60)
    events: list[str] = []

    async def follow(name: str, r: GenerationRequest) -> None:
        async for chunk in llama_engine.stream(r):
            events.append(name if chunk.finish_reason is None else name + "-end")

    async def both() -> None:
        await asyncio.gather(follow("a", first), follow("b", second))

    asyncio.run(both())
    # The second request's first token comes long before the first request's last one.
    assert events.index("b") < events.index("a-end")
    assert events.index("a") < events.index("b-end")


def test_more_requests_than_slots_wait_their_turn(llama_engine: LlamaCppEngine) -> None:
    assert llama_engine.max_batch == 4
    requests = [request(llama_engine, p, temperature=0, max_tokens=16) for p in PROMPTS]
    peak = 0

    async def watch(done: asyncio.Event) -> None:
        nonlocal peak
        while not done.is_set():
            peak = max(peak, llama_engine.running)
            await asyncio.sleep(0.001)

    async def run_all() -> list[str]:
        done = asyncio.Event()
        watcher = asyncio.create_task(watch(done))
        answers = await asyncio.gather(*(collect(llama_engine.stream(r)) for r in requests))
        done.set()
        await watcher
        return list(answers)

    answers = asyncio.run(run_all())
    assert all(answers)
    assert 1 < peak <= 4
    assert llama_engine.running == 0 and llama_engine.queued == 0


def test_a_cancelled_request_frees_its_slot_for_a_waiting_one(llama_engine: LlamaCppEngine) -> None:
    long = [
        request(llama_engine, f"Write a long essay about topic {i}.", temperature=0, max_tokens=400)
        for i in range(4)
    ]
    short = request(llama_engine, "Say hi.", temperature=0, max_tokens=4)

    async def scenario() -> tuple[list[bool], str]:
        streams = [llama_engine.stream(r) for r in long]
        for stream in streams:  # all four slots busy
            await anext(stream)
        waiting = asyncio.create_task(collect(llama_engine.stream(short)))
        await asyncio.sleep(0.2)
        assert not waiting.done()  # no free slot yet
        await streams[0].aclose()  # type: ignore[attr-defined]  # one client leaves
        answer = await asyncio.wait_for(waiting, timeout=60)
        still_going = [(await anext(stream)).finish_reason is None for stream in streams[1:]]
        for stream in streams[1:]:
            await stream.aclose()  # type: ignore[attr-defined]
        return still_going, answer

    still_going, answer = asyncio.run(scenario())
    assert answer
    assert still_going == [True, True, True]  # the short one got the freed slot, not a later one

    async def settle() -> None:
        for _ in range(200):
            if llama_engine.running == 0:
                return
            await asyncio.sleep(0.01)

    asyncio.run(settle())
    assert llama_engine.running == 0


def test_a_shared_prompt_prefix_is_reused_not_decoded_again(
    cached_llama_engine: LlamaCppEngine,
) -> None:
    engine = cached_llama_engine
    service = ChatService(engine, default_max_tokens=16)
    options = SamplingOptions(temperature=0, max_tokens=12)
    turn = [Message("user", "The secret word is pineapple. Remember it.")]
    first = service.chat_request(turn, options)

    async def run() -> tuple[int, int]:
        answer = await collect(engine.stream(first))
        before = engine.reused_tokens
        await collect(engine.stream(first))
        reused_same = engine.reused_tokens - before
        # The next turn resends the conversation, as the chat UI does.
        follow_up = service.chat_request(
            [*turn, Message("assistant", answer), Message("user", "What is the word?")], options
        )
        before = engine.reused_tokens
        await collect(engine.stream(follow_up))
        return reused_same, engine.reused_tokens - before

    reused_same, reused_follow_up = asyncio.run(run())
    n_first = engine.count_tokens(first.prompt)
    assert reused_same == n_first - 1  # all but the last token, whose logits are needed
    # The next turn starts from the cells of the first prompt and of the answer to it.
    assert reused_follow_up > n_first


def test_a_question_asked_again_after_a_long_answer_reuses_its_slot(bundled_model: Path) -> None:
    # What the slot holds beyond the prompt is the old answer (here 5x longer than the prompt):
    # the prompt is still all there, so it is taken as it is, neither decoded nor copied again.
    engine = cached_engine(bundled_model, max_batch=2)
    ask = request(engine, "Explain why the sky is blue.", max_tokens=150, ignore_eos=True)
    n_prompt = engine.count_tokens(ask.prompt)

    async def run() -> int:
        await collect(engine.stream(ask))
        before = engine.reused_tokens
        await collect(engine.stream(ask))
        return engine.reused_tokens - before

    try:
        reused = asyncio.run(run())
    finally:
        asyncio.run(engine.aclose())
    assert 2 * n_prompt < 150  # the old answer outweighs the prompt in the slot's cache
    assert reused == n_prompt - 1
    assert engine.copied_prefixes == 0


def test_a_prefix_held_by_a_busy_slot_is_copied_not_decoded_again(bundled_model: Path) -> None:
    # Its own engine: what each slot holds must be known exactly.
    engine = cached_engine(bundled_model, max_batch=4)
    long_prompt = "Here is a list of facts about the sea. " * 8 + "Summarise them in one line."
    same = request(engine, long_prompt, temperature=0, max_tokens=12)
    n_prompt = engine.count_tokens(same.prompt)

    async def run() -> tuple[str, str]:
        await collect(engine.stream(same))  # now one free slot holds this prompt
        # Two at once: the first takes that slot; the second finds the prefix in the first's
        # (busy) slot and copies it instead of decoding the prompt again.
        return await asyncio.gather(collect(engine.stream(same)), collect(engine.stream(same)))

    try:
        before = engine.reused_tokens
        first, second = asyncio.run(run())
        reused = engine.reused_tokens - before
    finally:
        asyncio.run(engine.aclose())
    assert engine.copied_prefixes == 1
    assert reused == 2 * (n_prompt - 1)  # neither decoded more than the last prompt token
    assert first == second  # the copied cells are the same cells: the same greedy answer
    assert first.strip()


class StepRecorder:
    """The busy slots of every step the engine takes, from plan_step's arguments."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.steps: list[set[int]] = []
        plan = llamacpp_batch.plan_step

        def recorded(
            active: list[Sequence], batch_tokens: int, *, prefill_chunk: int | None = None
        ) -> list[llamacpp_batch.Feed]:
            self.steps.append({s.seq_id for s in active})
            return plan(active, batch_tokens, prefill_chunk=prefill_chunk)

        monkeypatch.setattr(llamacpp_batch, "plan_step", recorded)

    def longest_gap(self) -> int:
        """The most steps in a row whose busy slots were not consecutive."""
        longest = run = 0
        for busy in self.steps:
            run = run + 1 if llamacpp_batch.runs(busy) > 1 else 0
            longest = max(longest, run)
        return longest


async def together(engine: LlamaCppEngine, *asks: GenerationRequest) -> list[str]:
    """The answers to requests that all enter the batch in its first step."""
    scheduler = engine._scheduler
    with scheduler._wake:  # the batch thread waits until all of them are queued
        tasks = [asyncio.ensure_future(collect(engine.stream(r))) for r in asks]
        while scheduler.queued < len(asks):
            await asyncio.sleep(0.01)
    return list(await asyncio.gather(*tasks))


def four_questions(model: Path) -> tuple[LlamaCppEngine, list[GenerationRequest]]:
    """An engine of four slots with the prompt cache, and four greedy questions for it."""
    engine = cached_engine(model, max_batch=4)
    return engine, [
        request(engine, p, temperature=0, max_tokens=30, ignore_eos=True) for p in PROMPTS[:4]
    ]


def test_a_prompt_cached_away_from_the_busy_slots_is_copied_beside_them(
    bundled_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four questions asked together leave slots 0-3 caching one each. Asked again together, the
    # last takes its own slot (3); the second's cache is in slot 1, away from it, so its cells
    # are copied into slot 2 instead: no step has a gap (a compute pass more each step), no
    # prompt is decoded again, no move is needed, and the answers are unchanged.
    engine, asks = four_questions(bundled_model)
    recorder = StepRecorder(monkeypatch)
    last, second = asks[3], asks[1]
    n_last, n_second = (engine.count_tokens(r.prompt) for r in (last, second))
    try:
        first_answers = asyncio.run(together(engine, *asks))
        reused, copied = engine.reused_tokens, engine.copied_prefixes
        recorder.steps.clear()
        answers = asyncio.run(together(engine, last, second))
        # Slot 1 kept its cache (copied, not taken): the second question asked alone now
        # finds it there and in slot 2, and takes one of them without a copy.
        copied_again = engine.copied_prefixes
        alone = asyncio.run(collect(engine.stream(second)))
    finally:
        asyncio.run(engine.aclose())
    assert recorder.steps[0] == {2, 3}
    assert recorder.longest_gap() == 0
    assert engine.copied_prefixes == copied_again == copied + 1
    # Neither prompt decoded again, but for the last token of each (its logits are needed).
    assert engine.reused_tokens - reused == (n_last - 1) + 2 * (n_second - 1)
    assert engine.moves == 0
    assert answers == [first_answers[3], first_answers[1]]
    assert alone == first_answers[1]


def test_requests_admitted_together_each_find_their_cache_where_it_is(
    bundled_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Slots 0-3 cache questions A-D. Then A, a new question X and B arrive together, in that
    # order. Placed in arrival order, X would take slot 1 beside A and overwrite B's only cache;
    # B, whose cache lies beside A, is placed before X instead, and X takes the next slot.
    engine, asks = four_questions(bundled_model)
    recorder = StepRecorder(monkeypatch)
    a, b = asks[0], asks[1]
    x = request(engine, PROMPTS[4], temperature=0, max_tokens=30, ignore_eos=True)
    prompt_a, prompt_b, prompt_x = (engine.tokenize(r.prompt) for r in (a, b, x))
    # What X shares with the cached questions: the chat template's opening, at most.
    shared_x = max(llamacpp_batch._shared(engine.tokenize(r.prompt), prompt_x) for r in asks)
    try:
        first_answers = asyncio.run(together(engine, *asks))
        reused = engine.reused_tokens
        recorder.steps.clear()
        answers = asyncio.run(together(engine, a, x, b))
    finally:
        asyncio.run(engine.aclose())
    assert recorder.steps[0] == {0, 1, 2}
    assert len(prompt_b) - 1 != shared_x  # else the count below could not tell the two apart
    assert engine.reused_tokens - reused == (len(prompt_a) - 1) + (len(prompt_b) - 1) + shared_x
    assert (answers[0], answers[2]) == (first_answers[0], first_answers[1])


def test_the_slot_a_move_leaves_keeps_its_cells_as_a_prompt_cache(bundled_model: Path) -> None:
    # Three start in slots 0-2; the middle one ends first and the third is moved into its slot
    # (1). Slot 2 still holds what was copied from it, so asked twice at once afterwards, the
    # third question finds its prompt in two free slots side by side: neither request copies
    # or decodes it again.
    engine = cached_engine(bundled_model, max_batch=4)
    asks = [
        request(engine, p, temperature=0, max_tokens=n, ignore_eos=True)
        for p, n in zip(PROMPTS[:3], (30, 4, 30), strict=True)
    ]
    third = asks[2]
    n_third = engine.count_tokens(third.prompt)
    try:
        first_answers = asyncio.run(together(engine, *asks))
        assert engine.moves == 1
        reused, copied = engine.reused_tokens, engine.copied_prefixes
        answers = asyncio.run(together(engine, third, third))
    finally:
        asyncio.run(engine.aclose())
    assert engine.copied_prefixes == copied
    assert engine.reused_tokens - reused == 2 * (n_third - 1)
    assert answers == [first_answers[2]] * 2


def test_a_request_ending_between_others_leaves_no_lasting_gap_and_no_changed_answer(
    llama_engine: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Three start in slots 0-2 in one step; the middle one ends first. A neighbour is moved
    # into the gap it leaves (its KV stream copied), and every answer is the one it is alone.
    recorder = StepRecorder(monkeypatch)
    asks = [
        request(llama_engine, p, temperature=0, max_tokens=n, ignore_eos=True)
        for p, n in zip(PROMPTS[:3], (30, 4, 30), strict=True)
    ]

    async def alone() -> list[str]:
        return [await collect(llama_engine.stream(r)) for r in asks]

    solo = asyncio.run(alone())
    moves = llama_engine.moves
    recorder.steps.clear()
    assert asyncio.run(together(llama_engine, *asks)) == solo
    assert recorder.steps[0] == {0, 1, 2}
    assert llama_engine.moves == moves + 1
    assert recorder.longest_gap() == llamacpp_batch.GAP_STEPS


def test_without_the_cache_nothing_is_reused(llama_engine: LlamaCppEngine) -> None:
    request_ = request(llama_engine, "Say hi.", temperature=0, max_tokens=4)

    async def twice() -> None:
        await collect(llama_engine.stream(request_))
        await collect(llama_engine.stream(request_))

    before = llama_engine.reused_tokens
    asyncio.run(twice())
    assert llama_engine.reused_tokens == before == 0


GIB = 1 << 30


@pytest.mark.parametrize(
    ("kv_bytes_per_token", "memory", "expected"),
    [
        (23_040, 24 * GIB, 16),  # the bundled SmolLM2 on this machine: capped at 16
        (23_040, 8 * GIB, 8),  # a laptop: 1 GiB of KV holds 11 full contexts, so 8
        (131_072, 24 * GIB, 4),  # an 8B model with grouped KV: 512 MiB a context
        (524_288, 16 * GIB, 1),  # a 7B model without: one context is all that fits
    ],
)
def test_max_batch_unset_fits_the_kv_cache_in_an_eighth_of_memory(
    kv_bytes_per_token: int, memory: int, expected: int
) -> None:
    assert auto_max_batch(kv_bytes_per_token, 4096, memory) == expected


def test_the_default_engine_sizes_its_batch_from_the_model_and_memory(bundled_model: Path) -> None:
    engine = LlamaCppEngine(bundled_model, model_name="smollm2", context_length=1024)
    try:
        memory = machine_memory()
        # SmolLM2-135M: K and V, 30 layers, 3 KV heads of 64, f16: 23,040 bytes a token, in
        # each of the two weight sets' contexts (its q4_1 weights get a q8_0 twin; 1024-token
        # slots leave room for both at 16 slots from 6 GB on).
        assert (engine.max_batch, engine.weight_sets) == auto_batch_and_sets(
            ("file", "q8_0"), 23_040, 1024, may_drop_twin=True, memory_bytes=memory
        )
        if memory >= 6 * GIB:
            assert engine.weight_sets == ("file", "q8_0")
    finally:
        asyncio.run(engine.aclose())


def test_greedy_picks_what_llama_cpps_own_greedy_sampler_picks(
    llama_engine: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Greedy rows are taken with one argmax over the step's logits, not llama.cpp's sampler:
    in every step, beside other requests, each pick must be what its greedy sampler picks from
    that sequence's own row."""
    import llama_cpp as lc

    picks: list[tuple[int, int]] = []  # (ours, llama.cpp's greedy sampler's)
    ours = BatchScheduler._sample

    def checked(self: BatchScheduler, sampled: list[Sequence]) -> list[int]:
        tokens = ours(self, sampled)
        for sequence, token in zip(sampled, tokens, strict=True):
            greedy = lc.llama_sampler_init_greedy()
            try:
                picks.append(
                    (token, lc.llama_sampler_sample(greedy, self._context.ctx, sequence.logits_at))
                )
            finally:
                lc.llama_sampler_free(greedy)
        return tokens

    monkeypatch.setattr(BatchScheduler, "_sample", checked)
    requests = [
        request(llama_engine, p, temperature=0, max_tokens=16, ignore_eos=True) for p in PROMPTS[:3]
    ]

    async def together() -> list[str]:
        return list(await asyncio.gather(*(collect(llama_engine.stream(r)) for r in requests)))

    asyncio.run(together())
    assert len(picks) == 3 * 16
    assert [theirs for _, theirs in picks] == [token for token, _ in picks]


def test_the_decode_after_a_first_token_waits_for_its_reader(
    llama_engine: LlamaCppEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A response's start (headers, first frame) is sent before the next decode takes the
    cores: while a reader holds its first token, the other streams stand still."""
    monkeypatch.setattr(llamacpp_batch, "FIRST_STEP_WAIT_S", 60.0)  # no bound in this test
    long = request(llama_engine, PROMPTS[2], temperature=0, max_tokens=40, ignore_eos=True)
    late = request(llama_engine, PROMPTS[0], temperature=0, max_tokens=8, ignore_eos=True)
    counts: list[int] = []
    long_tokens = 0

    async def follow_long(started: asyncio.Event) -> None:
        nonlocal long_tokens
        async for chunk in llama_engine.stream(long):
            long_tokens = chunk.completion_tokens
            if long_tokens >= 3:
                started.set()

    async def hold_the_first_token() -> None:
        async for _ in llama_engine.stream(late):
            if not counts:
                counts.append(long_tokens)
                await asyncio.sleep(0.5)  # the reader is slow to send its first token on
                counts.append(long_tokens)

    async def run() -> None:
        started = asyncio.Event()
        following = asyncio.create_task(follow_long(started))
        await started.wait()
        await hold_the_first_token()
        await following

    asyncio.run(run())
    # At most the step that gave the late request its first token reached the long stream.
    assert counts[1] - counts[0] <= 1
    assert long_tokens == 40


def test_a_reader_that_does_not_send_its_first_token_holds_nobody_up(
    llama_engine: LlamaCppEngine,
) -> None:
    """The wait for a first token's reader is bounded (FIRST_STEP_WAIT_S): one that never asks
    for more does not stop the others."""
    stalled = request(llama_engine, PROMPTS[0], temperature=0, max_tokens=8, ignore_eos=True)
    other = request(llama_engine, PROMPTS[1], temperature=0, max_tokens=30, ignore_eos=True)

    async def run() -> bool:
        other_done = asyncio.Event()

        async def follow_other() -> None:
            await collect(llama_engine.stream(other))
            other_done.set()

        stream = llama_engine.stream(stalled)
        assert isinstance(stream, AsyncGenerator)
        await anext(stream)  # its first token, and then nothing more for a long while
        following = asyncio.create_task(follow_other())
        try:
            await asyncio.wait_for(other_done.wait(), timeout=60)
        except TimeoutError:
            return False
        finally:
            await stream.aclose()
            await following
        return True

    assert asyncio.run(run())
