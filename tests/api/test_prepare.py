"""A prompt is rendered on the event loop when short and in a worker thread when long."""

import asyncio
import threading

from simplechat.api.prepare import INLINE_CHARS, prepare


def test_short_prompts_stay_on_the_loop_and_long_ones_leave_it() -> None:
    def where(text: str, *, tag: str) -> tuple[str, bool]:
        return tag, threading.current_thread() is threading.main_thread()

    async def both() -> list[tuple[str, bool]]:
        short = "x" * INLINE_CHARS
        long = "x" * (INLINE_CHARS + 1)
        return [
            await prepare(len(short), where, short, tag="short"),
            await prepare(len(long), where, long, tag="long"),
        ]

    assert asyncio.run(both()) == [("short", True), ("long", False)]
