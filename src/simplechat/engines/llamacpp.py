"""The llama.cpp engine (llama-cpp-python) for GGUF files: the CPU default, batching requests."""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncGenerator, Sequence
from pathlib import Path

from simplechat.engines.base import (
    Engine,
    EngineError,
    GenerationRequest,
    Message,
    Prompt,
    Step,
    refuse_unseparated_control_tokens,
)
from simplechat.engines.chat_template import JinjaChatTemplate, render_plain
from simplechat.engines.llamacpp_batch import BatchScheduler, StepRecord, token_bytes
from simplechat.engines.llamacpp_batch import Sequence as BatchSequence
from simplechat.engines.loop_inbox import inbox_of
from simplechat.engines.template_tokens import TemplateTokens
from simplechat.engines.weight_type import weight_sets_for, weights_for

log = logging.getLogger(__name__)

#: Context per request unless told otherwise (the KV cache holds this times max_batch tokens).
DEFAULT_MAX_CONTEXT = 4096
#: The most requests decoded together when `max_batch` is not given. On CPUs a decode step is
#: compute-bound: measured on 2 cores, 16 still gained over 8 at 16 clients (bench/versus.py).
AUTO_MAX_BATCH = 16
#: The share of the machine's memory the KV cache may take when `max_batch` is chosen for you.
AUTO_KV_SHARE = 1 / 8
#: `max_batch` unset with the model offloaded to a GPU (its KV cache in GPU memory).
GPU_MAX_BATCH = 4
#: Tokens per llama_decode call: prompt chunks plus one token per generating sequence.
BATCH_TOKENS = 512


