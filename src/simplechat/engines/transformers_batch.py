"""Continuous batching for the transformers engine, on transformers' own manager
(`init_continuous_batching`): requests join and leave the running batch between steps, each
with its own temperature, top-p and length; a closed stream cancels its request at once."""

from __future__ import annotations

import asyncio
import logging
import math
import threading
import uuid
from collections.abc import AsyncIterator
from typing import Any

from simplechat.engines.base import EngineError, EngineUnavailable, SamplingParams, Step
from simplechat.engines.incremental_text import IncrementalText

log = logging.getLogger(__name__)

#: Tokens per page of the paged KV cache (transformers' default).
PAGE_SIZE = 256
#: On a CPU the cache is allocated up front: each request gets room for this many tokens
#: (longer conversations still run: the pool is shared, and the scheduler waits for room),
#: and the pool always holds one whole context: a request that outgrows the pool fails the
#: manager's thread, and with it every request after.
CPU_TOKENS_PER_REQUEST = 2048
#: Prompt tokens per step on a CPU (chunked prefill keeps running answers flowing).
CPU_BATCH_TOKENS = 256


def supported(model: Any) -> bool:
    """transformers recent enough for per-request streaming handlers (5.x)."""
    try:
        from transformers.generation.continuous_batching.continuous_api import (
            ContinuousBatchingManager,
        )
    except ImportError:
        return False
    return hasattr(model, "init_continuous_batching") and hasattr(
        ContinuousBatchingManager, "register_result_handler"
    )


class _Adding:
    """Who cancels a request whose client left while it was being added: whichever of the
    adding thread and the event loop comes second."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._added = self._abandoned = False

    def done(self) -> bool:
        """The request is in; True when its client has already left."""
        with self._lock:
            self._added = True
            return self._abandoned

    def abandon(self) -> bool:
        """The client left; True when the request is already in (so cancel it now)."""
        with self._lock:
            self._abandoned = True
            return self._added


class ContinuousBatcher:
    """One manager (and its background thread) per loaded model."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        *,
        max_batch: int,
        eos_ids: set[int],
        device: str,
        context_length: int,
    ) -> None:
        from transformers import GenerationConfig
        from transformers.generation.configuration_utils import ContinuousBatchingConfig

        self._tokenizer = tokenizer
        self._eos_ids = sorted(eos_ids)
        self._vocab_size = int(model.config.vocab_size)
        # Non-default temperature, top-p and top-k make transformers build the processors that
        # then read each request's own values (per_request_processors). Greedy is top_k=1.
        generation = GenerationConfig(
            do_sample=True,
            temperature=0.7,
            top_p=0.9,
            top_k=50,
            eos_token_id=self._eos_ids,
            pad_token_id=self._eos_ids[0] if self._eos_ids else 0,
        )
        on_gpu = device == "cuda"
        config = ContinuousBatchingConfig(
            page_size=PAGE_SIZE,
            max_requests_per_batch=max_batch,
            per_request_processors=True,
            # On a GPU transformers sizes the cache from free memory; on a CPU it would take
            # far too much, so we size it ourselves.
            num_blocks=None
            if on_gpu
            else math.ceil(
                max(max_batch * CPU_TOKENS_PER_REQUEST, context_length + PAGE_SIZE) / PAGE_SIZE
            ),
            max_batch_tokens=None if on_gpu else CPU_BATCH_TOKENS,
            use_cuda_graph=None if on_gpu else False,
            use_async_batching=None if on_gpu else False,
        )
        self._manager = model.init_continuous_batching(
            generation_config=generation, continuous_batching_config=config
        )
        self._manager.start()
        self.active = 0  # requests inside the manager now

    async def generate(self, prompt_ids: list[int], params: SamplingParams) -> AsyncIterator[Step]:
        loop = asyncio.get_running_loop()
        outputs: asyncio.Queue[Any] = asyncio.Queue()
        request_id = f"simplechat-{uuid.uuid4().hex}"
        self._manager.register_result_handler(request_id, outputs.put_nowait)
        greedy = params.temperature == 0
        adding = _Adding()

        def add() -> Any:
            added = self._manager.add_request(
                prompt_ids,
                request_id=request_id,
                max_new_tokens=params.max_tokens,
                streaming=True,
                eos_token_id=-1 if params.ignore_eos else self._eos_ids,
                temperature=1.0 if greedy else float(params.temperature),
                top_k=1 if greedy else self._vocab_size,  # the whole vocabulary: no cut
                top_p=float(params.top_p),
            )
            if adding.done():  # its client left while it was being added
                self._manager.cancel_request(request_id)
            return added

        try:  # add_request may block briefly when its queue is full: not on the event loop
            added = await loop.run_in_executor(None, add)
        except BaseException:  # cancelled (the client left) while adding
            if adding.abandon():  # already in: cancel it here, else add() will
                self._manager.cancel_request(request_id)
            self._forget(request_id)
            raise
        if added is None:  # it stopped since we looked: the next request starts it again
            self._forget(request_id)
            raise EngineUnavailable("the model's batching is starting again after a failure")
        self.active += 1
        finished = False
        text = IncrementalText(self._tokenizer)
        seen = 0
        try:
            while not finished:
                output = await outputs.get()
                if output.error:
                    raise EngineError(f"transformers failed: {output.error}")
                tokens = list(output.generated_tokens)
                finished = output.is_finished()
                new, seen = tokens[seen:], len(tokens)
                yield self._step(text, new, len(prompt_ids), tokens, finished, params)
        finally:
            self.active -= 1
            if not finished:
                self._manager.cancel_request(request_id)
            self._forget(request_id)

    def _forget(self, request_id: str) -> None:
        """Drop our handler (transformers drops it only after a finished output, which a
        cancelled request never gets; a stale one would call into a closed event loop) and the
        outputs that then land on the shared queue, which nobody here reads."""
        router = self._manager.output_router
        with router._lock:
            router.result_handlers.pop(request_id, None)
        while not router.output_queue.empty():
            router.output_queue.get_nowait()

    def _step(
        self,
        text: IncrementalText,
        new: list[int],
        n_prompt: int,
        tokens: list[int],
        finished: bool,
        params: SamplingParams,
    ) -> Step:
        stopped = (
            finished and not params.ignore_eos and bool(tokens) and tokens[-1] in self._eos_ids
        )
        if stopped:
            new = new[:-1]  # the end-of-sequence token is not part of the answer
        piece = "".join(text.add(token) for token in new)
        if not finished:
            return Step(piece, n_prompt, len(tokens))
        if stopped:
            return Step(piece + text.flush(), n_prompt, len(tokens) - 1, "stop")
        # cut by max_tokens mid-character: the partial bytes are dropped (never U+FFFD)
        return Step(piece, n_prompt, len(tokens), "length")

    @property
    def failure(self) -> str | None:
        """Why the manager serves no one any more, if it does not: its thread died, or is dying
        (it refuses requests a moment before it records the error)."""
        status = self._manager.background_thread_status
        if status.fatal_error is not None:
            return str(status.fatal_error)
        denial: str | None = status.can_accept_new_requests()
        return denial

    @property
    def cache_tokens(self) -> int:
        """Tokens the paged KV cache holds, all requests together."""
        return int(self._manager.continuous_batching_config.num_blocks) * PAGE_SIZE

    def stop(self) -> None:
        self._manager.stop(block=True, timeout=30)
