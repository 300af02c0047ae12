"""Our server against llama-server, with the clients users have, in alternating rounds.

Both servers run at once (an idle one costs nothing) on the same model and threads, each with
the settings a user gets: ours with no batching flags at all, llama-server with `-np` set to the
most clients measured. Each round measures every level (1..16 clients) and both client kinds —
`close` (a new connection per request with `Connection: close`, as Python's urllib sends it, so
the seed's Lambda) and `keep-alive` — on one server and then the other, the order swapped every
round, so that whatever drifts on the machine hits both. The report gives, per level and kind,
the median ratio over the rounds and its spread (min..max).

Times to first token are pooled over the rounds, and each level gives at least `samples` of
them a round: at 1, 2 and 4 clients each client asks several times, pausing between answers as
a person reading them does (so a request finds the server idle, as a lone user's does). One
request a round made the p99 at 1 client a single sample.

The client is a plain asyncio socket reader that parses chunked SSE itself: httpx costs more
CPU per token than the servers do, and on two shared cores the client must not set the pace.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from loadgen import PROMPTS, percentile

KINDS = ("close", "keep-alive")


@dataclass
class Stream:
    ttft: float = 0.0
    tokens: int = 0
    error: str = ""


@dataclass
class Connection:
    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter

    @classmethod
    async def open(cls, host: str, port: int) -> Connection:
        reader, writer = await asyncio.open_connection(host, port)
        return cls(reader, writer)

    def close(self) -> None:
        self.writer.close()


@dataclass
class Client:
    """One user: requests one after another, on one connection (keep-alive) or a new one each."""

    host: str
    port: int
    kind: str
    connection: Connection | None = None
    streams: list[Stream] = field(default_factory=list)

    async def ask(
        self,
        prompt: str,
        max_tokens: int,
        model: str,
        on_token: Callable[[], None] | None = None,
    ) -> Stream:
        body = json.dumps(
            {
                "model": model,
                "messages": [{"role": "user", "content": prompt}],
                "max_tokens": max_tokens,
                "temperature": 0,
                "stream": True,
                "ignore_eos": True,  # fixed lengths: both servers do the same work
            }
        ).encode()
        close = self.kind == "close"
        head = (
            f"POST /v1/chat/completions HTTP/1.1\r\nHost: {self.host}:{self.port}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
            + ("Connection: close\r\n" if close else "")
            + "\r\n"
        ).encode()
        if self.connection is not None and self.connection.reader.at_eof():
            self.connection.close()  # the server closed it after the last answer
            self.connection = None
        reused = self.connection is not None
        if self.connection is None:
            self.connection = await Connection.open(self.host, self.port)
        stream = Stream()
        started = time.perf_counter()
        try:
            try:
                self.connection.writer.write(head + body)
                await read_sse(self.connection.reader, stream, started, on_token)
            except (OSError, asyncio.IncompleteReadError) as exc:
                # A kept connection the server closed as the request went out: an HTTP client
                # opens a new one and sends it again (llama-server announces keep-alive, yet
                # closes after a streamed answer).
                if not reused or stream.tokens or not _before_the_answer(exc):
                    raise
                self.connection.close()
                self.connection = await Connection.open(self.host, self.port)
                started = time.perf_counter()
                self.connection.writer.write(head + body)
                await read_sse(self.connection.reader, stream, started, on_token)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            stream.error = f"{type(exc).__name__}: {exc}"[:200]  # a refusal's status line too
            close = True
        if close:
            self.connection.close()
            self.connection = None
        self.streams.append(stream)
        return stream


def _before_the_answer(exc: BaseException) -> bool:
    return not isinstance(exc, asyncio.IncompleteReadError) or not exc.partial


async def read_sse(
    reader: asyncio.StreamReader,
    stream: Stream,
    started: float,
    on_token: Callable[[], None] | None = None,
) -> None:
    """Reads one chunked SSE response, counting content deltas (`on_token` is called at each);
    TTFT at the first one."""
    status = await reader.readuntil(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.1 200"):
        raise ValueError(status.split(b"\r\n", 1)[0].decode())
    buffer = b""
    while True:
        size = int((await reader.readuntil(b"\r\n")).strip(), 16)
        if size == 0:
            await reader.readuntil(b"\r\n")
            return
        buffer += (await reader.readexactly(size + 2))[:-2]  # the chunk, less its CRLF
        *events, buffer = buffer.split(b"\n\n")
        for raw in events:
            lines = [line for line in raw.split(b"\n") if line.startswith(b"data:")]
            if not lines:
                continue  # a comment (llama-server keeps a long prompt's stream alive with them)
            data = lines[-1].removeprefix(b"data:").strip()
            if data == b"[DONE]":
                continue
            choices = json.loads(data).get("choices") or []
            if choices and (choices[0].get("delta") or {}).get("content"):
                if stream.tokens == 0:
                    stream.ttft = time.perf_counter() - started
                stream.tokens += 1
                if on_token is not None:
                    on_token()


async def served_model(host: str, port: int) -> str:
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(f"GET /v1/models HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n".encode())
    reply = await reader.read()
    writer.close()
    body = reply.split(b"\r\n\r\n", 1)[1]
    if b"\r\n" in body.split(b"{", 1)[0]:  # chunked: the JSON is between the size lines
        body = b"{" + body.split(b"{", 1)[1].rsplit(b"}", 1)[0] + b"}"
    return str(json.loads(body)["data"][0]["id"])


def requests_per_client(clients: int, samples: int) -> int:
    """Enough requests from each client that a level has at least `samples` times to first
    token: one each from 8 clients, several from 1 or 2 (where one request a round made the
    p99 a single sample)."""
    return max(1, -(-samples // clients))


async def level(
    url: str,
    clients: int,
    kind: str,
    max_tokens: int,
    *,
    requests: int = 1,
    pause: float = 0.0,
    tag: str = "",
) -> dict[str, Any]:
    """`clients` users at once, each asking `requests` times with a `pause` between (reading
    the answer); aggregate tokens/s over the time spent answering, and every time to first
    token. With a `tag`, every question is one neither server has seen: it starts with the tag
    and its number, so only the chat template's own text is shared with earlier prompts."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    model = await served_model(host, port)
    users = [Client(host, port, kind) for _ in range(clients)]
    paused = 0.0

    async def user_loop(index: int, user: Client) -> list[Stream]:
        nonlocal paused
        streams = []
        for r in range(requests):
            if r:
                await asyncio.sleep(pause)
                paused += pause / clients  # every client pauses alike: the level's idle time
            prompt = PROMPTS[(index + r * clients) % len(PROMPTS)]
            if tag:
                prompt = f"({tag}-{index}-{r}) {prompt}"
            streams.append(await user.ask(prompt, max_tokens, model))
        return streams

    started = time.perf_counter()
    per_user = await asyncio.gather(*(user_loop(i, u) for i, u in enumerate(users)))
    wall = time.perf_counter() - started - paused
    for user in users:
        if user.connection is not None:
            user.connection.close()
    streams = [s for ss in per_user for s in ss]
    ok = [s for s in streams if not s.error]
    return {
        "tokens_per_s": round(sum(s.tokens for s in ok) / wall, 1),
        "ttft_p50_ms": round(percentile([s.ttft for s in ok], 50) * 1000, 1),
        "ttft_p99_ms": round(percentile([s.ttft for s in ok], 99) * 1000, 1),
        "ttft_ms": [round(s.ttft * 1000, 2) for s in ok],
        "requests": len(streams),
        "errors": len(streams) - len(ok),
    }


