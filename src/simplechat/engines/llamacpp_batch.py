"""Continuous batching over one llama.cpp context: many sequences share every decode step."""

from __future__ import annotations

import codecs
import ctypes
import logging
import threading
import time
from collections import defaultdict, deque
from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simplechat.engines.base import EngineError, SamplingParams, Step
from simplechat.engines.kv_copy import CELL_COPIES_PER_TOKEN, KvCopier
from simplechat.engines.loop_inbox import LoopInbox
from simplechat.engines.weight_sets import CellTransfer, WeightSet, preferred

log = logging.getLogger(__name__)

Deliver = Callable[[Step | BaseException], None]

#: A gap among the busy slots costs every step a compute pass more (2.3 ms of a 17 ms step of
#: two, bench/kv_copy_cost.py; 5 ms a gap at four), a copy of a chat's cells under a
#: millisecond (kv_copy.py): so the busy slots are kept consecutive, by copying a cached prompt
#: beside them rather than taking its slot where it lies, and a gap left by a request that ends
#: between others is closed once it has lasted GAP_STEPS steps (time for a waiting request to
#: fill it), by moving sequences that may each still generate MOVE_MIN_TOKENS_LEFT tokens.
GAP_STEPS = 1
MOVE_MIN_TOKENS_LEFT = 8
#: Requests that arrive together at an idle engine (several clients at once) start together:
#: found more than one waiting, the batch thread first waits for a BURST_QUIET_S pause in
#: arrivals, at most BURST_WINDOW_S. Else the first few take a step alone and the rest wait
#: for it to end. (10 ms / 50 ms put all of 16 connecting clients in one step where 3 ms split
#: them 7 + 9, but the versus bench's time to first token at 16 was no better: 534-750 ms
#: against 445-527 ms, the first step's stream copies dominating; the shorter wait stays.)
BURST_QUIET_S = 0.003
BURST_WINDOW_S = 0.02
#: After a step that gave a request its first token, the next decode waits (at most this long)
#: until the request's reader has sent that token on: done beside a decode, the event loop's
#: work for a response's start (headers, the first frame) shares the two cores with llama.cpp's
#: threads and took 1.5-2 ms, sometimes 5-15; alone it takes under one. Once per request.
FIRST_STEP_WAIT_S = 0.005

#: While any sequence is generating, waiting prompts get at most this long of a step's time
#: (their tokens at the measured cost of a prompt token), so a long prompt is read in chunks
#: beside the running decodes instead of in one step that holds up everyone's next token: a
#: 1,500-token prompt is 3 steps of 512 tokens, 5-15 s each for a 1.5B model on 2 cores. On the
#: CPU a prompt chunk of 32 or more tokens is read nearly as fast per token as one of 512 (the
#: step's cost is its arithmetic, and the weights are read once a step either way).
PREFILL_BUDGET_S = 0.25
#: ... but never fewer prompt tokens a step than this (the weights' read, once a step, would
#: then dominate) ...
MIN_PREFILL_CHUNK = 32
#: ... and, until a step with prompt tokens has been timed, this many.
FIRST_PREFILL_CHUNK = 64
#: Steps whose shape and timing are kept (`BatchScheduler.steps`) for the log and the tests.
STEP_RECORDS = 512

# llama.cpp's own sampling defaults (as llama-server uses them) around the request's top_p/temp.
TOP_K = 40
MIN_P = 0.05


@dataclass(eq=False)
class Sequence:
    """One request inside the batch: its prompt, sampler, KV slot and progress."""

    prompt: list[int]
    params: SamplingParams
    deliver: Deliver  # runs on the event loop of the request's reader, through its inbox
    inbox: LoopInbox
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: set by the reader once it has sent the first step on (or stopped reading)
    first_taken: threading.Event = field(default_factory=threading.Event)
    seq_id: int = -1
    sampler: Any = None
    prefilled: int = 0  # prompt tokens already in the KV cache
    reused: int = 0  # of those, how many a previous request left there (prompt cache)
    generated: int = 0
    last_token: int = -1
    output: list[int] = field(default_factory=list)  # generated tokens
    fed: int = 0  # generated tokens already decoded into the KV cache
    logits_at: int = -1  # row of this step's batch whose logits are this sequence's
    utf8: codecs.IncrementalDecoder = field(
        default_factory=lambda: codecs.getincrementaldecoder("utf-8")(errors="replace")
    )

    @property
    def n_prompt(self) -> int:
        return len(self.prompt)


