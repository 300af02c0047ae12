"""The `openai` engine's cost: one of our servers called directly, the same server behind an
`--engine openai` front, and the front balancing over two servers. Same prompts and lengths."""

from __future__ import annotations

import asyncio
import sys
from typing import Any

from loadgen import run_level
from servers import Server, free_port


def _ours(threads: int, context_length: int, max_batch: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "simplechat", "serve", "--port", str(port),
               "--threads", str(threads), "--max-batch", str(max_batch),
               "--context-length", str(context_length), "--log-level", "warning"]  # fmt: skip
    return Server(f"simplechat:{port}", command, port)


def _front(upstreams: list[Server], max_batch: int) -> Server:
    port = free_port()
    command = [sys.executable, "-m", "simplechat", "serve", "--engine", "openai",
               "--port", str(port), "--log-level", "warning",
               # the front only forwards: let it admit what the upstreams together can take
               "--max-batch", str(max_batch * len(upstreams))]  # fmt: skip
    for upstream in upstreams:
        command += ["--upstream", upstream.url]
    return Server(f"front:{port}", command, port)


def front_overhead(
    *, threads: int, context_length: int, max_tokens: int, rounds: int, levels: list[int]
) -> dict[str, Any]:
    """Runs each setup at each client count, one after the other, in one run."""
    top = max(levels)
    # Two upstreams share this machine's cores: each gets half the threads.
    a = _ours(max(1, threads // 2), context_length, top)
    b = _ours(max(1, threads // 2), context_length, top)
    results: dict[str, Any] = {"threads_per_upstream": max(1, threads // 2), "setups": {}}
    try:
        one, two = _front([a], top), _front([a, b], top)
        try:
            for name, url in (("direct", a.url), ("front, 1 upstream", one.url),
                              ("front, 2 upstreams", two.url)):  # fmt: skip
                print(f"==> {name}", file=sys.stderr)
                asyncio.run(run_level(url, 1, 1, 8))  # warm-up
                results["setups"][name] = [
                    asyncio.run(run_level(url, level, rounds, max_tokens)) for level in levels
                ]
        finally:
            results["front_peak_rss_mib"] = one.stop()
            two.stop()
    finally:
        a.stop()
        b.stop()
    return results


def front_table(results: dict[str, Any]) -> str:
    setups = results["setups"]
    names = list(setups)
    head = "| clients | " + " | ".join(f"{n}: tok/s, TTFT p50/p99 ms" for n in names)
    head += " | front (1) ÷ direct | front (2) ÷ direct |"
    lines = [head, "|" + " --- |" * (head.count("|") - 1)]
    for i, direct in enumerate(setups["direct"]):
        rows = [setups[n][i] for n in names]
        cells = [
            f"{r['tokens_per_s']}, {r['ttft_p50_ms']}/{r['ttft_p99_ms']}"
            + (f" ({r['errors']} err)" if r["errors"] else "")
            for r in rows
        ]
        reference = direct["tokens_per_s"] or float("nan")
        cells += [f"{r['tokens_per_s'] / reference:.2f}×" for r in rows[1:]]
        lines.append(f"| {direct['concurrency']} | " + " | ".join(cells) + " |")
    lines.append("")
    lines.append(
        f"Upstreams: {results['threads_per_upstream']} threads each; front peak RSS "
        f"{results['front_peak_rss_mib']} MiB."
    )
    return "\n".join(lines)
