"""The batch thread's hand-off to an event loop: everything posted runs there, in order."""

import asyncio
import threading

from simplechat.engines.loop_inbox import LoopInbox, inbox_of


def test_work_posted_from_another_thread_runs_on_the_loop_in_order() -> None:
    ran: list[tuple[int, bool]] = []

    async def scenario() -> None:
        loop = asyncio.get_running_loop()
        inbox = inbox_of(loop)
        assert inbox_of(loop) is inbox  # one per loop
        done = asyncio.Event()

        def record(n: int) -> None:
            ran.append((n, threading.current_thread() is threading.main_thread()))
            if n == 999:
                done.set()

        def post_many() -> None:  # faster than the loop takes them: many posts, few wake-ups
            for n in range(1000):
                assert inbox.post(record, n)

        poster = threading.Thread(target=post_many)
        poster.start()
        await asyncio.wait_for(done.wait(), 10)
        poster.join()

    asyncio.run(scenario())
    assert [n for n, _ in ran] == list(range(1000))
    assert all(on_loop for _, on_loop in ran)


def test_a_closed_loop_takes_nothing() -> None:
    loop = asyncio.new_event_loop()
    inbox = LoopInbox(loop)
    loop.close()
    assert inbox.post(print, "never") is False