def compare(
    urls: dict[str, str],
    *,
    levels: list[int],
    rounds: int,
    max_tokens: int,
    baseline: str,
    samples: int = 1,
    pause: float = 0.0,
    new_questions: bool = False,
) -> dict[str, Any]:
    """Alternating rounds over every level and kind; raw figures and the ratios to `baseline`.
    Times to first token are pooled over the rounds (`samples` or more a level and round)."""
    names = list(urls)
    runs: dict[str, dict[str, dict[int, list[dict[str, Any]]]]] = {
        n: {k: {c: [] for c in levels} for k in KINDS} for n in names
    }
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for clients in levels:
            requests = requests_per_client(clients, samples)
            for kind in KINDS:
                for name in order:
                    tag = f"round {r + 1} {kind}" if new_questions else ""
                    result = asyncio.run(
                        level(
                            urls[name],
                            clients,
                            kind,
                            max_tokens,
                            requests=requests,
                            pause=pause,
                            tag=tag,
                        )
                    )
                    runs[name][kind][clients].append(result)
        print(f"    round {r + 1}/{rounds} done", flush=True)
    return {
        "runs": runs,
        "summary": summarize(runs, baseline),
        "baseline": baseline,
        "samples": samples,
        "pause_s": pause,
        "questions": "new" if new_questions else "repeated",
    }


