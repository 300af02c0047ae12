"""The transformers engine one request at a time (`--max-batch 1`, our own decode loop) beside
transformers' continuous batching (`--max-batch 8`), same model (the bundled GGUF, dequantized)."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from loadgen import run_level
from servers import Server, free_port


def _server(max_batch: int, threads: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "simplechat", "serve", "--engine", "transformers",
               "--port", str(port), "--threads", str(threads), "--max-batch", str(max_batch),
               "--context-length", "2048", "--log-level", "warning"]  # fmt: skip
    return Server(f"transformers --max-batch {max_batch}", command, port)


def transformers_batching(
    *, threads: int, max_tokens: int, rounds: int, levels: list[int]
) -> dict[str, Any]:
    results: dict[str, Any] = {}
    for max_batch in (1, 8):
        server = _server(max_batch, threads)
        print(f"==> {server.name}", file=sys.stderr)
        try:
            asyncio.run(run_level(server.url, 1, 1, 8))  # warm-up
            runs = [asyncio.run(run_level(server.url, n, rounds, max_tokens)) for n in levels]
        finally:
            rss = server.stop()
        results[server.name] = {"levels": runs, "peak_rss_mib": rss}
    return results


def transformers_table(results: dict[str, Any]) -> str:
    names = list(results)
    head = "| clients | " + " | ".join(f"{n}: tok/s, TTFT p50/p99 ms" for n in names)
    head += " | batching ÷ one at a time |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for i, one in enumerate(results[names[0]]["levels"]):
        rows = [results[n]["levels"][i] for n in names]
        cells = [
            f"{r['tokens_per_s']}, {r['ttft_p50_ms']}/{r['ttft_p99_ms']}"
            + (f" ({r['errors']} err)" if r["errors"] else "")
            for r in rows
        ]
        cells.append(f"{rows[1]['tokens_per_s'] / (one['tokens_per_s'] or float('nan')):.2f}×")
        lines.append(f"| {one['concurrency']} | " + " | ".join(cells) + " |")
    rss = ", ".join(f"{n} {results[n]['peak_rss_mib']} MiB" for n in names)
    lines += ["", f"Peak RSS: {rss}."]
    return "\n".join(lines)
