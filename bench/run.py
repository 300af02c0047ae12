"""`make bench`: our server beside llama.cpp's llama-server and a course-style server, one run.

Same model file (the bundled SmolLM2-135M Q4_1 GGUF), same threads, same prompts and fixed
output lengths. Prints a markdown table with ratios against llama-server and writes
bench/results/<date>-<name>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import synthetic_model
from front import front_overhead, front_table
from loadgen import PROMPTS, chat_overhead, run_level
from long_prompts import compare_long, long_table
from servers import Server, free_port
from stack_streaming import stack_streaming, stack_table
from transformers_batching import transformers_batching, transformers_table
from versus import compare, versus_table

from simplechat.model_source import bundled_model_path

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def server_commands(
    args: argparse.Namespace, model: Path, llama_server: str | None
) -> dict[str, tuple[list[str], int]]:
    top = max(args.levels)
    ctx = args.context_length
    commands: dict[str, tuple[list[str], int]] = {}
    port = free_port()
    commands["simplechat"] = (
        [sys.executable, "-m", "simplechat", "serve", "--port", str(port),
         "--threads", str(args.threads), "--max-batch", str(top), "--context-length", str(ctx),
         "--log-level", "warning", *([] if args.prompt_cache else ["--no-prompt-cache"])],
        port,
    )  # fmt: skip
    if llama_server:
        port = free_port()
        commands["llama-server"] = (
            [llama_server, "-m", str(model), "--port", str(port), "--host", "127.0.0.1",
             "-t", str(args.threads), "-tb", str(args.threads), "-np", str(top),
             "-c", str(ctx * top), "--log-disable"],
            port,
        )  # fmt: skip
    port = free_port()
    commands["naive"] = (
        [sys.executable, str(HERE / "naive_server.py"), "--port", str(port),
         "--threads", str(args.threads), "--context-length", str(ctx)],
        port,
    )  # fmt: skip
    return commands


def raw_decode(model: Path, threads: int, max_tokens: int) -> dict[str, Any]:
    """(d) The engine's ceiling: llama-cpp-python decoding one stream in-process."""
    from llama_cpp import Llama

    llm = Llama(str(model), n_ctx=1024, n_threads=threads, n_threads_batch=threads, verbose=False)
    prompt = llm.tokenize(PROMPTS[0].encode(), add_bos=True)
    rates = []
    for _ in range(3):
        llm.reset()
        started = 0.0
        for count, _token in enumerate(llm.generate(prompt, temp=0.0)):
            if count == 0:
                started = time.perf_counter()  # decode only: the prompt is already evaluated
            if count >= max_tokens:
                break
        rates.append(max_tokens / (time.perf_counter() - started))
    llm.close()
    return {"tokens_per_s": round(sorted(rates)[1], 1)}


def build_llama_server() -> str | None:
    try:
        built = subprocess.run(
            [str(HERE / "build_llama_server.sh")], check=True, capture_output=True, text=True
        )
    except subprocess.CalledProcessError as exc:
        print(f"llama-server could not be built; left out.\n{exc.stderr[-2000:]}", file=sys.stderr)
        return None
    return built.stdout.strip().splitlines()[-1]