def summarize(runs: dict[str, Any], baseline: str) -> dict[str, Any]:
    """Per server, kind and level: throughput ratios to `baseline` by round (median, min, max)
    and the times to first token pooled over the rounds. Also reads a stored file's `runs`
    (levels as strings), so tables follow the current definition of a percentile."""
    summary: dict[str, Any] = {}
    for name in runs:
        if name == baseline:
            continue
        for kind in runs[name]:
            for clients in runs[name][kind]:
                ours, theirs = runs[name][kind][clients], runs[baseline][kind][clients]
                ratios = [
                    a["tokens_per_s"] / b["tokens_per_s"]
                    for a, b in zip(ours, theirs, strict=True)
                    if b["tokens_per_s"]
                ]
                ttft = [
                    a["ttft_p99_ms"] / b["ttft_p99_ms"]
                    for a, b in zip(ours, theirs, strict=True)
                    if b["ttft_p99_ms"]
                ]
                pooled = {q: _pooled(ours, q) / _pooled(theirs, q) for q in (50, 90, 99)}
                summary[f"{name}/{kind}/{clients}"] = {
                    "tokens_per_s": statistics.median(a["tokens_per_s"] for a in ours),
                    "baseline_tokens_per_s": statistics.median(b["tokens_per_s"] for b in theirs),
                    "ratio_median": round(statistics.median(ratios), 3),
                    "ratio_min": round(min(ratios), 3),
                    "ratio_max": round(max(ratios), 3),
                    "ttft_p99_ratio_median": round(statistics.median(ttft), 3),
                    "ttft_samples": sum(len(a["ttft_ms"]) for a in ours),
                    "ttft_pooled_ms": {q: _pooled(ours, q) for q in (50, 90, 99)},
                    "baseline_ttft_pooled_ms": {q: _pooled(theirs, q) for q in (50, 90, 99)},
                    **{f"ttft_p{q}_pooled_ratio": round(r, 3) for q, r in pooled.items()},
                    "errors": sum(a["errors"] for a in ours) + sum(b["errors"] for b in theirs),
                }
    return summary


def _pooled(results: list[dict[str, Any]], q: float) -> float:
    """The q-th percentile of the times to first token of every round, in ms."""
    return round(percentile([t for r in results for t in r["ttft_ms"]], q), 2)


def versus_table(results: dict[str, Any]) -> str:
    baseline = results["baseline"]
    lines = [
        f"| server / clients | kind | tok/s | {baseline} tok/s | ratio median (min..max) "
        f"| TTFT p50 / p99 ms (n) | {baseline} p50 / p99 ms | TTFT p50 / p99 ratio |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for key, s in results["summary"].items():
        name, kind, clients = key.split("/")
        ours, theirs = s["ttft_pooled_ms"], s["baseline_ttft_pooled_ms"]
        lines.append(
            f"| {name} / {clients} | {kind} | {s['tokens_per_s']} | {s['baseline_tokens_per_s']} "
            f"| {s['ratio_median']:.2f}× ({s['ratio_min']:.2f}..{s['ratio_max']:.2f}) "
            f"| {ours[50]} / {ours[99]} ({s['ttft_samples']}) | {theirs[50]} / {theirs[99]} "
            f"| {s['ttft_p50_pooled_ratio']:.2f}× / {s['ttft_p99_pooled_ratio']:.2f}× |"
        )
    return "\n".join(lines)
