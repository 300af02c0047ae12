"""The transformers engine: any Hugging Face model (folder, hub id or GGUF file), GPU if present."""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import AsyncGenerator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from simplechat.engines.base import Engine, EngineError, GenerationRequest, Message, Prompt, Step
from simplechat.engines.hf_prompts import HfChatPrompts
from simplechat.engines.incremental_text import IncrementalText
from simplechat.engines.threaded import iterate_in_thread
from simplechat.engines.transformers_batch import ContinuousBatcher
from simplechat.engines.transformers_batch import supported as batching_supported
from simplechat.model_source import is_gguf

log = logging.getLogger(__name__)


def pick_device(requested: str) -> str:
    """`auto` means CUDA, then Apple's MPS, then the CPU."""
    import torch

    if requested != "auto":
        return requested
    if torch.cuda.is_available():
        return "cuda"
    if torch.backends.mps.is_available():
        return "mps"
    return "cpu"


class TransformersEngine(Engine):
    """A causal LM served two ways.

    With `max_batch` > 1, transformers' own continuous batching decodes concurrent requests
    together (transformers_batch.py). A request that names a seed, and every request when
    `max_batch` is 1 or transformers is too old for batching, runs on our own token-by-token
    loop over a KV cache instead: one at a time, each with its own seeded sampler.
    """

    name = "transformers"

    def __init__(
        self,
        model: str,
        *,
        model_name: str,
        context_length: int | None = None,
        device: str = "auto",
        threads: int | None = None,
        max_batch: int = 1,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        if threads:
            torch.set_num_threads(threads)
        self.device = pick_device(device)
        source, extra = _from_pretrained_args(model)
        dtype = torch.float32
        if self.device == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        model_loader: Any = AutoModelForCausalLM  # its stubs reject plain keyword use
        try:
            self._tokenizer = AutoTokenizer.from_pretrained(source, **extra)
            self._model = model_loader.from_pretrained(source, dtype=dtype, **extra)
        except (OSError, ValueError) as exc:
            raise EngineError(f"could not load model {model!r}: {exc}") from exc
        self._model.to(self.device)
        self._model.eval()
        self.model_name = model_name
        trained = int(getattr(self._model.config, "max_position_embeddings", 0) or 4096)
        self.context_length = min(context_length, trained) if context_length else trained
        self._eos_ids = _eos_token_ids(self._tokenizer, self._model)
        self._prompts = HfChatPrompts(self._tokenizer)
        self._max_batch = max_batch
        self._batcher: ContinuousBatcher | None = None
        self._restarting = threading.Lock()
        if max_batch > 1 and batching_supported(self._model):
            self._batcher = self._start_batcher()
        elif max_batch > 1:
            log.warning("this transformers has no continuous batching: one request at a time")
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="transformers")

    def _start_batcher(self) -> ContinuousBatcher | None:
        try:
            return ContinuousBatcher(
                self._model,
                self._tokenizer,
                max_batch=self._max_batch,
                eos_ids=self._eos_ids,
                device=self.device,
                context_length=self.context_length,
            )
        except Exception as exc:  # e.g. an architecture its batching does not cover
            log.warning("continuous batching unavailable (%s): one request at a time", exc)
            return None

    async def _live_batcher(self) -> ContinuousBatcher | None:
        """The batcher, started again if its thread died: transformers then refuses every
        request, and one failure must not stop the server for good."""
        batcher = self._batcher
        if batcher is not None and batcher.failure is not None:
            # Stopping the old manager and allocating a new KV pool take a while: on a thread,
            # so that other streams go on meanwhile.
            batcher = await asyncio.to_thread(self._restart_batcher, batcher)
        return batcher

    def _restart_batcher(self, dead: ContinuousBatcher) -> ContinuousBatcher | None:
        with self._restarting:  # requests that found it dead together restart it once
            if self._batcher is dead:
                log.error("transformers' batching stopped (%s); starting it again", dead.failure)
                dead.stop()
                self._batcher = self._start_batcher()
            return self._batcher

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        return self._prompts.render_chat(messages)

    def tokenize(self, prompt: Prompt) -> list[int]:
        return self._prompts.token_ids(prompt)

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        # transformers' batching shares one random generator across the batch, so a request
        # that names a seed (to be reproducible) runs on our own one-at-a-time decode loop.
        batcher = await self._live_batcher() if request.params.seed is None else None
        if batcher is not None:
            prompt_ids = await self.prompt_ids(request)
            self.check_fits(len(prompt_ids), request.params.max_tokens)
            batched = batcher.generate(prompt_ids, request.params)
            try:
                async for step in batched:
                    yield step
            finally:
                await batched.aclose()  # type: ignore[attr-defined]
            return
        steps = iterate_in_thread(
            lambda cancel: self._decode_blocking(request, cancel), self._worker
        )
        try:
            async for step in steps:
                yield step
        finally:
            await steps.aclose()

    def _decode_blocking(
        self, request: GenerationRequest, cancel: threading.Event
    ) -> Iterator[Step]:
        """Runs on the worker thread: prompt in, one Step per generated token out."""
        import torch

        params = request.params
        given = request.prompt_ids
        prompt_ids = self.tokenize(request.prompt) if given is None else list(given)
        n_prompt = len(prompt_ids)
        self.check_fits(n_prompt, params.max_tokens)
        generator = torch.Generator(device=self.device)
        if params.seed is None:
            generator.seed()
        else:
            generator.manual_seed(params.seed)
        text = IncrementalText(self._tokenizer)
        inputs = torch.tensor([prompt_ids], device=self.device)
        past: Any = None
        with torch.inference_mode():
            for generated in range(1, params.max_tokens + 1):
                if cancel.is_set():
                    return
                out = self._model(input_ids=inputs, past_key_values=past, use_cache=True)
                past = out.past_key_values
                token = _sample(out.logits[0, -1], params.temperature, params.top_p, generator)
                if token in self._eos_ids and not params.ignore_eos:
                    yield Step(text.flush(), n_prompt, generated - 1, "stop")
                    return
                piece = text.add(token)
                if generated == params.max_tokens:
                    # cut mid-character: the partial bytes are dropped (never shown as U+FFFD)
                    yield Step(piece, n_prompt, generated, "length")
                    return
                yield Step(piece, n_prompt, generated)
                inputs = torch.tensor([[token]], device=self.device)

    async def aclose(self) -> None:
        if self._batcher is not None:
            await asyncio.to_thread(self._batcher.stop)
        await asyncio.to_thread(self._worker.shutdown, wait=True, cancel_futures=True)


