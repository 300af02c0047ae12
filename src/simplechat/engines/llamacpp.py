"""The llama.cpp engine (llama-cpp-python) for GGUF files: the CPU default."""

from __future__ import annotations

import codecs
import logging
import os
import threading
from collections.abc import AsyncGenerator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from simplechat.engines.base import Engine, GenerationRequest, Message, Step
from simplechat.engines.chat_template import JinjaChatTemplate, render_plain
from simplechat.engines.threaded import iterate_in_thread

log = logging.getLogger(__name__)

#: Largest context we allocate unless told otherwise: KV cache memory grows with it.
DEFAULT_MAX_CONTEXT = 8192


def _trained_context(path: str) -> int:
    """The context length the model was trained with, read from the GGUF header only."""
    import llama_cpp
    from llama_cpp._internals import LlamaModel

    llama_cpp.llama_backend_init()
    params = llama_cpp.llama_model_default_params()
    params.vocab_only = True  # no weights, no context: just the header
    model = LlamaModel(path_model=path, params=params, verbose=False)
    try:
        meta = model.metadata()
        return int(meta.get(f"{meta.get('general.architecture', '')}.context_length", 0))
    finally:
        model.close()


class LlamaCppEngine(Engine):
    """One llama.cpp context; requests take turns on a single worker thread.

    llama.cpp contexts are not thread-safe, so decoding runs on one worker; the event
    loop only awaits tokens. The fast-serving work replaces the turn-taking with a
    shared multi-sequence batch behind the same `_decode`.
    """

    name = "llamacpp"

    def __init__(
        self,
        model_path: str | Path,
        *,
        model_name: str,
        context_length: int | None = None,
        threads: int | None = None,
        use_gpu: bool = True,
    ) -> None:
        from llama_cpp import Llama

        path = str(model_path)
        # llama-cpp-python defaults to half the CPUs (guessing hyperthreads); on the 2-core
        # machines we measured, using every core decodes 22% faster (bench/single_request.py).
        threads = threads or len(os.sched_getaffinity(0))
        if context_length is None:
            context_length = min(_trained_context(path) or DEFAULT_MAX_CONTEXT, DEFAULT_MAX_CONTEXT)
        self._llama = Llama(
            model_path=path,
            n_ctx=context_length,
            n_threads=threads,
            n_threads_batch=threads,
            n_gpu_layers=-1 if use_gpu else 0,  # only has effect in a GPU build of llama.cpp
            verbose=False,
        )
        self.model_name = model_name
        self.context_length = self._llama.n_ctx()
        self._eos_token = self._llama.token_eos()
        self._template = self._load_template()
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llamacpp")

    def _load_template(self) -> JinjaChatTemplate | None:
        meta = self._llama.metadata
        source = meta.get("tokenizer.chat_template")
        if not source:
            log.warning("model has no chat template; using a plain User:/Assistant: prompt")
            return None
        return JinjaChatTemplate(
            source,
            bos_token=self._token_text(self._llama.token_bos()),
            eos_token=self._token_text(self._eos_token),
        )

    def _token_text(self, token: int) -> str:
        if token < 0:
            return ""
        return self._llama.detokenize([token], special=True).decode("utf-8", errors="replace")

    def render_chat(self, messages: Sequence[Message]) -> str:
        if self._template is None:
            return render_plain(messages)
        return self._template.render(messages)

    def _tokenize(self, prompt: str) -> list[int]:
        return self._llama.tokenize(prompt.encode("utf-8"), add_bos=True, special=True)

    def count_tokens(self, prompt: str) -> int:
        return len(self._tokenize(prompt))

    async def _decode(self, request: GenerationRequest) -> AsyncGenerator[Step, None]:
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
        from llama_cpp import LLAMA_DEFAULT_SEED, llama_vocab_is_eog

        params = request.params
        tokens = self._tokenize(request.prompt)
        n_prompt = len(tokens)
        self.check_fits(n_prompt, params.max_tokens)
        self._llama.set_seed(LLAMA_DEFAULT_SEED if params.seed is None else params.seed)
        # Evaluate the whole prompt every time: reusing a cached prefix evaluates the rest in
        # a different batch shape, which changes the logits slightly and so greedy answers.
        self._llama.reset()
        # Token pieces can split a UTF-8 character; decode incrementally.
        utf8 = codecs.getincrementaldecoder("utf-8")(errors="replace")
        vocab = self._llama._model.vocab
        tokens_out = self._llama.generate(
            tokens, temp=params.temperature, top_p=params.top_p, repeat_penalty=1.0
        )
        for generated, token in enumerate(tokens_out, start=1):
            if cancel.is_set():
                return
            if llama_vocab_is_eog(vocab, token):
                yield Step(utf8.decode(b"", final=True), n_prompt, generated - 1, "stop")
                return
            text = utf8.decode(self._llama.detokenize([token]))
            if generated >= params.max_tokens:
                yield Step(text + utf8.decode(b"", final=True), n_prompt, generated, "length")
                return
            yield Step(text, n_prompt, generated)

    async def aclose(self) -> None:
        self._worker.shutdown(wait=True, cancel_futures=True)
        self._llama.close()