def table(results: dict[str, Any]) -> str:
    servers = results["servers"]
    names = list(servers)
    base = "llama-server" if "llama-server" in servers else None
    head = "| clients | " + " | ".join(f"{n} tok/s" for n in names)
    head += " | " + " | ".join(f"{n} TTFT p50/p99 ms" for n in names)
    head += " | " + " | ".join(f"{n} ITL p50/p99 ms" for n in names)
    if base:
        head += " | " + " | ".join(f"{n} ÷ llama-server" for n in names if n != base)
    lines = [head + " |", "|" + " --- |" * (head.count("|"))]
    for i, level in enumerate(servers[names[0]]["levels"]):
        rows = [servers[n]["levels"][i] for n in names]
        cells = [
            f"{r['tokens_per_s']}" + (f" ({r['errors']} err)" if r["errors"] else "") for r in rows
        ]
        cells += [f"{r['ttft_p50_ms']}/{r['ttft_p99_ms']}" for r in rows]
        cells += [f"{r['itl_p50_ms']}/{r['itl_p99_ms']}" for r in rows]
        if base:
            reference = servers[base]["levels"][i]["tokens_per_s"] or float("nan")
            cells += [
                f"{servers[n]['levels'][i]['tokens_per_s'] / reference:.2f}×"
                for n in names
                if n != base
            ]
        lines.append(f"| {level['concurrency']} | " + " | ".join(cells) + " |")
    rss = ", ".join(f"{n} {servers[n]['peak_rss_mib']} MiB" for n in names)
    lines.append("")
    health = ", ".join(
        f"{n} p50 {servers[n]['levels'][-1]['health_p50_ms']} ms / max "
        f"{servers[n]['levels'][-1]['health_max_ms']} ms"
        for n in names
    )
    lines.append(
        f"/health while serving {servers[names[0]]['levels'][-1]['concurrency']} clients: {health}."
    )
    lines.append(f"Peak RSS: {rss}. Raw in-process decode (one stream): "
                 f"{results['raw_decode']['tokens_per_s']} tok/s.")  # fmt: skip
    overhead = "; ".join(
        f"{o['concurrency']} clients: {o['requests_per_s']} req/s, p50 {o['p50_ms']} ms, "
        f"p99 {o['p99_ms']} ms, {o['errors']} errors" for o in results["chat_overhead"]
    )  # fmt: skip
    lines.append(f"HTTP overhead of /chat on the fake engine: {overhead}.")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--name", default="cpu-smollm2")
    parser.add_argument("--levels", type=int, nargs="+", default=[1, 2, 4, 8, 16])
    parser.add_argument("--rounds", type=int, default=2, help="requests per client per level")
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--threads", type=int, default=len(os.sched_getaffinity(0)))
    parser.add_argument("--context-length", type=int, default=1024)
    parser.add_argument("--no-llama-server", action="store_true")
    parser.add_argument(
        "--only",
        choices=["all", "engines", "versus", "long", "front", "transformers", "stack"],
        default="all",
        help="engines: the side-by-side comparison; versus: ours with its defaults against "
        "llama-server in alternating rounds, both client kinds; front: the openai engine's "
        "overhead; transformers: its continuous batching against one request at a time; "
        "stack: through the whole local stack, streaming time to first token against the "
        "buffered answer's time, in alternating rounds; long: long prompts' time to first "
        "token against llama-server's, and what they cost running streams",
    )
    parser.add_argument(
        "--model",
        default="bundled",
        help="versus and long: `bundled` (SmolLM2-135M), `synthetic` (Qwen2.5-1.5B's shape, "
        "random weights, Q4_K_M: bench/synthetic_model.py builds it once) or a GGUF path",
    )
    parser.add_argument("--long-rounds", type=int, default=2, help="rounds of --only long")
    parser.add_argument("--long-tokens", type=int, default=1500, help="a long prompt's tokens")
    parser.add_argument("--long-levels", type=int, nargs="+", default=[1, 8])
    parser.add_argument(
        "--long-streams",
        type=int,
        default=7,
        help="--only long: streams running when one more long prompt arrives (0: not measured)",
    )
    parser.add_argument("--versus-rounds", type=int, default=3, help="rounds of --only versus")
    parser.add_argument("--versus-max-tokens", type=int, default=128)
    parser.add_argument(
        "--versus-samples",
        type=int,
        default=8,
        help="--only versus: times to first token per level and round at least (clients at "
        "1-4 each ask several times, one after another)",
    )
    parser.add_argument(
        "--versus-questions",
        choices=["repeated", "new"],
        default="repeated",
        help="--only versus: the same 8 questions every round (after the first, both servers "
        "have each cached: the first token is one decode), or a question neither has seen in "
        "every request (only the chat template's text is shared: the first token waits for "
        "the rest of the prompt)",
    )
    parser.add_argument(
        "--versus-pause",
        type=float,
        default=0.5,
        help="--only versus: seconds a client waits between its answers (reading them)",
    )
    parser.add_argument(
        "--versus-also",
        action="append",
        default=[],
        metavar="FLAGS",
        help="--only versus: also ours started with these flags (e.g. '--weight-type q8_0'), "
        "measured in the same rounds; repeatable",
    )
    parser.add_argument("--stack-rounds", type=int, default=3, help="rounds of --only stack")
    parser.add_argument(
        "--stack-levels", type=int, nargs="+", default=[1, 8], help="users at once, --only stack"
    )
    parser.add_argument(
        "--stack-max-tokens", type=int, default=128, help="the stack's --default-max-tokens"
    )
    parser.add_argument(
        "--stack-requests",
        type=int,
        default=4,
        help="requests per level, mode and round of --only stack (at least one per user)",
    )
    parser.add_argument(
        "--stack-budget-s",
        type=float,
        default=300,
        help="--only stack: after its first round, no level starts after this many seconds",
    )
    parser.add_argument(
        "--no-prompt-cache",
        dest="prompt_cache",
        action="store_false",
        help="make both servers decode every prompt in full (default: both reuse shared prefixes)",
    )
    args = parser.parse_args()
    model = bundled_model_path()
    # The real-size model serves the versus and long measurements; the rest stay on the demo.
    served = {"bundled": model, "synthetic": None}.get(args.model, Path(args.model))
    if served is None:  # its tokenizer comes from the llama.cpp sources the server is built from
        build_llama_server()
        served = synthetic_model.build()
    results: dict[str, Any] = {
        "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "machine": {
            "cpus": os.cpu_count(),
            "processor": platform.processor() or platform.machine(),
        },
        "model": model.name,
        "served_model": served.name,
        "threads": args.threads,
        "max_tokens": args.max_tokens,
        "rounds": args.rounds,
        "prompt_cache": args.prompt_cache,
    }
    report = []
    if args.only in ("all", "engines"):
        compare_engines(args, model, results)
        report.append(table(results))
    if args.only in ("all", "versus"):
        results["versus"] = versus_defaults(args, served)
        if results["versus"]:
            report.append(versus_table(results["versus"]))
    if args.only in ("all", "long"):
        results["long_prompts"] = versus_defaults(args, served, long=True)
        if results["long_prompts"]:
            report.append(long_table(results["long_prompts"]))
    if args.only in ("all", "front"):
        results["openai_front"] = front_overhead(
            threads=args.threads,
            context_length=args.context_length,
            max_tokens=args.max_tokens,
            rounds=args.rounds,
            levels=[1, max(args.levels)] if len(args.levels) > 1 else args.levels,
        )
        report.append(front_table(results["openai_front"]))
    if args.only in ("all", "transformers"):
        results["transformers_batching"] = transformers_batching(
            threads=args.threads,
            max_tokens=args.max_tokens,
            rounds=args.rounds,
            levels=[n for n in args.levels if n <= 8],
        )
        report.append(transformers_table(results["transformers_batching"]))
    if args.only in ("all", "stack"):
        results["stack_streaming"] = stack_streaming(
            levels=args.stack_levels,
            rounds=args.stack_rounds,
            max_tokens=args.stack_max_tokens,
            requests=args.stack_requests,
            budget_s=args.stack_budget_s,
        )
        report.append(stack_table(results["stack_streaming"]))
    RESULTS.mkdir(exist_ok=True)
    suffix = "" if args.only == "all" else f"-{args.only}"
    path = RESULTS / f"{dt.date.today().isoformat()}-{args.name}{suffix}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print("\n\n".join(report))
    print(f"\nwritten: {path.relative_to(HERE.parent)}")