def _from_pretrained_args(model: str) -> tuple[str, dict[str, Any]]:
    """A GGUF file loads through transformers' GGUF reader: folder + file name."""
    if is_gguf(model):
        path = Path(model)
        return str(path.parent), {"gguf_file": path.name}
    return model, {}


def _eos_token_ids(tokenizer: Any, model: Any) -> set[int]:
    ids: set[int] = set()
    for source in (model.generation_config.eos_token_id, tokenizer.eos_token_id):
        if isinstance(source, int):
            ids.add(source)
        elif source:
            ids.update(int(i) for i in source)
    return ids


def _sample(logits: Any, temperature: float, top_p: float, generator: Any) -> int:
    """Greedy at temperature 0; otherwise nucleus sampling with the request's own RNG."""
    import torch

    if temperature == 0:
        return int(torch.argmax(logits))
    probs = torch.softmax(logits.float() / temperature, dim=-1)
    if top_p < 1.0:
        sorted_probs, order = torch.sort(probs, descending=True)
        # Keep the smallest set whose mass reaches top_p (always at least one token).
        outside = torch.cumsum(sorted_probs, dim=-1) - sorted_probs > top_p
        sorted_probs[outside] = 0.0
        probs = torch.zeros_like(probs).scatter_(0, order, sorted_probs)
    return int(torch.multinomial(probs, 1, generator=generator))
