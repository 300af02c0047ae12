"""Streaming against buffered answers through the whole local stack, as a browser sees them.

One `simplechat stack` (web UI, the local API Gateway at /api, the real gateway code, the bundled
model under /llm) runs on a free port on 127.0.0.1 for the whole bench, with the settings `make
run` gives it except the answer length (`--default-max-tokens`, which the gateway sends to the
model as MAX_TOKENS). Clients POST `/api/chat` with the body the web UI sends, as one new
HTTP/1.1 connection each with `Connection: close` (plain http.client, reading the event stream
line by line as it arrives; one thread per user):

- streaming (`Accept: text/event-stream`): time to first token = request sent → the first
  `{"delta"}` event with text; total = request sent → the `{"done"}` event;
- buffered (no such header): total = request sent → the whole JSON body read.

The ratio buffered total ÷ streaming TTFT is how much sooner the user sees words. Each round runs
every level (1 and 8 users) in both modes, the order of the modes swapped every round, so that
whatever drifts on the machine (other jobs, the prompt cache warming) hits both. The answers are
sampled as the app's defaults do (not greedy, no fixed length): their lengths are reported beside
the times.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from dataclasses import asdict, dataclass
from typing import Any

from loadgen import PROMPTS, percentile
from servers import Server, free_port, peak_rss_mib

MODES = ("streaming", "buffered")
#: One socket operation's limit: a stuck stack ends the bench instead of hanging it.
SOCKET_TIMEOUT_S = 300


@dataclass
class Sample:
    ttft: float = math.nan  # streaming only
    total: float = math.nan
    tokens: int = 0  # streaming: completion tokens (usage, else delta events); buffered: unknown
    chars: int = 0  # the answer's length in characters
    error: str = ""


def ask(port: int, prompt: str, streaming: bool) -> Sample:
    """One browser request: POST /api/chat, timed from the request sent (connection included)."""
    body = json.dumps({"message": prompt, "conversationHistory": []}).encode()
    headers = {"Content-Type": "application/json", "Connection": "close"}
    if streaming:
        headers["Accept"] = "text/event-stream"
    sample = Sample()
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=SOCKET_TIMEOUT_S)
    started = time.perf_counter()
    try:
        connection.request("POST", "/api/chat", body=body, headers=headers)
        response = connection.getresponse()
        if response.status != 200:
            sample.error = f"HTTP {response.status}"
            response.read()
        elif streaming:
            read_stream(response, sample, started)
        else:
            reply = json.loads(response.read())
            sample.total = time.perf_counter() - started
            if reply.get("success") is not True:
                sample.error = f"failed: {reply.get('error')}"
            sample.chars = len(reply.get("response") or "")
    except (OSError, http.client.HTTPException, ValueError) as exc:
        sample.error = type(exc).__name__
    finally:
        connection.close()
    return sample


def read_stream(response: http.client.HTTPResponse, sample: Sample, started: float) -> None:
    """Reads the SSE events as they arrive: `{"id"}`, `{"delta"}`s, one `{"done"}`."""
    data: list[bytes] = []
    deltas = 0
    while line := response.readline():
        line = line.rstrip(b"\r\n")
        if line.startswith(b"data:"):
            data.append(line[5:].removeprefix(b" "))
            continue
        if line or not data:  # a ":" keep-alive comment, another field, or a stray blank line
            continue
        event = json.loads(b"\n".join(data))
        data = []
        if event.get("delta"):
            if deltas == 0:
                sample.ttft = time.perf_counter() - started
            deltas += 1
        elif event.get("done"):
            sample.total = time.perf_counter() - started
            if event.get("success") is not True:
                sample.error = f"failed: {event.get('error')}"
            sample.chars = len(event.get("response") or "")
            usage = event.get("usage") or {}
            sample.tokens = usage.get("completion_tokens") or deltas
            return
    sample.error = "cut off"  # a stream without a done event (the contract's network error)


def run_level(port: int, users: int, mode: str, per_user: int) -> dict[str, Any]:
    """`users` at once (released together), each asking `per_user` prompts one after another."""
    streaming = mode == "streaming"
    barrier = threading.Barrier(users)
    samples: list[list[Sample]] = [[] for _ in range(users)]

    def user(index: int) -> None:
        with contextlib.suppress(threading.BrokenBarrierError):
            barrier.wait(timeout=60)  # all at once; a broken barrier (a thread died) goes on
        for k in range(per_user):
            prompt = PROMPTS[(index * per_user + k) % len(PROMPTS)]
            samples[index].append(ask(port, prompt, streaming))

    threads = [threading.Thread(target=user, args=(i,), daemon=True) for i in range(users)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {
        "wall_s": round(time.perf_counter() - started, 3),
        "samples": [
            {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in asdict(s).items()}
            for per in samples
            for s in per
        ],
    }


def _quantile(values: list[float], q: float) -> float:
    """The median as statistics has it (the rounds' medians are those too), else loadgen's."""
    if q == 50:
        return statistics.median(values) if values else math.nan
    return percentile(values, q)


def _ms(seconds: float) -> float | None:
    return None if math.isnan(seconds) else round(seconds * 1000, 1)


def _stats(values: list[float], per_round: list[list[float]]) -> dict[str, Any]:
    """Median and p90 over every sample, and the spread (min..max) of the rounds' medians."""
    medians = [statistics.median(r) for r in per_round if r]
    return {
        "p50_ms": _ms(_quantile(values, 50)),
        "p90_ms": _ms(_quantile(values, 90)),
        "round_p50_min_ms": _ms(min(medians, default=math.nan)),
        "round_p50_max_ms": _ms(max(medians, default=math.nan)),
    }


def _values(rounds: list[dict[str, Any]], key: str) -> tuple[list[float], list[list[float]]]:
    """`key` of the requests without an error (and with that figure): all, and round by round."""
    per_round = [
        [s[key] for s in r["samples"] if not s["error"] and s[key] is not None] for r in rounds
    ]
    return [x for r in per_round for x in r], per_round


def summarize(runs: dict[int, dict[str, list[dict[str, Any]]]]) -> dict[str, Any]:
    summary: dict[str, Any] = {}
    for users, modes in runs.items():
        ttft, ttft_rounds = _values(modes["streaming"], "ttft")
        stream_total, stream_rounds = _values(modes["streaming"], "total")
        buffered, buffered_rounds = _values(modes["buffered"], "total")
        ratios = [
            statistics.median(b) / statistics.median(t)
            for b, t in zip(buffered_rounds, ttft_rounds, strict=True)
            if b and t
        ]
        tokens, _ = _values(modes["streaming"], "tokens")
        chars = {mode: _values(modes[mode], "chars")[0] for mode in MODES}
        errors = {
            mode: [s["error"] for r in modes[mode] for s in r["samples"] if s["error"]]
            for mode in MODES
        }
        summary[str(users)] = {
            "users": users,
            "rounds": len(modes["streaming"]),
            "samples_per_mode": sum(len(r["samples"]) for r in modes["streaming"]),
            "streaming_ttft": _stats(ttft, ttft_rounds),
            "streaming_total": _stats(stream_total, stream_rounds),
            "buffered_total": _stats(buffered, buffered_rounds),
            # how much sooner the user sees words: per round, median ÷ median; then over rounds
            "buffered_total_over_ttft_median": round(statistics.median(ratios), 2)
            if ratios
            else None,
            "buffered_total_over_ttft_min": round(min(ratios), 2) if ratios else None,
            "buffered_total_over_ttft_max": round(max(ratios), 2) if ratios else None,
            # the pooled medians' ratio, and the p90s' (slow answers against slow first words)
            "buffered_p50_over_ttft_p50": _ratio(buffered, ttft, 50),
            "buffered_p90_over_ttft_p90": _ratio(buffered, ttft, 90),
            # what streaming costs on the whole answer (1.0: nothing)
            "streaming_total_over_buffered_total": _ratio(stream_total, buffered, 50),
            "streaming_tokens_mean": round(statistics.mean(tokens), 1) if tokens else None,
            "answer_chars_mean": {
                m: round(statistics.mean(c), 1) if c else None for m, c in chars.items()
            },
            "errors": errors,
        }
    return summary


def _ratio(a: list[float], b: list[float], q: float) -> float | None:
    if not a or not b:
        return None
    return round(_quantile(a, q) / _quantile(b, q), 2)


def stack_streaming(
    *, levels: list[int], rounds: int, max_tokens: int, requests: int, budget_s: float
) -> dict[str, Any]:
    """The bench: one stack for all of it, stopped (Ctrl-C) at the end whatever happens.

    `requests`: at least this many requests per level, mode and round (each user asks
    ceil(requests / users) in turn), so that one user's p90 has samples to come from.
    `budget_s`: after the first round, no level starts its pair of modes once the bench has run
    this long: on a machine busy with other work (another llama.cpp process above all), the
    model's threads slow down many times over."""
    port = free_port()
    command = [sys.executable, "-m", "simplechat", "stack", "--port", str(port),
               "--default-max-tokens", str(max_tokens), "--log-level", "warning"]  # fmt: skip
    per_user = {users: max(1, math.ceil(requests / users)) for users in levels}
    runs: dict[int, dict[str, list[dict[str, Any]]]] = {
        users: {mode: [] for mode in MODES} for users in levels
    }
    results: dict[str, Any] = {
        "command": command[1:],
        "levels": levels,
        "rounds": rounds,
        "rounds_done": 0,
        "budget_s": budget_s,
        "max_tokens": max_tokens,
        "requests_per_user": per_user,
        "client": "http.client, a new connection per request with Connection: close",
        "load_average_before": [round(x, 2) for x in os.getloadavg()],
        "rounds_s": [],
        "load_average_after_round": [],  # the 1-minute figure: how busy the machine was
    }
    print(f"==> stack: streaming and buffered /api/chat, {rounds} alternating rounds", flush=True)
    started = time.perf_counter()
    stack = Server("stack", command, port, health="/llm/health")
    try:
        for mode in MODES:  # warm-up: the model, the gateway's connections, the prompt cache
            warm = ask(port, PROMPTS[0], mode == "streaming")
            if warm.error:
                raise RuntimeError(f"stack warm-up ({mode}) failed: {warm.error}")
        over = False
        for r in range(rounds):
            round_started = time.perf_counter()
            order = MODES if r % 2 == 0 else MODES[::-1]
            for users in levels:
                # Checked before each level's pair (both modes, so each level stays balanced).
                over = r > 0 and time.perf_counter() - started > budget_s
                if over:
                    break
                for mode in order:
                    runs[users][mode].append(run_level(port, users, mode, per_user[users]))
            if over:
                print(f"    over the {budget_s:.0f} s budget: stopped in round {r + 1}")
                break
            results["rounds_done"] = r + 1
            results["rounds_s"].append(round(time.perf_counter() - round_started, 1))
            results["load_average_after_round"].append(round(os.getloadavg()[0], 2))
            print(f"    round {r + 1}/{rounds} done", flush=True)
    finally:
        results["peak_rss_mib"], results["stack_exit_code"] = stop(stack)
    results["load_average_after"] = [round(x, 2) for x in os.getloadavg()]
    results["bench_s"] = round(time.perf_counter() - started, 1)
    results["runs"] = {str(users): modes for users, modes in runs.items()}
    results["summary"] = summarize(runs)
    return results


def stop(stack: Server) -> tuple[float, int | None]:
    """Ctrl-C, as `make run` is stopped: the stack's own clean stop (exit 0). Not SIGTERM: on it
    uvicorn re-raises the signal after its shutdown, so the stack's cleanup never runs (143).
    Still running after a minute: servers.py's terminate, then kill."""
    if stack.process.poll() is not None:
        return math.nan, stack.process.returncode
    rss = peak_rss_mib(stack.process.pid)
    stack.process.send_signal(signal.SIGINT)
    try:
        stack.process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        stack.stop()
    return rss, stack.process.returncode


def _cell(stats: dict[str, Any], scale: float = 1.0, digits: int = 0) -> str:
    def show(value: float | None) -> str:
        return "–" if value is None else f"{value / scale:.{digits}f}"

    return (
        f"{show(stats['p50_ms'])} / {show(stats['p90_ms'])} "
        f"({show(stats['round_p50_min_ms'])}..{show(stats['round_p50_max_ms'])})"
    )


def stack_table(results: dict[str, Any]) -> str:
    lines = [
        "| users | streaming TTFT ms | streaming total s | buffered total s "
        "| buffered total ÷ streaming TTFT | streaming total ÷ buffered total "
        "| tokens / answer (streaming) | errors |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for s in results["summary"].values():
        errors = sum(len(e) for e in s["errors"].values())
        ratio = (
            "–"
            if s["buffered_total_over_ttft_median"] is None
            else f"{s['buffered_total_over_ttft_median']:.1f}× "
            f"({s['buffered_total_over_ttft_min']:.1f}..{s['buffered_total_over_ttft_max']:.1f})"
        )
        lines.append(
            f"| {s['users']} | {_cell(s['streaming_ttft'])} "
            f"| {_cell(s['streaming_total'], 1000, 2)} | {_cell(s['buffered_total'], 1000, 2)} "
            f"| {ratio} | {s['streaming_total_over_buffered_total']}× "
            f"| {s['streaming_tokens_mean']} | {errors} |"
        )
    done: Any = results["rounds_done"]
    if done < results["rounds"]:
        per_level = {s["users"]: s["rounds"] for s in results["summary"].values()}
        done = f"{per_level} (users: rounds; of {results['rounds']}, over the time budget)"
    lines.append("")
    lines.append(
        f"Through `simplechat stack` (/api → gateway → /llm), {done} alternating "
        f"rounds, answers up to {results['max_tokens']} tokens (sampled, app defaults); cells: "
        "p50 / p90 over all requests (min..max of the rounds' medians); the TTFT ratio is per "
        f"round, median (min..max). Requests per user per round: {results['requests_per_user']}. "
        f"Rounds took {results['rounds_s']} s; 1-minute load average before: "
        f"{results['load_average_before'][0]}, after each round: "
        f"{results['load_average_after_round']} (2 cores: over ~2, other work shares the CPU); "
        f"stack peak RSS {results['peak_rss_mib']} MiB, exit code {results['stack_exit_code']}."
    )
    return "\n".join(lines)