def versus_defaults(
    args: argparse.Namespace, model: Path, *, long: bool = False
) -> dict[str, Any] | None:
    """Ours as `simplechat serve` starts without flags (but the model), against llama-server
    with enough slots (`-np`) for the most clients and the same context per slot, in
    alternating rounds: the versus levels, or (`long`) the long prompts."""
    llama_server = build_llama_server()
    if llama_server is None:
        return None
    top, context = max(args.levels), 4096  # 4096: our default context per request
    if long:
        top = max(top, *args.long_levels, args.long_streams + 1)
    variants = {"simplechat": [], **{f"simplechat {f}": f.split() for f in args.versus_also}}
    servers: dict[str, Server] = {}
    rss: dict[str, float] = {}
    try:
        for name, flags in variants.items():
            port = free_port()
            ours = [sys.executable, "-m", "simplechat", "serve", "--port", str(port)]
            if model != bundled_model_path():
                ours += ["--model", str(model)]
            servers[name] = Server(name, [*ours, "--log-level", "warning", *flags], port)
        port = free_port()
        theirs = [llama_server, "-m", str(model), "--port", str(port), "--host", "127.0.0.1"]
        servers["llama-server"] = Server("llama-server", [*theirs,
                                         "-t", str(args.threads), "-tb", str(args.threads),
                                         "-np", str(top), "-c", str(context * top),
                                         "--log-disable"], port)  # fmt: skip
        print(f"==> {'long' if long else 'versus'}: {', '.join(servers)}, alternating", flush=True)
        urls = {name: server.url for name, server in servers.items()}
        if long:
            measured = compare_long(
                urls,
                baseline="llama-server",
                levels=args.long_levels,
                rounds=args.long_rounds,
                tokens=args.long_tokens,
                streams=args.long_streams,
                answer_tokens=args.versus_max_tokens,
            )
        else:
            measured = compare(
                urls,
                levels=args.levels,
                rounds=args.versus_rounds,
                max_tokens=args.versus_max_tokens,
                baseline="llama-server",
                samples=args.versus_samples,
                pause=args.versus_pause,
                new_questions=args.versus_questions == "new",
            )
    finally:
        for name, server in servers.items():
            rss[name] = server.stop()
    measured["peak_rss_mib"] = rss
    measured["model"] = model.name
    measured["context_per_slot"] = context
    measured["llama_server_slots"] = top
    return measured