def token_bytes(vocab: Any, token: int, *, special: bool = False) -> bytes:
    """The bytes of one token (llama-cpp-python's helper returns a fixed 32-byte buffer)."""
    import llama_cpp as lc

    size = 64
    while True:
        buffer = ctypes.create_string_buffer(size)
        n = lc.llama_token_to_piece(vocab, token, buffer, size, 0, special)
        if n >= 0:
            return buffer.raw[:n]
        size = -n  # too small: llama.cpp says how much it needs


@dataclass(frozen=True)
class StepRecord:
    """One decode step's shape: the slots that each fed their last sampled token, and for each
    prompt read in it, its slot, the prompt positions fed and the prompt's length."""

    generating: tuple[int, ...]
    prompts: tuple[tuple[int, range, int], ...]
    seconds: float


def _sampler(params: SamplingParams) -> Any:
    """llama.cpp's sampler chain for a sampling request (greedy ones take the step's argmax)."""
    import llama_cpp as lc

    if params.temperature == 0:
        return None
    chain = lc.llama_sampler_chain_init(lc.llama_sampler_chain_default_params())
    seed = lc.LLAMA_DEFAULT_SEED if params.seed is None else params.seed & 0xFFFFFFFF
    for stage in (
        lc.llama_sampler_init_top_k(TOP_K),
        lc.llama_sampler_init_top_p(params.top_p, 1),
        lc.llama_sampler_init_min_p(MIN_P, 1),
        lc.llama_sampler_init_temp(params.temperature),
        lc.llama_sampler_init_dist(seed),
    ):
        lc.llama_sampler_chain_add(chain, stage)
    return chain