class LlamaCppEngine(Engine):
    """One model, one llama.cpp context, up to `max_batch` requests decoded together."""

    name = "llamacpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        model_name: str,
        context_length: int | None = None,
        threads: int | None = None,
        use_gpu: bool = True,
        max_batch: int | None = None,
        prompt_cache: bool = True,
        kv_cache_type: str = "f16",
        weight_type: str = "auto",
        prefill_chunk: int | None = None,
    ) -> None:
        import llama_cpp as lc
        from llama_cpp._internals import LlamaContext, LlamaModel
        from llama_cpp._logger import set_verbose

        set_verbose(False)  # llama.cpp's own log: errors only
        lc.llama_backend_init()
        # llama-cpp-python defaults to half the CPUs (guessing hyperthreads); on the 2-core
        # machines we measured, using every core decodes 22% faster (bench/single_request.py).
        threads = threads or len(os.sched_getaffinity(0))
        model_path = Path(model_path)
        model_params = lc.llama_model_default_params()
        model_params.n_gpu_layers = -1 if use_gpu else 0  # has effect only in a GPU build
        on_gpu = use_gpu and lc.llama_supports_gpu_offload()

        def load(path: Path) -> LlamaModel:
            try:
                return LlamaModel(path_model=str(path), params=model_params, verbose=False)
            except ValueError as exc:
                raise EngineError(f"llama.cpp could not load {path}: {exc}") from exc

        # The first set's model answers everything but the step itself (template, tokenizer).
        if weight_type in ("auto", "file") or weight_type.startswith("file+"):
            self._model = load(model_path)
            file_type = int(self._model.metadata().get("general.file_type", -1))
            n_params = lc.llama_model_n_params(self._model.model)
            self.weight_sets = weight_sets_for(
                weight_type, file_type, n_params, on_gpu=on_gpu, memory_bytes=machine_memory()
            )
        else:
            self.weight_sets = weight_sets_for(weight_type, -1, 0, on_gpu=on_gpu, memory_bytes=0)
            self._model = load(weights_for(model_path, self.weight_sets[0], threads=threads))
        trained = self._model.n_ctx_train() or DEFAULT_MAX_CONTEXT
        self.context_length = min(context_length or DEFAULT_MAX_CONTEXT, trained)
        if max_batch is None and on_gpu:
            max_batch = GPU_MAX_BATCH  # the KV cache is in GPU memory, which we do not size
        elif max_batch is None:
            max_batch, self.weight_sets = auto_batch_and_sets(
                self.weight_sets,
                self._kv_bytes_per_token(kv_cache_type),
                self.context_length,
                may_drop_twin=weight_type == "auto",
            )
            log.info("--max-batch %d (chosen from the model's KV size and memory)", max_batch)
        self._twin = None
        if len(self.weight_sets) > 1:
            try:
                self._twin = load(weights_for(model_path, self.weight_sets[1], threads=threads))
            except EngineError as exc:
                if weight_type != "auto":
                    raise
                # Chosen for speed, not asked for: serving the file alone still answers.
                log.warning("weights: the file's only (%s)", exc)
                self.weight_sets = self.weight_sets[:1]
            else:
                log.info(
                    "weights: the file's for steps of few tokens, a %s copy for steps of many",
                    self.weight_sets[1],
                )
        params = lc.llama_context_default_params()
        params.n_ctx = self.context_length * max_batch
        params.n_seq_max = max_batch
        params.kv_unified = False  # a KV stream per sequence, context_length cells each
        params.n_batch = params.n_ubatch = BATCH_TOKENS
        params.n_threads = params.n_threads_batch = threads
        if kv_cache_type == "q8_0":
            # Half the KV memory for a few percent of speed; a quantized V cache needs llama.cpp's
            # flash attention.
            params.type_k = params.type_v = lc.GGML_TYPE_Q8_0
            params.flash_attn_type = lc.LLAMA_FLASH_ATTN_TYPE_ENABLED
        self._context = LlamaContext(model=self._model, params=params, verbose=False)
        self._twin_context = None
        if self._twin is not None:
            self._twin_context = LlamaContext(model=self._twin, params=params, verbose=False)
        self.max_batch = max_batch
        self.model_name = model_name
        self._template = self._load_template()
        self._template_tokens = TemplateTokens(
            lambda text, add_bos: self._encode(text, True, add_bos=add_bos)
        )
        self._scheduler = BatchScheduler(
            self._model,
            self._context,
            batched_context=self._twin_context,
            max_sequences=max_batch,
            batch_tokens=BATCH_TOKENS,
            context_length=self.context_length,
            prompt_cache=prompt_cache,
            prefill_chunk=prefill_chunk,
        )

    def _kv_bytes_per_token(self, kv_cache_type: str) -> int:
        """K and V of one token over every layer, in the cache's precision. The head sizes come
        from the GGUF's metadata where it has them (Qwen3, Gemma: not n_embd / n_head)."""
        import llama_cpp as lc

        model = self._model.model
        metadata = self._model.metadata()
        arch = metadata.get("general.architecture", "")
        n_head = max(1, lc.llama_model_n_head(model))
        guess = lc.llama_model_n_embd(model) // n_head
        key = int(metadata.get(f"{arch}.attention.key_length", guess))
        value = int(metadata.get(f"{arch}.attention.value_length", key))
        per_value = 1.0625 if kv_cache_type == "q8_0" else 2  # q8_0: 34 bytes a 32-value block
        width = (key + value) * lc.llama_model_n_head_kv(model)
        return int(lc.llama_model_n_layer(model) * width * per_value)

    def _load_template(self) -> JinjaChatTemplate | None:
        source = self._model.metadata().get("tokenizer.chat_template")
        if not source:
            log.warning("model has no chat template; using a plain User:/Assistant: prompt")
            return None
        return JinjaChatTemplate(
            source,
            bos_token=self._token_text(self._model.token_bos()),
            eos_token=self._token_text(self._model.token_eos()),
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return token_bytes(self._model.vocab, token, special=True).decode("utf-8", errors="replace")

    def render_chat(self, messages: Sequence[Message]) -> Prompt:
        if self._template is None:
            return render_plain(messages)
        return self._template.render(messages)

    def tokenize(self, prompt: Prompt) -> list[int]:
        """Part by part: special tokens are parsed in template text only, never in user text."""

        refuse_unseparated_control_tokens(prompt, self._encode)
        tokens: list[int] = []
        for text, trusted in prompt.parts:
            if trusted:
                tokens += self._template_tokens(text, not tokens)
            else:
                tokens += self._encode(text, False, add_bos=not tokens)
        return tokens

    def _encode(self, text: str, special: bool, *, add_bos: bool = False) -> list[int]:
        data = text.encode("utf-8")
        return list(self._model.tokenize(data, add_bos=add_bos, special=special))

    @property
    def running(self) -> int:  # decoding now; the rest of the admitted requests are queued
        return self._scheduler.running

    @property
    def queued(self) -> int:
        return self._scheduler.queued

    @property
    def reused_tokens(self) -> int:
        """Prompt tokens taken from the prompt cache so far."""
        return self._scheduler.reused_tokens

    @property
    def copied_prefixes(self) -> int:
        """Prompts that started from a copy of another slot's KV stream."""
        return self._scheduler.copied_prefixes

    @property
    def weight_switches(self) -> int:
        """Times the busy sequences went over to the other weight set (weight_sets.py)."""
        return self._scheduler.weight_switches

    @property
    def steps(self) -> list[StepRecord]:
        """The last decode steps' shapes, oldest first (llamacpp_batch.STEP_RECORDS of them)."""
        return list(self._scheduler.steps)

    @property
    def moves(self) -> int:
        """Sequences moved to another slot to keep the busy slots consecutive."""
        return self._scheduler.moves

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
        prompt = await self.prompt_ids(request)
        self.check_fits(len(prompt), request.params.max_tokens)
        steps: asyncio.Queue[Step | BaseException] = asyncio.Queue()
        sequence = BatchSequence(
            prompt=prompt,
            params=request.params,
            deliver=steps.put_nowait,  # the scheduler calls it on this loop, once per step
            inbox=inbox_of(asyncio.get_running_loop()),
        )
        self._scheduler.submit(sequence)
        try:
            while True:
                item = await steps.get()
                if isinstance(item, BaseException):
                    raise item
                yield item
                # Asked for more: the reader has sent this one on (the next decode waits for
                # that after a first token, so the response starts on an uncontended core).
                sequence.first_taken.set()
                if item.finish_reason is not None:
                    return
        finally:
            sequence.first_taken.set()
            # Stop sequence hit, client gone or finished: the slot is freed before the next step.
            self._scheduler.cancel(sequence)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._scheduler.close)
        for context in (self._context, self._twin_context):
            if context is not None:
                context.close()
        for model in (self._model, self._twin):
            if model is not None:
                model.close()