def compare_engines(args: argparse.Namespace, model: Path, results: dict[str, Any]) -> None:
    """(a)-(d) side by side, plus the HTTP overhead of /chat on the fake engine."""
    llama_server = None if args.no_llama_server else build_llama_server()
    results["servers"] = {}
    for name, (command, port) in server_commands(args, model, llama_server).items():
        print(f"==> {name}", file=sys.stderr)
        server = Server(name, command, port)
        try:
            asyncio.run(run_level(server.url, 1, 1, 8))  # warm-up
            levels = []
            for level in args.levels:
                levels.append(
                    asyncio.run(
                        run_level(
                            server.url, level, args.rounds, args.max_tokens, args.prompt_cache
                        )
                    )
                )
                print(f"    {level} clients: {levels[-1]['tokens_per_s']} tok/s", file=sys.stderr)
        finally:
            rss = server.stop()
        results["servers"][name] = {"command": command, "levels": levels, "peak_rss_mib": rss}
    results["raw_decode"] = raw_decode(model, args.threads, args.max_tokens)
    port = free_port()
    # A queue deeper than the 32 clients: this measures HTTP cost, not admission control.
    fake = Server("fake", [sys.executable, "-m", "simplechat", "serve", "--engine", "fake",
                           "--port", str(port), "--log-level", "warning",
                           "--max-queue", "64"], port)  # fmt: skip
    try:
        results["chat_overhead"] = [
            asyncio.run(chat_overhead(fake.url, 1, 300)),
            asyncio.run(chat_overhead(fake.url, 32, 2000)),
        ]
    finally:
        fake.stop()


if __name__ == "__main__":
    main()
