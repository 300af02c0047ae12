"""Chunked prefill in the llama.cpp engine: a long prompt is read a chunk a step beside the
streams that are generating, which keep getting tokens, and nobody's answer changes."""

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from simplechat.engines.base import Engine, GenerationRequest, Message
from simplechat.engines.llamacpp import LlamaCppEngine
from simplechat.engines.llamacpp_batch import MIN_PREFILL_CHUNK, StepRecord
from simplechat.service import ChatService, SamplingOptions

pytestmark = pytest.mark.real_model

CHUNK = 16
LONG = "Summarize these notes.\n" + "\n".join(
    f"Note {i}: the {colour} box on shelf {i * 7 % 13} holds {i * 3} marbles and a {thing}."
    for i, (colour, thing) in enumerate(
        [("red", "key"), ("blue", "coin"), ("green", "map"), ("white", "pen")] * 3
    )
)


@pytest.fixture(scope="module")
def chunked(bundled_model: Path) -> Iterator[LlamaCppEngine]:
    """Prompts are read CHUNK tokens a step while another sequence generates; one weight set
    and no prompt cache, so an answer is the same alone and beside another."""
    engine = LlamaCppEngine(
        bundled_model,
        model_name="smollm2",
        context_length=1024,
        threads=2,
        max_batch=2,
        prompt_cache=False,
        weight_type="file",
        prefill_chunk=CHUNK,
    )
    yield engine
    asyncio.run(engine.aclose())


def request(engine: Engine, text: str, max_tokens: int) -> GenerationRequest:
    service = ChatService(engine, default_max_tokens=max_tokens)
    options = SamplingOptions(max_tokens=max_tokens, temperature=0, ignore_eos=True)
    return service.chat_request([Message("user", text)], options)


async def answer(
    engine: Engine,
    r: GenerationRequest,
    tokens: list[int] | None = None,
    *,
    started: asyncio.Event | None = None,
) -> str:
    """The answer's text; `tokens` gets the prompt's length, `started` is set at its first
    token."""
    parts = []
    async for chunk in engine.stream(r):
        parts.append(chunk.text)
        if started is not None:
            started.set()
        if tokens is not None:
            tokens[:] = [chunk.prompt_tokens]
    return "".join(parts)


def reading(steps: list[StepRecord], prompt_tokens: int) -> list[StepRecord]:
    """The steps that fed part of the prompt of this length."""
    return [s for s in steps if any(n == prompt_tokens for _, _, n in s.prompts)]


def test_a_long_prompt_is_read_in_chunks_while_a_running_stream_keeps_its_tokens(
    chunked: LlamaCppEngine,
) -> None:
    stream = request(chunked, "Write a long story about a lighthouse.", max_tokens=64)
    long = request(chunked, LONG, max_tokens=8)
    alone_stream = asyncio.run(answer(chunked, stream))
    long_tokens: list[int] = []
    alone_long = asyncio.run(answer(chunked, long, long_tokens))
    (n_long,) = long_tokens
    assert n_long > 12 * CHUNK  # long enough to need many chunks (64 tokens of the stream)

    # Read alone, nobody is generating: the prompt takes the whole batch in one step.
    alone_steps = reading(chunked.steps, n_long)
    assert len(alone_steps) == 1 and len(alone_steps[0].prompts[0][1]) == n_long

    async def together() -> tuple[str, str]:
        started = asyncio.Event()
        running = asyncio.ensure_future(answer(chunked, stream, started=started))
        await started.wait()  # the stream is generating when the long prompt arrives
        return await asyncio.gather(running, answer(chunked, long))

    mark = len(chunked.steps)  # (fewer than llamacpp_batch.STEP_RECORDS in this test)
    beside_stream, beside_long = asyncio.run(together())
    steps = reading(chunked.steps[mark:], n_long)
    # In pieces of CHUNK tokens, each in a step that also fed the running stream its token.
    assert len(steps) == -(-n_long // CHUNK)
    for step in steps:
        ((_, positions, _),) = [p for p in step.prompts if p[2] == n_long]
        assert len(positions) <= CHUNK
        assert len(step.generating) == 1
    fed = [p[1] for s in steps for p in s.prompts if p[2] == n_long]
    assert [r.start for r in fed] == list(range(0, n_long, CHUNK))  # in order, none skipped
    # And the answers are those each gets alone, read in one step.
    assert (beside_stream, beside_long) == (alone_stream, alone_long)


def test_the_chunk_follows_the_time_a_prompt_token_takes(bundled_model: Path) -> None:
    engine = LlamaCppEngine(
        bundled_model, model_name="smollm2", context_length=1024, threads=2, max_batch=2
    )
    try:
        scheduler = engine._scheduler
        scheduler._seconds_per_token = 0.25 / 100  # 100 tokens fit the budget
        assert scheduler.prefill_chunk() == 100
        scheduler._seconds_per_token = 1.0  # a slow model: never below the floor
        assert scheduler.prefill_chunk() == MIN_PREFILL_CHUNK
        scheduler._seconds_per_token = 1e-6  # a fast one: never above the batch
        assert scheduler.prefill_chunk() == 512
    finally:
        asyncio.run(engine.aclose())