class BatchScheduler:
    """Owns the llama.cpp context on one thread; requests join and leave between decode steps.

    Each step feeds one token for every sequence that is generating, plus as much of the
    waiting prompts as the batch has room for (chunked prefill), in a single llama_decode.
    A cancelled sequence is dropped before the next step and its KV cells freed.
    With a `batched_context` (the same model's weights in a type llama.cpp multiplies in
    batches, weight_sets.py), a step of many tokens runs there and a step of few on `context`.
    """

    def __init__(
        self,
        model: Any,
        context: Any,
        *,
        batched_context: Any = None,
        max_sequences: int,
        batch_tokens: int,
        context_length: int,
        prompt_cache: bool = True,
        prefill_chunk: int | None = None,
    ) -> None:
        import llama_cpp as lc

        self._model = model
        self._vocab = model.vocab
        self._n_vocab = lc.llama_vocab_n_tokens(model.vocab)
        self._pieces: dict[int, bytes] = {}  # token id -> its bytes, as decoded so far
        self._logits_address = 0  # where llama.cpp's logits were at the last step
        self._logits_views: dict[int, np.ndarray] = {}  # rows -> a view of them there
        self._batch_tokens = batch_tokens
        #: prompt tokens a step may feed while others generate: fixed, or None for the time
        #: budget (PREFILL_BUDGET_S at the measured cost of a token)
        self._prefill_chunk = prefill_chunk
        self._seconds_per_token = 0.0  # of the last steps with prompt tokens, smoothed
        self.steps: deque[StepRecord] = deque(maxlen=STEP_RECORDS)
        self._batch = lc.llama_batch_init(batch_tokens, 0, 1)
        self._free_ids = list(range(max_sequences))
        self._prompt_cache = prompt_cache
        self._sets = [WeightSet("file", context, KvCopier(context, context_length))]
        if batched_context is not None:
            copier = KvCopier(batched_context, context_length)
            self._sets.append(WeightSet("batched", batched_context, copier))
        self._set = 0  # the set in use: every step and copy goes to its context
        self._transfer = CellTransfer()
        self.weight_switches = 0  # times the busy cells went over to the other set
        self.reused_tokens = 0  # prompt tokens served from the cache instead of decoded
        self.copied_prefixes = 0  # prompts that started from another slot's copied KV stream
        self.moves = 0  # sequences moved to another slot, to close a gap among the busy ones
        self._n_slots = max_sequences
        self._gap_slots: frozenset[int] = frozenset()  # the busy slots at the last step
        self._gap_steps = 0  # steps in a row with those busy slots
        self._released_at: dict[int, int] = {}  # slot -> release count when last freed
        self._releases = 0
        self._waiting: deque[Sequence] = deque()
        self._active: list[Sequence] = []
        #: what a step produced, handed to the event loop as the next step starts (or at once
        #: when none follows): one wake-up of the loop per step, not one per token of every
        #: sequence
        self._outbox: list[tuple[Sequence, Step | BaseException]] = []
        self._first_out: list[Sequence] = []  # in the outbox with their first step
        self._last_decode_end = 0.0  # perf_counter when the last decode returned
        self._wake = threading.Condition()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name="llamacpp-batch", daemon=True)
        self._thread.start()

    @property
    def _context(self) -> Any:
        return self._sets[self._set].context

    @property
    def _copier(self) -> KvCopier:
        return self._sets[self._set].copier

    @property
    def _cached(self) -> dict[int, list[int]]:
        """What each free slot's KV cells hold in the set in use, for the next request with
        the same prefix."""
        return self._sets[self._set].cached

    @property
    def weights_in_use(self) -> str:
        return self._sets[self._set].name

    # -- called from the event loop -------------------------------------------------------

    def submit(self, sequence: Sequence) -> None:
        with self._wake:
            if self._stopping:
                raise EngineError("the engine is shutting down")
            self._waiting.append(sequence)
            self._wake.notify()

    def cancel(self, sequence: Sequence) -> None:
        sequence.cancelled.set()
        with self._wake:
            self._wake.notify()

    @property
    def running(self) -> int:
        return len(self._active)

    @property
    def queued(self) -> int:
        return len(self._waiting)

    def close(self) -> None:
        import llama_cpp as lc

        with self._wake:
            self._stopping = True
            self._wake.notify()
        self._thread.join()
        lc.llama_batch_free(self._batch)

    # -- the batch thread -----------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._wake:
                while not self._stopping and not self._waiting and not self._active:
                    self._wake.wait()
                if self._stopping:
                    break
                if not self._active and len(self._waiting) > 1:
                    wait_for_quiet(self._wake, lambda: len(self._waiting))
                self._admit()
            try:
                self._close_gap()
                self._step()
            except Exception as exc:  # the model failed: fail the requests, keep serving
                log.exception("llama.cpp decode failed")
                for sequence in list(self._active):
                    sequence.prefilled = sequence.fed = 0  # its cells are in doubt
                    self._release(sequence)
                    self._emit(sequence, EngineError(f"decoding failed: {exc}"))
            if not self._active:  # else the next step hands it over as it starts
                self._flush()
                self._first_out = []  # no decode to hold back
        for sequence in [*self._active, *self._waiting]:
            if sequence in self._active:
                self._release(sequence)
            self._emit(sequence, EngineError("the engine shut down"))
        self._flush()

    def _emit(self, sequence: Sequence, item: Step | BaseException) -> None:
        if isinstance(item, Step) and sequence.generated <= 1:
            self._first_out.append(sequence)
        self._outbox.append((sequence, item))

    def _await_first_readers(self) -> None:
        """Waits (FIRST_STEP_WAIT_S at most) for the readers of the first steps just handed
        over to send them on, so the event loop does that without llama.cpp beside it."""
        deadline = time.perf_counter() + FIRST_STEP_WAIT_S
        for sequence in self._first_out:
            left = deadline - time.perf_counter()
            if left <= 0 or not sequence.first_taken.wait(left):
                break
        self._first_out = []

    def _flush(self) -> None:
        """Hands the step's output to each reader's event loop, in one call per loop."""
        if not self._outbox:
            return
        by_loop: defaultdict[LoopInbox, list[tuple[Sequence, Any]]] = defaultdict(list)
        for sequence, item in self._outbox:
            by_loop[sequence.inbox].append((sequence, item))
        self._outbox = []
        for inbox, items in by_loop.items():
            if not inbox.post(_deliver_all, items):  # the loop is gone: nobody is listening
                for sequence, _ in items:
                    sequence.cancelled.set()

    def _admit(self) -> None:
        """Admits waiting requests, in order, while slots are free. Those admitted together are
        placed so that as many as can find their cache where it is: one whose cached slot lies
        beside the busy ones goes first (the busy slots then grow over the caches), and one that
        must copy its prefix does not take a slot that another of them will start in."""
        group: list[Sequence] = []
        while self._waiting and len(group) < len(self._free_ids):
            sequence = self._waiting.popleft()
            if not sequence.cancelled.is_set():
                group.append(sequence)
        if not group:  # the common case: called before every step
            return
        arrival = {id(s): n for n, s in enumerate(group)}
        # For each of them, the free slots whose cache it would take as it is, and how much of
        # its prompt each holds.
        homes = {id(s): self._homes(s.prompt) for s in group}
        admitted = len(self._active)
        while group:
            beside = self._beside()
            sequence = max(
                group,
                key=lambda s: (
                    max((n for i, n in homes[id(s)].items() if i in beside), default=0),
                    -arrival[id(s)],
                ),
            )
            group.remove(sequence)
            spoken_for = {i for s in group for i in homes[id(s)]}
            self._assign_slot(sequence, beside, homes[id(sequence)], spoken_for)
            sequence.sampler = _sampler(sequence.params)
            self._active.append(sequence)
        # In arrival order: plan_step gives room to waiting prompts in that order.
        self._active[admitted:] = sorted(self._active[admitted:], key=lambda s: arrival[id(s)])

    def _beside(self) -> list[int]:
        """The free slots that keep the busy ones in the fewest runs of consecutive ids."""
        busy = {s.seq_id for s in self._active}
        passes = {i: runs(busy | {i}) for i in self._free_ids}
        fewest = min(passes.values())
        return [i for i, n in passes.items() if n == fewest]

    def _homes(self, prompt: list[int]) -> dict[int, int]:
        """The free slots a request with this prompt would take as they are, with how many of
        its tokens each holds: those whose cached tokens are mostly this prompt's prefix (the
        same conversation, one turn on), or that hold all of it (the same question again: what
        the slot has beyond it is an old answer)."""
        if not self._prompt_cache:
            return {}
        homes = {}
        for i in self._free_ids:
            cached = len(self._cached.get(i, []))
            shared = self._shared(i, prompt)
            mostly_ours = cached > 0 and 2 * shared >= cached
            all_of_it = shared > 0 and shared >= len(prompt) - 1  # (one is decoded again)
            if mostly_ours or all_of_it:
                homes[i] = shared
        return homes

    def _assign_slot(
        self,
        sequence: Sequence,
        beside: list[int],
        homes: dict[int, int],
        spoken_for: AbstractSet[int],
    ) -> None:
        """A free slot that keeps the busy ones consecutive, holding as much of this prompt's
        prefix as any slot has computed.

        Of the slots beside the busy ones (`beside`, from _beside), the request takes the home
        (see _homes) that holds most of its prompt; else the one whose cache is worth least
        (one no other request admitted with it will start in, then an empty one, else the one
        released longest ago), so that other conversations' caches survive. When some other
        slot, free or busy, holds a longer prefix (the same question cached elsewhere, the same
        long system prompt), its cells are copied over if that costs less than decoding the
        tokens it saves.
        """
        import llama_cpp as lc

        if not self._prompt_cache:
            seq_id, keep = min(beside), 0
        else:
            at_home = [i for i in beside if i in homes]
            if at_home:
                seq_id = max(at_home, key=lambda i: homes[i])
            else:
                seq_id = self._least_valuable(beside, spoken_for)
            keep = self._shared(seq_id, sequence.prompt)
            keep = self._copy_best_prefix(sequence.prompt, seq_id, keep)
            # Always decode at least one prompt token, for fresh logits.
            keep = min(keep, sequence.n_prompt - 1)
        self._free_ids.remove(seq_id)
        lc.llama_memory_seq_rm(self._context.memory, seq_id, keep, -1)
        self._cached.pop(seq_id, None)
        sequence.seq_id = seq_id
        sequence.prefilled = sequence.reused = keep
        self.reused_tokens += keep
        log.debug("slot %d: %d of %d prompt tokens cached", seq_id, keep, sequence.n_prompt)

    def _close_gap(self) -> None:
        """When the same busy slots have not been consecutive for GAP_STEPS steps (a request
        ended between others), moves the sequences outside the busiest window of consecutive
        slots into that window's free slots: from then on, a step is one compute pass. Waiting
        first lets a request about to arrive fill the gap instead."""
        busy = {s.seq_id: s for s in self._active}
        slots = frozenset(busy)
        if slots != self._gap_slots:
            self._gap_slots, self._gap_steps = slots, 0
        self._gap_steps += 1
        if runs(slots) < 2 or self._gap_steps <= GAP_STEPS:
            return
        moves = closing_moves(slots, self._n_slots)
        if any(
            busy[i].params.max_tokens - busy[i].generated < MOVE_MIN_TOKENS_LEFT for i, _ in moves
        ):
            return
        for i, to in moves:
            sequence = busy[i]
            # Between steps every cell it holds is decoded.
            self._copier.copy(sequence.seq_id, to, sequence.prefilled + sequence.fed)
            log.debug("slot %d moved to slot %d, closing a gap", sequence.seq_id, to)
            self._free_ids.remove(to)
            self._cached.pop(to, None)
            # The slot left behind still holds the copied cells: it is a prompt cache now, as
            # if the sequence had ended there (else every move would cost a cached prompt).
            self._keep_as_cache(sequence)
            self._free_ids.append(sequence.seq_id)
            sequence.seq_id = to
            self.moves += 1

    def _shared(self, seq_id: int, prompt: list[int]) -> int:
        return _shared(self._cached.get(seq_id, []), prompt)

    def _least_valuable(self, slots: list[int], spoken_for: AbstractSet[int]) -> int:
        """Of these free slots, one not spoken for, then an empty one, else the one released
        longest ago; the lowest id of equals."""
        return min(
            slots,
            key=lambda i: (i in spoken_for, i in self._cached, self._released_at.get(i, 0), i),
        )

    def _copy_best_prefix(self, prompt: list[int], seq_id: int, keep: int) -> int:
        """Copies into `seq_id` the cells of the slot that holds the longest prefix of
        `prompt`, if that beats the `keep` tokens it holds and costs less than decoding the
        tokens it saves; returns how many prompt tokens the slot holds then."""
        in_set, donor, donated, cells = self._best_donor(prompt)
        if in_set == self._set:
            if donated - keep <= self._copier.cost(cells):
                return keep
            self._copier.copy(donor, seq_id, cells)
        else:  # cached in the other weight set's context: copied across, cell by cell
            if donated - keep <= cells / CELL_COPIES_PER_TOKEN:
                return keep
            source, target = self._sets[in_set], self._sets[self._set]
            if not self._transfer.copy_slot(source, donor, target, seq_id):
                return 0  # the slot was emptied
        self.copied_prefixes += 1
        log.debug("slot %d: %d cells copied from slot %d (%s)", seq_id, cells, donor, in_set)
        return donated

    def _best_donor(self, prompt: list[int]) -> tuple[int, int, int, int]:
        """The slot (free or busy, in the set in use, or free in the other set) whose computed
        tokens share the longest prefix with `prompt`: its set, its id, how many it shares, how
        many cells it holds."""
        computed = {(self._set, i): tokens for i, tokens in self._cached.items()}
        for other in self._active:  # between steps, everything counted here is decoded
            computed[(self._set, other.seq_id)] = self._in_cache(other)
        for n, weights in enumerate(self._sets):
            if n != self._set:  # what a set not in use records of its slots is still true
                computed.update({(n, i): tokens for i, tokens in weights.cached.items()})
        best, best_shared = (self._set, -1), 0
        for key, tokens in computed.items():
            shared = _shared(tokens, prompt)
            if shared > best_shared:
                best, best_shared = key, shared
        return best[0], best[1], best_shared, len(computed.get(best, []))

    @staticmethod
    def _in_cache(sequence: Sequence) -> list[int]:
        """The tokens whose KV cells `sequence`'s slot holds (between steps)."""
        return sequence.prompt[: sequence.prefilled] + sequence.output[: sequence.fed]

    def _piece(self, token: int) -> bytes:
        piece = self._pieces.get(token)
        if piece is None:
            piece = self._pieces[token] = token_bytes(self._vocab, token)
        return piece

    def _keep_as_cache(self, sequence: Sequence) -> None:
        """The slot `sequence` is leaving keeps the cells it decoded there (prompt cache)."""
        import llama_cpp as lc

        if self._prompt_cache:
            self._cached[sequence.seq_id] = self._in_cache(sequence)
            self._releases += 1
            self._released_at[sequence.seq_id] = self._releases
        else:
            lc.llama_memory_seq_rm(self._context.memory, sequence.seq_id, -1, -1)

    def _release(self, sequence: Sequence) -> None:
        import llama_cpp as lc

        self._keep_as_cache(sequence)
        if sequence.sampler is not None:
            lc.llama_sampler_free(sequence.sampler)
        self._free_ids.append(sequence.seq_id)
        self._active.remove(sequence)
        if not self._active:  # the next busy slots are a new layout, whatever they are
            self._gap_slots = frozenset()

    def _step(self) -> None:
        import llama_cpp as lc

        for sequence in list(self._active):
            if sequence.cancelled.is_set():
                self._release(sequence)
        if not self._active:
            return
        batch = self._batch
        batch.n_tokens = 0

        def add(token: int, position: int, seq_id: int, logits: bool) -> int:
            i = batch.n_tokens
            batch.token[i] = token
            batch.pos[i] = position
            batch.n_seq_id[i] = 1
            batch.seq_id[i][0] = seq_id
            batch.logits[i] = logits
            batch.n_tokens = i + 1
            return i

        held = {s.seq_id: s.prefilled + s.fed for s in self._active}  # cells, before this step
        generating = 0
        for sequence in self._active:
            sequence.logits_at = -1  # until the plan gives it a row to sample from
        prompts: list[tuple[int, range, int]] = []
        fed_slots: list[int] = []
        for sequence, tokens in plan_step(
            self._active, self._batch_tokens, prefill_chunk=self.prefill_chunk()
        ):
            if tokens is None:  # generating: the token sampled last step
                generating += 1
                fed_slots.append(sequence.seq_id)
                position = sequence.n_prompt + sequence.generated - 1
                sequence.logits_at = add(sequence.last_token, position, sequence.seq_id, True)
                sequence.fed += 1
                continue
            for position in tokens:
                last = position == sequence.n_prompt - 1
                index = add(sequence.prompt[position], position, sequence.seq_id, last)
                if last:
                    sequence.logits_at = index
            sequence.prefilled = tokens.stop
            prompts.append((sequence.seq_id, tokens, sequence.n_prompt))
        self._use_weights_for(batch.n_tokens, generating, held)
        # The last step's output goes to the readers now, as this step starts: their event loop
        # then works while llama.cpp decodes (without the GIL), not while this thread needs it.
        # (Woken here, the loop often takes the GIL first and does that work before the decode
        # starts. A courier thread that woke it once the decode had started cut that pause from
        # 0.3-0.9 to 0.3 ms for one stream and 1.7-2.6 to 0.6 ms for 16 over HTTP, but the work
        # then took a core from the decode: three A/B runs at 16 clients gave 133-143 against
        # 142-155 tok/s, one stream 79 against 75 in one and no difference in another.)
        self._flush()
        self._await_first_readers()
        started = time.perf_counter()
        status = lc.llama_decode(self._context.ctx, batch)
        if status != 0:
            raise EngineError(f"llama_decode returned {status}")
        ended, paused = time.perf_counter(), started - self._last_decode_end
        self._last_decode_end = ended
        fed = sum(len(tokens) for _, tokens, _ in prompts)
        if fed >= MIN_PREFILL_CHUNK:  # a step big enough to time a prompt token by
            per_token = (ended - started) / batch.n_tokens
            previous = self._seconds_per_token or per_token
            self._seconds_per_token = 0.5 * previous + 0.5 * per_token
        self.steps.append(StepRecord(tuple(fed_slots), tuple(prompts), ended - started))
        if log.isEnabledFor(logging.DEBUG):
            busy = {s.seq_id for s in self._active}
            log.debug(
                "step: %d tokens, slots %s (%d runs), %.1f ms, %.2f ms after the last one",
                batch.n_tokens,
                sorted(busy),
                runs(busy),
                (ended - started) * 1000,
                paused * 1000,
            )
        sampled = [s for s in self._active if s.logits_at >= 0]
        for sequence, token in zip(sampled, self._sample(sampled), strict=True):
            self._advance(sequence, token)

    def prefill_chunk(self) -> int:
        """The most prompt tokens the next step feeds while other sequences are generating."""
        if self._prefill_chunk is not None:
            return self._prefill_chunk
        if not self._seconds_per_token:
            return FIRST_PREFILL_CHUNK
        fits = int(PREFILL_BUDGET_S / self._seconds_per_token)
        return max(MIN_PREFILL_CHUNK, min(self._batch_tokens, fits))

    def _use_weights_for(self, step_tokens: int, generating: int, held: dict[int, int]) -> None:
        """Goes over to the weight set that suits a step of `step_tokens` (weight_sets.py),
        taking the busy slots' cells (`held`: slot -> cells) along; stays where it is if they
        cannot be copied."""
        want = preferred(
            self._set,
            len(self._sets),
            step_tokens=step_tokens,
            generating=generating,
            busy_cells=sum(held.values()),
        )
        if want == self._set:
            return
        started = time.perf_counter()
        if not self._transfer.copy(self._sets[self._set], self._sets[want], held):
            return
        log.debug(
            "weights: %s -> %s for a step of %d tokens, %d cells copied in %.1f ms",
            self._sets[self._set].name,
            self._sets[want].name,
            step_tokens,
            sum(held.values()),
            (time.perf_counter() - started) * 1000,
        )
        self._set = want
        self.weight_switches += 1

    def _sample(self, sampled: list[Sequence]) -> list[int]:
        """The next token of each sequence. Greedy rows are one argmax over the step's logits
        (ties go to the lowest id, as llama.cpp's greedy sampler breaks them); the others run
        their own sampler chain."""
        import llama_cpp as lc

        greedy = [i for i, s in enumerate(sampled) if s.params.temperature == 0]
        tokens = [-1] * len(sampled)
        if greedy:
            # Outputs are numbered in batch order, and only sampled rows asked for logits.
            rows = sorted(range(len(sampled)), key=lambda i: sampled[i].logits_at)
            output_row = {i: row for row, i in enumerate(rows)}
            logits = self._logits(len(sampled))
            for i in greedy:  # row by row: each is read once, where llama.cpp wrote it
                tokens[i] = int(logits[output_row[i]].argmax())
        for i, sequence in enumerate(sampled):
            if tokens[i] < 0:
                tokens[i] = lc.llama_sampler_sample(
                    sequence.sampler, self._context.ctx, sequence.logits_at
                )
        return tokens

    def _logits(self, rows: int) -> np.ndarray:
        """The last step's logits, `rows` by vocabulary, without a copy. The view is kept while
        llama.cpp's output buffer stays where it is (it moves only when it grows): building one
        each step took a tenth of a millisecond, 1% of a single stream's step."""
        import llama_cpp as lc

        address = ctypes.cast(lc.llama_get_logits(self._context.ctx), ctypes.c_void_p).value
        if not address:
            raise EngineError("llama.cpp returned no logits")
        if address != self._logits_address:
            self._logits_address, self._logits_views = address, {}
        view = self._logits_views.get(rows)
        if view is None:
            buffer = (ctypes.c_float * (rows * self._n_vocab)).from_address(address)
            view = np.frombuffer(buffer, dtype=np.float32).reshape(rows, self._n_vocab)
            self._logits_views[rows] = view
        return view

    def _advance(self, sequence: Sequence, token: int) -> None:
        import llama_cpp as lc

        if sequence.cancelled.is_set():
            self._release(sequence)
            return
        # A finished sequence is released before its last step goes out, so whoever reads that
        # step finds its slot already free (`running` counts it no more).
        if not sequence.params.ignore_eos and lc.llama_vocab_is_eog(self._vocab, token):
            tail = sequence.utf8.decode(b"", final=True)
            self._release(sequence)
            self._emit(sequence, Step(tail, sequence.n_prompt, sequence.generated, "stop"))
            return
        sequence.generated += 1
        sequence.last_token = token
        sequence.output.append(token)
        text = sequence.utf8.decode(self._piece(token))
        if sequence.generated >= sequence.params.max_tokens:
            # Cut mid-character: the partial bytes are dropped (never shown as U+FFFD).
            self._release(sequence)
            self._emit(sequence, Step(text, sequence.n_prompt, sequence.generated, "length"))
            return
        self._emit(sequence, Step(text, sequence.n_prompt, sequence.generated))


