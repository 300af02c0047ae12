"""The Engine base: stop sequences, finish reasons, cancellation, `complete` over `stream`."""

import asyncio

import pytest

from simplechat.engines.base import ContextLengthExceeded, GenerationRequest, Prompt, SamplingParams
from simplechat.engines.fake import FakeEngine

PROMPT = "User: one two three four five\nAssistant:"


def request(max_tokens: int = 50, stop: tuple[str, ...] = ()) -> GenerationRequest:
    return GenerationRequest(
        Prompt.trusted(PROMPT), SamplingParams(max_tokens=max_tokens, stop=stop)
    )


def test_complete_gathers_the_stream() -> None:
    result = asyncio.run(FakeEngine().complete(request()))
    assert result.text == "You said: one two three four five"
    assert result.finish_reason == "stop"
    assert result.completion_tokens == 7
    assert result.prompt_tokens == len(PROMPT.split())


def test_max_tokens_ends_with_length() -> None:
    result = asyncio.run(FakeEngine().complete(request(max_tokens=3)))
    assert result.text == "You said: one"
    assert result.finish_reason == "length"
    assert result.completion_tokens == 3


def test_stop_sequence_ends_early_and_closes_the_decoder() -> None:
    engine = FakeEngine()
    result = asyncio.run(engine.complete(request(stop=(" three",))))
    assert result.text == "You said: one two"
    assert result.finish_reason == "stop"
    assert engine.cancelled == 1  # the rest was never generated


def test_consumer_leaving_early_cancels_generation() -> None:
    engine = FakeEngine()

    async def read_two() -> list[str]:
        stream = engine.stream(request())
        texts = [(await anext(stream)).text, (await anext(stream)).text]
        await stream.aclose()  # type: ignore[attr-defined]
        return texts

    assert asyncio.run(read_two()) == ["You", " said:"]
    assert engine.cancelled == 1


def test_context_overflow_names_both_numbers() -> None:
    engine = FakeEngine(context_length=10)
    with pytest.raises(ContextLengthExceeded, match=r"7 in the prompt \+ 5 to generate.*10 tokens"):
        asyncio.run(engine.complete(request(max_tokens=5)))