def auto_max_batch(
    kv_bytes_per_token: int, context_length: int, memory_bytes: int | None = None
) -> int:
    """What `--max-batch` is when not given: as many sequences as a full context each takes in
    an eighth of the machine's memory, a power of two from 1 to AUTO_MAX_BATCH (16).

    llama-server's `-np` auto gives 4 slots sharing one context; ours each hold a whole context,
    so a long conversation never crowds out the others."""
    memory = memory_bytes or machine_memory()
    fits = int(memory * AUTO_KV_SHARE) // max(1, kv_bytes_per_token * context_length)
    batch = 1
    while batch * 2 <= min(fits, AUTO_MAX_BATCH):
        batch *= 2
    return batch


def auto_batch_and_sets(
    sets: tuple[str, ...],
    kv_bytes_per_token: int,
    context_length: int,
    *,
    may_drop_twin: bool,
    memory_bytes: int | None = None,
) -> tuple[int, tuple[str, ...]]:
    """`--max-batch` unset: the batch whose KV caches fit (auto_max_batch), one per weight
    set. A twin chosen by `--weight-type auto` is dropped if keeping it would cost slots: the
    bundled model keeps 16 slots and its twin on 24 GB, but 8 GB gives 8 slots on one set, not
    4 on two."""
    one = auto_max_batch(kv_bytes_per_token, context_length, memory_bytes)
    if len(sets) == 1:
        return one, sets
    every = auto_max_batch(kv_bytes_per_token * len(sets), context_length, memory_bytes)
    if every < one and may_drop_twin:
        log.info(
            "weights: the file's only (a second KV cache would leave %d slots, not %d)", every, one
        )
        return one, sets[:1]
    return every, sets


def machine_memory() -> int:
    """Physical memory, or the container's limit (cgroup v2) when that is lower."""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    try:
        limit = Path("/sys/fs/cgroup/memory.max").read_text().strip()
    except OSError:
        return memory
    return min(memory, int(limit)) if limit.isdigit() else memory
