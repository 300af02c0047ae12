"""Load time, memory and single-request decode speed of `simplechat serve`, for each engine.

Usage: .venv/bin/python bench/single_request.py [--engine llamacpp --engine transformers]
Starts a real server on 127.0.0.1, waits for /health, sends a few greedy requests through the
OpenAI endpoint, and prints a markdown table (peak RSS read from /proc).
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

PROMPT = "Write a short story about a robot who learns to paint."


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def rss_mib(pid: int, field: str) -> float:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def post(url: str, payload: dict[str, object]) -> dict[str, object]:
    request = urllib.request.Request(
        url, json.dumps(payload).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=600) as reply:
        body: dict[str, object] = json.loads(reply.read())
        return body


def measure(engine: str, max_tokens: int, runs: int, threads: int | None) -> dict[str, float]:
    port = free_port()
    args = [sys.executable, "-m", "simplechat", "serve", "--engine", engine, "--port", str(port)]
    if threads:
        args += ["--threads", str(threads)]
    started = time.perf_counter()
    server = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1)
                break
            except OSError:
                if server.poll() is not None:
                    raise RuntimeError(f"{engine} server exited") from None
                time.sleep(0.1)
        ready = time.perf_counter() - started
        rates = []
        for _ in range(runs):
            t0 = time.perf_counter()
            body = post(
                f"http://127.0.0.1:{port}/v1/chat/completions",
                {
                    "messages": [{"role": "user", "content": PROMPT}],
                    "max_tokens": max_tokens,
                    "temperature": 0,
                },
            )
            elapsed = time.perf_counter() - t0
            usage = body["usage"]
            assert isinstance(usage, dict)
            rates.append(usage["completion_tokens"] / elapsed)
        return {
            "ready_s": ready,
            "rss_mib": rss_mib(server.pid, "VmRSS"),
            "peak_rss_mib": rss_mib(server.pid, "VmHWM"),
            "tokens_per_s": sorted(rates)[len(rates) // 2],
        }
    finally:
        server.terminate()
        server.wait()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", action="append", help="repeatable; default: both")
    parser.add_argument("--max-tokens", type=int, default=128)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--threads", type=int, default=os.cpu_count())
    args = parser.parse_args()
    engines = args.engine or ["llamacpp", "transformers"]
    print(
        "| engine | start→healthy (s) | RSS (MiB) | peak RSS (MiB) "
        f"| tokens/s (median of {args.runs}) |"
    )
    print("| --- | --- | --- | --- | --- |")
    for engine in engines:
        r = measure(engine, args.max_tokens, args.runs, args.threads)
        print(
            f"| {engine} | {r['ready_s']:.1f} | {r['rss_mib']:.0f} | {r['peak_rss_mib']:.0f} "
            f"| {r['tokens_per_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
