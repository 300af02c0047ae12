"""Long prompts (a long conversation's history) against llama-server, in alternating rounds.

Two measurements a round on each server, the order swapped every round:
- `ttft`: `clients` users at once each send a prompt of about `prompt_tokens` tokens that
  neither server has seen (nothing is cached) and wait for the first token;
- `beside`: `streams` users stream answers, and once every stream has its first token one more
  user sends such a prompt: the time that prompt waits for its first token, and the longest the
  running streams wait between two tokens meanwhile (what reading a long prompt in one step
  costs everyone else; chunked prefill bounds it).
"""

from __future__ import annotations

import asyncio
import statistics
import time
from typing import Any
from urllib.parse import urlsplit

from loadgen import percentile
from versus import Client, served_model

#: One note is about 24 tokens in Qwen2's and SmolLM2's tokenizers.
TOKENS_PER_NOTE = 24
COLOURS = ("red", "blue", "green", "white", "black", "yellow")
THINGS = ("key", "coin", "map", "pen", "ring", "shell", "stamp")


def long_prompt(tag: str, tokens: int) -> str:
    """About `tokens` tokens of notes, starting with `tag` so that no two prompts share more
    than the chat template's own text (neither server can reuse a cached prefix)."""
    notes = [
        f"Note {i}: the {COLOURS[i % 6]} box on shelf {i * 7 % 13} holds {i * 3} marbles "
        f"and a {THINGS[i % 7]}."
        for i in range(max(1, tokens // TOKENS_PER_NOTE))
    ]
    return f"({tag}) Read these notes, then summarize them.\n" + "\n".join(notes)


async def _ttft(url: str, clients: int, tokens: int, tag: str) -> list[float]:
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    model = await served_model(host, port)

    async def one(i: int) -> float:
        stream = await Client(host, port, "close").ask(long_prompt(f"{tag}-{i}", tokens), 4, model)
        if stream.error:
            print(f"    {tag}-{i} failed: {stream.error}", flush=True)
            return float("nan")
        return stream.ttft

    return list(await asyncio.gather(*(one(i) for i in range(clients))))


async def _beside(url: str, streams: int, tokens: int, answer_tokens: int, tag: str) -> dict:
    """`streams` answers streaming; a long prompt arrives once all have started."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    model = await served_model(host, port)
    gaps: list[float] = []
    started = asyncio.Event()
    first = 0

    async def stream(i: int) -> None:
        nonlocal first
        client = Client(host, port, "keep-alive")
        last = [0.0]

        def token_arrived() -> None:
            nonlocal first
            now = time.perf_counter()
            if last[0]:
                gaps.append(now - last[0])
            else:
                first += 1
                if first == streams:
                    started.set()
            last[0] = now

        await client.ask(f"({tag}-s{i}) Tell me a long story.", answer_tokens, model, token_arrived)
        if client.connection is not None:
            client.connection.close()

    async def long() -> float:
        await started.wait()
        answer = await Client(host, port, "close").ask(long_prompt(f"{tag}-l", tokens), 4, model)
        return answer.ttft

    ttft = (await asyncio.gather(long(), *(stream(i) for i in range(streams))))[0]
    assert ttft is not None
    return {"ttft_s": round(ttft, 3), "stream_gap_max_s": round(max(gaps, default=0.0), 3)}


def compare_long(
    urls: dict[str, str],
    *,
    baseline: str,
    levels: list[int],
    rounds: int,
    tokens: int,
    streams: int,
    answer_tokens: int,
) -> dict[str, Any]:
    """Alternating rounds; per server, level: pooled TTFT p50/p99 in ms; per server, the
    beside-streams TTFT and the streams' longest gap, median over rounds; ratios to baseline."""
    names = list(urls)
    ttft: dict[str, dict[int, list[float]]] = {n: {c: [] for c in levels} for n in names}
    beside: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            for clients in levels:
                tag = f"r{r}-{name}-{clients}"
                ttft[name][clients] += asyncio.run(_ttft(urls[name], clients, tokens, tag))
            if streams:
                run = _beside(urls[name], streams, tokens, answer_tokens, f"r{r}-{name}-b")
                beside[name].append(asyncio.run(run))
        print(f"    long prompts: round {r + 1}/{rounds} done", flush=True)
    return {
        "prompt_tokens": tokens,
        "streams": streams,
        "answer_tokens": answer_tokens,
        "rounds": rounds,
        "baseline": baseline,
        "raw": {"ttft_s": ttft, "beside": beside},
        "summary": summarize(ttft, beside, baseline),
    }


def summarize(
    ttft: dict[str, dict[Any, list[float]]],
    beside: dict[str, list[dict[str, float]]],
    baseline: str,
) -> dict[str, Any]:
    """Per server: TTFT p50/p99 by level (NaN: a failed request, counted as an error), the
    beside-streams figures' median over rounds, and the ratios to `baseline`. Also reads a
    stored file's `raw` (levels as strings)."""
    summary: dict[str, Any] = {}
    names = list(ttft)
    levels = list(ttft[baseline])
    for name in names:
        entry: dict[str, Any] = {}
        for clients in levels:
            times = [t for t in ttft[name][clients] if t == t]  # NaN: a failed request
            entry[f"ttft/{clients}"] = {
                "p50_ms": round(percentile(times, 50) * 1000, 1),
                "p99_ms": round(percentile(times, 99) * 1000, 1),
                "samples": len(times),
                "errors": len(ttft[name][clients]) - len(times),
            }
        if beside[name]:
            entry["beside"] = {
                k: statistics.median(b[k] for b in beside[name]) for k in beside[name][0]
            }
        summary[name] = entry
    for name in names:
        if name == baseline:
            continue
        ratios = {}
        for clients in levels:
            ours, theirs = summary[name][f"ttft/{clients}"], summary[baseline][f"ttft/{clients}"]
            ratios[f"ttft_p50/{clients}"] = round(ours["p50_ms"] / theirs["p50_ms"], 3)
            ratios[f"ttft_p99/{clients}"] = round(ours["p99_ms"] / theirs["p99_ms"], 3)
        summary[name]["ratios"] = ratios
    return summary


def long_table(results: dict[str, Any]) -> str:
    baseline = results["baseline"]
    levels = sorted(
        {int(k.split("/")[1]) for s in results["summary"].values() for k in s if "/" in k}
    )
    head = "| server | " + " | ".join(f"{c} at once: TTFT p50 / p99 ms" for c in levels)
    head += f" | beside {results['streams']} streams: TTFT s | streams' longest gap s |"
    lines = [head, "|" + " --- |" * (len(levels) + 3)]
    for name, s in results["summary"].items():
        cells = [f"{s[f'ttft/{c}']['p50_ms']} / {s[f'ttft/{c}']['p99_ms']}" for c in levels]
        if name != baseline:
            r = s["ratios"]
            cells = [
                f"{cell} ({r[f'ttft_p50/{c}']:.2f}× / {r[f'ttft_p99/{c}']:.2f}×)"
                for cell, c in zip(cells, levels, strict=True)
            ]
        b = s.get("beside", {})
        lines.append(
            f"| {name} | "
            + " | ".join(cells)
            + f" | {b.get('ttft_s', '-')} | {b.get('stream_gap_max_s', '-')} |"
        )
    return "\n".join(lines)