Feed = tuple[Sequence, range | None]


def plan_step(
    active: list[Sequence], batch_tokens: int, *, prefill_chunk: int | None = None
) -> list[Feed]:
    """What one decode step feeds: the last sampled token of each generating sequence (None),
    and chunks of waiting prompts (a range of positions), laid out by sequence id.

    Room goes first to one token of every generating sequence, which keeps each stream moving,
    then to prompts in order of arrival, as far as `batch_tokens` allows, and while any
    sequence is generating, `prefill_chunk` tokens of prompts at most (chunked prefill: the
    streams get their next token after a step of that size, not after a whole long prompt's
    read). With none generating, the prompts take the whole batch. The layout is by id
    because with a KV stream per sequence llama.cpp computes only consecutive ids in one pass
    (llama_batch_allocr::split_equal, sequential): in any other order a step becomes a pass per
    sequence, and batching gains nothing.
    """
    room = batch_tokens
    feeds: list[Feed] = []
    for sequence in active:
        if sequence.prefilled == sequence.n_prompt:
            feeds.append((sequence, None))
            room -= 1
    if feeds and prefill_chunk is not None:
        room = min(room, prefill_chunk)
    for sequence in active:
        if sequence.prefilled < sequence.n_prompt and room > 0:
            end = min(sequence.n_prompt, sequence.prefilled + room)
            feeds.append((sequence, range(sequence.prefilled, end)))
            room -= end - sequence.prefilled
    return sorted(feeds, key=lambda feed: feed[0].seq_id)


