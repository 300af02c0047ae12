"""What one llama.cpp decode step feeds, and in what order (no model needed)."""

import asyncio
import threading
from typing import cast

import pytest

from simplechat.engines import llamacpp_batch
from simplechat.engines.base import SamplingParams
from simplechat.engines.llamacpp_batch import (
    Sequence,
    closing_moves,
    plan_step,
    runs,
    wait_for_quiet,
)
from simplechat.engines.loop_inbox import LoopInbox

_loop = asyncio.new_event_loop()
LOOP_INBOX = LoopInbox(_loop)  # never posted to: a plan reads only prompts and slots
_loop.close()


def sequence(seq_id: int, prompt_tokens: int, prefilled: int) -> Sequence:
    made = Sequence(
        prompt=list(range(prompt_tokens)),
        params=SamplingParams(max_tokens=8),
        deliver=lambda item: None,
        inbox=LOOP_INBOX,
    )
    made.seq_id, made.prefilled = seq_id, prefilled
    return made


def test_the_step_is_laid_out_by_sequence_id_whatever_the_arrival_order() -> None:
    # llama.cpp computes only consecutive sequence ids in one pass: arrival order would split
    # this step into four passes.
    arrived = [sequence(3, 5, 5), sequence(0, 5, 5), sequence(2, 9, 0), sequence(1, 5, 5)]
    assert [s.seq_id for s, _ in plan_step(arrived, 512)] == [0, 1, 2, 3]


def test_generating_sequences_get_a_token_each_before_prompts_get_room() -> None:
    generating = [sequence(0, 4, 4), sequence(2, 4, 4)]
    waiting = sequence(1, 100, 10)
    plan = dict(plan_step([waiting, *generating], 8))
    assert plan[generating[0]] is None and plan[generating[1]] is None
    assert plan[waiting] == range(10, 16)  # the 6 tokens of room left, from where it stopped


def test_prompts_take_room_in_order_of_arrival() -> None:
    first, second, third = sequence(2, 30, 0), sequence(0, 30, 0), sequence(1, 30, 0)
    plan = dict(plan_step([first, second, third], 40))
    assert plan[first] == range(0, 30)
    assert plan[second] == range(0, 10)
    assert third not in plan  # no room this step: it waits for the next one


def test_runs_count_the_passes_a_step_of_these_slots_takes() -> None:
    assert runs(set()) == 0
    assert runs({0, 1, 2, 3}) == 1
    assert runs({0, 2, 3}) == 2
    assert runs({5, 1, 9, 0}) == 3


def test_closing_moves_make_the_busy_slots_one_run_with_the_fewest_moves() -> None:
    # One move could not do it here: the three at the top go into the window beside the five.
    busy = {4, 5, 6, 7, 8, 13, 14, 15}
    moves = closing_moves(busy, 16)
    assert len(moves) == 3
    after = (busy - {a for a, _ in moves}) | {b for _, b in moves}
    assert runs(after) == 1 and len(after) == len(busy)
    assert all(b not in busy for _, b in moves)  # only into free slots
    assert closing_moves({0, 2}, 4) == [(2, 1)]
    assert closing_moves({3, 4, 5}, 8) == []


class Arrivals:
    """Requests arriving at set times on a clock of the test's own: `wait` (the Condition's,
    as wait_for_quiet calls it) moves the clock to the next arrival or to its timeout, so the
    outcome depends on the arrival times alone, never on how the machine schedules threads."""

    def __init__(self, times: list[float]) -> None:
        self.now = 0.0
        self.pending = sorted(times)
        self.queue: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def wait(self, timeout: float) -> bool:
        until = self.now + timeout
        if self.pending and self.pending[0] <= until:
            self.now = self.pending.pop(0)
            self.queue.append(self.now)
            return True
        self.now = until
        return False


def as_condition(arrivals: Arrivals) -> threading.Condition:
    return cast(threading.Condition, arrivals)  # wait_for_quiet calls only `wait`


def scripted(monkeypatch: pytest.MonkeyPatch, times: list[float]) -> Arrivals:
    arrivals = Arrivals(times)
    monkeypatch.setattr(llamacpp_batch.time, "monotonic", arrivals.monotonic)
    return arrivals


def test_a_burst_of_arrivals_is_waited_for_until_it_pauses(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrivals 10 ms apart, a 500 ms pause counting as quiet: all five are in before it returns.
    arrivals = scripted(monkeypatch, [0.01 * i for i in range(1, 6)])
    wait_for_quiet(as_condition(arrivals), lambda: len(arrivals.queue), quiet=0.5, window=30)
    assert len(arrivals.queue) == 5
    assert arrivals.now == pytest.approx(0.05 + 0.5)  # returned once quiet, not at the window


def test_the_wait_for_a_burst_is_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    # Arrivals that never pause for long: the wait ends at its window, well before the last.
    arrivals = scripted(monkeypatch, [0.05 * i + 0.01 for i in range(40)])
    wait_for_quiet(as_condition(arrivals), lambda: len(arrivals.queue), quiet=1.0, window=0.3)
    assert arrivals.now == pytest.approx(0.3)
    assert len(arrivals.queue) == 6  # at 0.01, 0.06, ... 0.26: the rest come after the window


def test_while_any_sequence_generates_prompts_get_at_most_the_prefill_chunk() -> None:
    generating = sequence(0, 4, 4)
    long, short = sequence(1, 1500, 0), sequence(2, 30, 0)
    plan = dict(plan_step([generating, long, short], 512, prefill_chunk=64))
    assert plan[generating] is None
    assert plan[long] == range(0, 64) and short not in plan  # the chunk is spent, in order
    # With nobody generating, the prompts take the whole batch: nobody waits for a token.
    alone = dict(plan_step([long, short], 512, prefill_chunk=64))
    assert alone[long] == range(0, 512)
