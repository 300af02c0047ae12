"""Load generator: N concurrent clients streaming /v1/chat/completions; latency and throughput."""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

import httpx

PROMPTS = [
    "Write a short story about a robot who learns to paint.",
    "Explain how a rainbow forms.",
    "Describe a walk through a forest in autumn.",
    "What are the benefits of learning a second language?",
    "Tell me about the history of the bicycle.",
    "How does a refrigerator keep food cold?",
    "Write a letter to a friend about a trip to the sea.",
    "Explain why the sky is blue.",
]


@dataclass
class RequestResult:
    ttft: float = 0.0
    itls: list[float] = field(default_factory=list)
    e2e: float = 0.0
    tokens: int = 0
    error: str = ""


def percentile(values: list[float], q: float) -> float:
    """The q-th percentile, interpolated between the two nearest values (numpy's default).
    Nearest-rank would jump between clusters: 16 times to first token from two rounds, eight
    cold and eight warm, have a nearest-rank p50 that is either round's, by one sample."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    position = min(len(ordered) - 1, max(0.0, q / 100 * (len(ordered) - 1)))
    below = int(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


async def served_model(client: httpx.AsyncClient, base_url: str) -> str:
    """The id the server lists (ours insists on it, as OpenAI does); "bench" if it lists none."""
    try:
        response = await client.get(base_url.rstrip("/") + "/v1/models")
        model: str = response.json()["data"][0]["id"]
        return model
    except (httpx.HTTPError, ValueError, KeyError, IndexError):
        return "bench"


async def one_request(
    client: httpx.AsyncClient,
    url: str,
    model: str,
    prompt: str,
    max_tokens: int,
    cache_prompt: bool = True,
) -> RequestResult:
    result = RequestResult()
    payload: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": prompt}],
        "max_tokens": max_tokens,
        "temperature": 0,
        "stream": True,
        "stream_options": {"include_usage": True},
        "ignore_eos": True,  # fixed output lengths, so every server does the same work
        # llama-server's prompt cache switch (ours is a server flag; run.py sets both alike)
        "cache_prompt": cache_prompt,
    }
    started = time.perf_counter()
    last = started
    events = 0
    usage_tokens = 0
    try:
        async with client.stream("POST", url, json=payload) as response:
            if response.status_code != 200:
                result.error = f"HTTP {response.status_code}"
                return result
            async for line in response.aiter_lines():
                if not line.startswith("data: "):
                    continue
                data = line[6:]
                if data == "[DONE]":
                    break
                chunk = json.loads(data)
                if chunk.get("usage"):
                    usage_tokens = chunk["usage"].get("completion_tokens", 0)
                choices = chunk.get("choices") or []
                if choices and (choices[0].get("delta") or {}).get("content"):
                    now = time.perf_counter()
                    if events == 0:
                        result.ttft = now - started
                    else:
                        result.itls.append(now - last)
                    last = now
                    events += 1
    except httpx.HTTPError as exc:
        result.error = type(exc).__name__
        return result
    result.e2e = time.perf_counter() - started
    result.tokens = usage_tokens or events
    return result


async def run_level(
    base_url: str, concurrency: int, rounds: int, max_tokens: int, cache_prompt: bool = True
) -> dict[str, Any]:
    """`concurrency` clients, each sending `rounds` requests back to back."""
    url = base_url.rstrip("/") + "/v1/chat/completions"
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(timeout=600, limits=limits) as client:
        model = await served_model(client, base_url)

        async def client_loop(index: int) -> list[RequestResult]:
            results = []
            for r in range(rounds):
                prompt = PROMPTS[(index * rounds + r) % len(PROMPTS)]
                results.append(
                    await one_request(client, url, model, prompt, max_tokens, cache_prompt)
                )
            return results

        health_ms: list[float] = []
        done = asyncio.Event()

        async def probe_health() -> None:
            """Is the server still responsive while it works? One /health every 100 ms."""
            async with httpx.AsyncClient(timeout=30) as prober:
                while not done.is_set():
                    t0 = time.perf_counter()
                    await prober.get(base_url.rstrip("/") + "/health")
                    health_ms.append((time.perf_counter() - t0) * 1000)
                    await asyncio.sleep(0.1)

        prober = asyncio.create_task(probe_health())
        started = time.perf_counter()
        per_client = await asyncio.gather(*(client_loop(i) for i in range(concurrency)))
        wall = time.perf_counter() - started
        done.set()
        await prober
    results = [r for rs in per_client for r in rs]
    ok = [r for r in results if not r.error]
    itls = [x for r in ok for x in r.itls]
    tokens = sum(r.tokens for r in ok)
    return {
        "concurrency": concurrency,
        "requests": len(results),
        "errors": len(results) - len(ok),
        "output_tokens": tokens,
        "wall_s": round(wall, 3),
        "tokens_per_s": round(tokens / wall, 1) if wall else 0.0,
        "ttft_p50_ms": round(percentile([r.ttft for r in ok], 50) * 1000, 1),
        "ttft_p99_ms": round(percentile([r.ttft for r in ok], 99) * 1000, 1),
        "itl_p50_ms": round(percentile(itls, 50) * 1000, 2),
        "itl_p99_ms": round(percentile(itls, 99) * 1000, 2),
        "e2e_p50_s": round(percentile([r.e2e for r in ok], 50), 3),
        "e2e_p99_s": round(percentile([r.e2e for r in ok], 99), 3),
        "health_p50_ms": round(percentile(health_ms, 50), 2),
        "health_max_ms": round(max(health_ms, default=float("nan")), 2),
        "mean_tokens_per_request": round(statistics.mean([r.tokens for r in ok]), 1) if ok else 0,
    }


async def chat_overhead(base_url: str, concurrency: int, requests: int) -> dict[str, Any]:
    """Requests/s and latency of the seed's /chat (run against the fake engine: HTTP cost only).

    The client speaks HTTP/1.1 over plain keep-alive sockets: httpx costs more CPU per request
    than our server does, and on two shared cores it, not the server, set the pace (~440
    requests/s at 32 clients with httpx, against ~400 for a bare FastAPI app)."""
    parts = urlsplit(base_url)
    body = json.dumps({"message": "hello there", "conversationHistory": []}).encode()
    request = (
        f"POST /chat HTTP/1.1\r\nHost: {parts.netloc}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    latencies: list[float] = []
    errors = 0
    left = requests

    async def worker() -> None:
        nonlocal errors, left
        reader, writer = await asyncio.open_connection(parts.hostname, parts.port)
        try:
            while left > 0:
                left -= 1
                t0 = time.perf_counter()
                writer.write(request)
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                await reader.readexactly(length)
                latencies.append(time.perf_counter() - t0)
                errors += not head.startswith(b"HTTP/1.1 200")
        finally:
            writer.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall = time.perf_counter() - started
    return {
        "concurrency": concurrency,
        "requests": requests,
        "errors": errors,
        "requests_per_s": round(requests / wall, 1),
        "p50_ms": round(percentile(latencies, 50) * 1000, 2),
        "p99_ms": round(percentile(latencies, 99) * 1000, 2),
    }