def _deliver_all(items: list[tuple[Sequence, Step | BaseException]]) -> None:
    """On the event loop: each sequence's items, in order."""
    for sequence, item in items:
        sequence.deliver(item)


def wait_for_quiet(
    wake: threading.Condition,
    arrived: Callable[[], int],
    quiet: float = BURST_QUIET_S,
    window: float = BURST_WINDOW_S,
) -> None:
    """With `wake` held, waits until `arrived()` has not grown for `quiet` seconds, or `window`
    seconds have passed. Arrivals notify `wake`."""
    deadline = time.monotonic() + window
    count = arrived()
    while (left := deadline - time.monotonic()) > 0:
        wake.wait(timeout=min(quiet, left))
        if arrived() == count:
            return
        count = arrived()


def closing_moves(busy: AbstractSet[int], n_slots: int) -> list[tuple[int, int]]:
    """The fewest (from, to) slot moves that make the busy slots consecutive: those outside the
    window of len(busy) slots that holds most of them move into its free slots."""
    n = len(busy)
    start = max(range(n_slots - n + 1), key=lambda a: len(busy & set(range(a, a + n))))
    window = range(start, start + n)
    outside = sorted(i for i in busy if i not in window)
    return list(zip(outside, [i for i in window if i not in busy], strict=True))


def runs(slots: AbstractSet[int]) -> int:
    """How many runs of consecutive ids these slots make: llama.cpp's passes in a step."""
    return sum(1 for i in slots if i - 1 not in slots)


def _shared(cached: list[int], prompt: list[int]) -> int:
    """How many leading tokens two token lists have in common."""
    n = min(len(cached), len(prompt))
    if cached[:n] == prompt[:n]:  # the common case (the same prompt again), compared in C
        return n
    for i, (a, b) in enumerate(zip(cached, prompt, strict=False)):
        if a != b:
            return i
    return n
