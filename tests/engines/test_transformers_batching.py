"""The transformers engine on transformers' continuous batching (bundled model, CPU): concurrent
requests decode together, each with its own sampling and length; a closed stream leaves at once."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from simplechat.engines.base import (
    Chunk,
    Completion,
    Engine,
    EngineError,
    GenerationRequest,
    Message,
    SamplingParams,
)
from simplechat.engines.transformers import TransformersEngine
from simplechat.engines.transformers_batch import ContinuousBatcher

pytestmark = pytest.mark.real_model


def request(engine: Engine, text: str, **params: object) -> GenerationRequest:
    return GenerationRequest(
        engine.render_chat([Message("user", text)]),
        SamplingParams(**{"max_tokens": 24, "temperature": 0, **params}),  # type: ignore[arg-type]
    )


def batcher(engine: Engine) -> ContinuousBatcher:
    assert isinstance(engine, TransformersEngine)
    assert engine._batcher is not None, "max_batch > 1 should use transformers' batching"
    return engine._batcher


def test_concurrent_requests_decode_together(transformers_engine: Engine) -> None:
    batcher(transformers_engine)

    async def timed(text: str) -> tuple[float, float, int]:
        first = end = 0.0
        tokens = 0
        async for chunk in transformers_engine.stream(
            request(transformers_engine, text, ignore_eos=True)
        ):
            if not first and chunk.text:
                first = time.monotonic()
            end = time.monotonic()
            tokens = chunk.completion_tokens
        return first, end, tokens

    async def together() -> list[tuple[float, float, int]]:
        texts = ["Name a colour.", "Name a fruit.", "Name a city.", "Name an animal."]
        return await asyncio.gather(*(timed(t) for t in texts))

    runs = asyncio.run(together())
    assert [tokens for _, _, tokens in runs] == [24] * 4
    # One at a time, the second answer would start only after the first had ended.
    assert max(first for first, _, _ in runs) < min(end for _, end, _ in runs)


def test_each_request_keeps_its_own_sampling_and_length(transformers_engine: Engine) -> None:
    question = "What is the capital of France?"
    alone = asyncio.run(transformers_engine.complete(request(transformers_engine, question)))

    async def mixed() -> tuple[Completion, Completion, Completion]:
        return await asyncio.gather(
            transformers_engine.complete(request(transformers_engine, question)),
            transformers_engine.complete(
                request(transformers_engine, "Tell me a story.", temperature=1.5, max_tokens=7)
            ),
            transformers_engine.complete(
                request(transformers_engine, "Write a poem.", temperature=1.0, top_p=0.5,
                        max_tokens=11, ignore_eos=True)
            ),
        )  # fmt: skip

    greedy, hot, nucleus = asyncio.run(mixed())
    assert greedy.text == alone.text  # greedy stays greedy in a batch
    assert hot.completion_tokens <= 7
    assert nucleus.completion_tokens == 11
    assert nucleus.finish_reason == "length"


def test_a_closed_stream_leaves_the_batch_at_once(transformers_engine: Engine) -> None:
    batch = batcher(transformers_engine)

    async def open_then_close() -> tuple[int, int, str]:
        streams: list[AsyncIterator[Chunk]] = [
            transformers_engine.stream(request(transformers_engine, t, max_tokens=2000,
                                               ignore_eos=True))
            for t in ("Count to a thousand.", "List every country.")
        ]  # fmt: skip
        for stream in streams:
            await anext(stream)
        both = batch.active
        await streams[0].aclose()  # type: ignore[attr-defined]
        one = batch.active
        await streams[1].aclose()  # type: ignore[attr-defined]
        after = await transformers_engine.complete(request(transformers_engine, "Say hi."))
        return both, one, after.text

    both, one, answer = asyncio.run(open_then_close())
    assert (both, one) == (2, 1)
    assert answer.strip()  # the manager serves on after cancellations
    assert batch.active == 0
    assert transformers_engine.running == 0


def test_the_kv_pool_holds_one_whole_context(bundled_model: Path) -> None:
    """A request that outgrows the pool would stop transformers' manager, and every request with
    it; so even with two requests' worth of pool (2 × 2,048) one full context (8,192) fits."""
    engine = TransformersEngine(str(bundled_model), model_name="m", threads=2, max_batch=2)
    try:
        assert batcher(engine).cache_tokens >= engine.context_length == 8192
    finally:
        asyncio.run(engine.aclose())


def test_a_dead_batching_thread_is_started_again(bundled_model: Path) -> None:
    engine = TransformersEngine(str(bundled_model), model_name="m", threads=2, max_batch=2)
    try:
        # The service never sends this (it decodes greedily below 1e-3); straight to the engine
        # it overflows the logits, and transformers' manager thread dies of it.
        with pytest.raises(EngineError):
            asyncio.run(engine.complete(request(engine, "Hi", temperature=1e-38)))
        assert batcher(engine).failure is not None
        starts: list[ContinuousBatcher | None] = []
        start = engine._start_batcher

        def counted_start() -> ContinuousBatcher | None:
            starts.append(start())
            return starts[-1]

        engine._start_batcher = counted_start  # type: ignore[method-assign]

        async def two_at_once() -> list[str]:
            asks = [request(engine, "What is the capital of France?") for _ in range(2)]
            return [answer.text for answer in await asyncio.gather(*map(engine.complete, asks))]

        answers = asyncio.run(two_at_once())
        assert all("Paris" in answer for answer in answers)
        assert batcher(engine).failure is None  # a new manager serves
        assert len(starts) == 1  # both found it dead; it was started again once
    finally:
        asyncio.run(engine.aclose())


def test_a_client_leaving_while_its_request_is_added_cancels_it(
    transformers_engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """add_request runs on a thread and may wait for room; a client gone by then must not leave
    a request behind that holds a batch slot until max_tokens."""
    manager = batcher(transformers_engine)._manager
    added: list[str] = []
    cancelled: list[str] = []
    add, cancel = manager.add_request, manager.cancel_request

    adding, release = threading.Event(), threading.Event()

    def slow_add(*args: object, **kwargs: object) -> object:
        adding.set()
        release.wait(30)  # a full queue, say: held until the client has gone
        added.append(str(kwargs["request_id"]))
        return add(*args, **kwargs)

    def recorded_cancel(request_id: str) -> None:
        cancelled.append(request_id)
        cancel(request_id)

    monkeypatch.setattr(manager, "add_request", slow_add)
    monkeypatch.setattr(manager, "cancel_request", recorded_cancel)

    async def leave_while_adding() -> None:
        stream = transformers_engine.stream(
            request(transformers_engine, "Write a long story.", max_tokens=500, ignore_eos=True)
        )
        task = asyncio.ensure_future(anext(stream))
        deadline = time.monotonic() + 30
        while not adding.is_set() and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        assert adding.is_set(), "add_request was never called"
        task.cancel()  # the client leaves while add_request is still under way
        with pytest.raises(asyncio.CancelledError):
            await task
        release.set()
        deadline = time.monotonic() + 10
        while not cancelled and time.monotonic() < deadline:
            await asyncio.sleep(0.05)

    asyncio.run(leave_while_adding())
    assert added and cancelled == added
    assert added[0] not in manager.output_router.result_handlers
