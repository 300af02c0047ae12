"""The course's way of serving, for comparison: one generation at a time under a lock.

An OpenAI-style streaming /v1/chat/completions over llama-cpp-python's Llama, like the
notebooks students start from (one blocking generate per request). Benchmark use only.
"""

from __future__ import annotations

import argparse
import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse
from llama_cpp import Llama, LogitsProcessorList

from simplechat.model_source import bundled_model_path


def build_app(llm: Llama) -> FastAPI:
    app = FastAPI()
    lock = threading.Lock()  # the course server: requests wait for the one before them
    eos = llm.token_eos()

    def no_eos(_: Any, scores: np.ndarray) -> np.ndarray:
        scores[eos] = -np.inf
        return scores

    @app.get("/health")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> StreamingResponse:
        body = await request.json()

        def events() -> Iterator[str]:
            with lock:
                created, cid = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
                processors = LogitsProcessorList([no_eos]) if body.get("ignore_eos") else None
                n = 0
                parts: Iterator[Any] = llm.create_chat_completion(  # type: ignore[assignment]
                    messages=body["messages"],
                    max_tokens=body.get("max_tokens", 64),
                    temperature=body.get("temperature", 0.0),
                    stream=True,
                    logits_processor=processors,
                )
                for part in parts:
                    if part["choices"][0]["delta"].get("content"):
                        n += 1
                    chunk = {
                        "id": cid,
                        "object": "chat.completion.chunk",
                        "created": created,
                        "model": "naive",
                        "choices": part["choices"],
                    }
                    yield f"data: {json.dumps(chunk)}\n\n"
                usage = {"completion_tokens": n, "prompt_tokens": 0, "total_tokens": n}
                yield f"data: {json.dumps({'id': cid, 'choices': [], 'usage': usage})}\n\n"
                yield "data: [DONE]\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--context-length", type=int, default=1024)
    args = parser.parse_args()
    llm = Llama(
        str(bundled_model_path()), n_ctx=args.context_length, n_threads=args.threads,
        n_threads_batch=args.threads, verbose=False,
    )  # fmt: skip
    uvicorn.run(build_app(llm), host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
