"""Where `simplechat serve`'s threads spend their time under load, sampled with py-spy.

Usage: .venv/bin/python bench/profile_server.py [--clients 16] [--seconds 18] [-- SERVE FLAGS]
Starts the server with its defaults (plus any flags after `--`), drives it with the versus
bench's streaming clients (greedy, 128 tokens, keep-alive), samples every thread with py-spy
(`--idle`, so a thread waiting counts too) and prints, per thread, the share of samples in each
innermost frame: e.g. how much of the batch thread is llama_decode and how much is Python.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from servers import Server, free_port
from versus import level

RATE_HZ = 250


def drive(url: str, clients: int, until: float) -> None:
    async def rounds() -> None:
        while time.monotonic() < until:
            await level(url, clients, "keep-alive", 128)

    asyncio.run(rounds())


def shares(raw: Path, top: int) -> str:
    """py-spy's raw output (`thread;frame;...;frame count` lines) as per-thread frame shares."""
    by_thread: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for line in raw.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        thread, *frames = stack.split(";")
        name = thread.split(": ", 1)[-1]
        by_thread[name][frames[-1] if frames else "?"] += int(count)
    lines = []
    for name, leaves in sorted(by_thread.items(), key=lambda kv: -kv[1].total()):
        if name.startswith("AnyIO worker") and len(leaves) == 1:
            continue  # idle pool threads (the tokenizer's), all of their samples in one wait
        total = leaves.total()
        lines.append(f"{name} ({total} samples)")
        lines += [f"  {n / total:6.1%}  {frame}" for frame, n in leaves.most_common(top)]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=18)
    parser.add_argument("--top", type=int, default=6, help="frames shown per thread")
    parser.add_argument("serve_flags", nargs="*", help="after --: flags for simplechat serve")
    args = parser.parse_args()
    port = free_port()
    command = [sys.executable, "-m", "simplechat", "serve", "--port", str(port)]
    server = Server("simplechat", [*command, "--log-level", "warning", *args.serve_flags], port)
    try:
        asyncio.run(level(server.url, args.clients, "keep-alive", 16))  # warm-up
        load = threading.Thread(
            target=drive, args=(server.url, args.clients, time.monotonic() + args.seconds + 3)
        )
        load.start()
        time.sleep(1)  # into the steady state
        with tempfile.TemporaryDirectory() as folder:
            raw = Path(folder) / "profile.txt"
            py_spy = Path(sys.executable).with_name("py-spy")
            subprocess.run(
                [str(py_spy), "record", "--pid", str(server.process.pid), "--rate",
                 str(RATE_HZ), "--duration", str(int(args.seconds)), "--format", "raw",
                 "--threads", "--idle", "--nonblocking", "-o", str(raw)],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            )  # fmt: skip
            load.join()
            print(f"{args.clients} clients, {args.seconds:.0f} s at {RATE_HZ} Hz:")
            print(shares(raw, args.top))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
