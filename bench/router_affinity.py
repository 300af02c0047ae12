"""Session affinity through vLLM's router: a conversation's second turn, time to first token,
when the router keeps the conversation on one server (`consistent_hash` on X-Session-ID, so that
server's prompt cache holds the first turn) and when it does not (`round_robin`).

Two of our servers with the bundled model behind `vllm-router`, one run, both policies in turn.
Run with the vLLM venv's Python (`make bench-router`); writes
bench/results/<date>-router-affinity.json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))

from servers import Server, free_port

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
KEY = "bench-router-key-0123"
MODEL = "smol"
#: ~1,500 tokens of conversation before the second turn, as a long chat has.
OPENING = " ".join(
    f"Note {i}: the meeting about project {i % 7} moved to room {i % 11} on day {i % 5}."
    for i in range(90)
)


def our_server() -> Server:
    port = free_port()
    command = [str(ROOT / ".venv/bin/simplechat"), "serve", "--port", str(port),
               "--api-key", KEY, "--model-name", MODEL, "--max-batch", "2"]  # fmt: skip
    return Server("ours", command, port)


def router(workers: list[Server], policy: str) -> Server:
    port = free_port()
    command = [str(Path(sys.executable).parent / "vllm-router"), "--port", str(port),
               "--host", "127.0.0.1", "--policy", policy,
               "--worker-urls", *[w.url for w in workers],
               "--worker-startup-check-interval", "1", "--health-check-endpoint", "/health",
               "--prometheus-host", "127.0.0.1", "--prometheus-port", str(free_port())]  # fmt: skip
    return Server(f"router-{policy}", command, port)


def first_token_seconds(
    client: httpx.Client, url: str, messages: list[dict[str, str]], session: str
) -> tuple[float, str]:
    """Time to the first content chunk, and the whole answer."""
    started = time.perf_counter()
    first = None
    text = []
    with client.stream(
        "POST",
        url + "/v1/chat/completions",
        json={"model": MODEL, "messages": messages, "max_tokens": 16, "temperature": 0,
              "stream": True},
        headers={"Authorization": f"Bearer {KEY}", "X-Session-ID": session},
    ) as reply:  # fmt: skip
        reply.raise_for_status()
        for line in reply.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:])["choices"]
            if choices and choices[0]["delta"].get("content"):
                first = first if first is not None else time.perf_counter() - started
                text.append(choices[0]["delta"]["content"])
    return (first if first is not None else time.perf_counter() - started), "".join(text)


def second_turns(front: Server, conversations: int, tag: str) -> list[float]:
    times = []
    with httpx.Client(timeout=300) as client:
        for i in range(conversations):
            session = f"{tag}-conversation-{i}"
            history = [{"role": "user", "content": f"Conversation {i}. {OPENING} Summarise."}]
            _, answer = first_token_seconds(client, front.url, history, session)
            history += [{"role": "assistant", "content": answer},
                        {"role": "user", "content": "Which room is project 3 in?"}]  # fmt: skip
            seconds, _ = first_token_seconds(client, front.url, history, session)
            times.append(seconds)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--conversations", type=int, default=6)
    args = parser.parse_args()
    workers = [our_server(), our_server()]
    results: dict[str, Any] = {"conversations": args.conversations, "policies": {}}
    try:
        # Alternating rounds, so that a machine that slows down mid-run hurts both alike.
        for round_number in range(2):
            for policy in ("consistent_hash", "round_robin"):
                front = router(workers, policy)
                try:
                    ttft = second_turns(front, args.conversations, f"r{round_number}-{policy}")
                finally:
                    front.stop()
                results["policies"].setdefault(policy, []).extend(ttft)
    finally:
        for worker in workers:
            worker.stop()
    summary = {p: round(statistics.median(t) * 1000) for p, t in results["policies"].items()}
    results["median_second_turn_ttft_ms"] = summary
    results["machine"] = subprocess.run(["uname", "-srm"], capture_output=True, text=True).stdout
    out = HERE / "results" / f"{dt.date.today()}-router-affinity.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print("| policy | second turn, time to first token (median) |\n|---|---|")
    for policy, ms in summary.items():
        print(f"| {policy} | {ms} ms |")
    print(f"written: {out.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
