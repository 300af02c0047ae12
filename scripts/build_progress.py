#!/usr/bin/env python3
"""Turns a compiler's build log (ninja's `[N/M]`, make's `[ NN%]`) into progress a person can read.

Reads the log on stdin and shows one line: updated in place on a terminal, printed every few
seconds otherwise (CI logs, `make run | tee`). Lines worth keeping (pip's "Successfully
installed", errors) pass through. Standard library only: it runs before any virtualenv exists.

    pip install -v llama-cpp-python | scripts/build_progress.py "compiling llama.cpp"
"""

from __future__ import annotations

import argparse
import re
import sys
import time
from collections.abc import Callable, Iterable
from typing import TextIO

NINJA = re.compile(r"^\s*\[(\d+)/(\d+)\]\s")  # [75/193] /usr/bin/g++ ...
MAKE = re.compile(r"^\s*\[\s*(\d+)%\]\s")  # [ 39%] Building CXX object ...
KEEP = re.compile(r"Successfully installed|Using cached|error:|Error |FAILED:|CMake Error")


def parse(line: str) -> tuple[int, int] | None:
    """(done, total) from a ninja or make progress line; make's is a percentage (of 100)."""
    if match := NINJA.match(line):
        return int(match[1]), int(match[2])
    if match := MAKE.match(line):
        return int(match[1]), 100
    return None


def describe(label: str, done: int, total: int, elapsed: float) -> str:
    minutes, seconds = divmod(int(elapsed), 60)
    steps = f"{done}/{total}, " if total != 100 else ""
    return f"    {label}: {steps}{100 * done // max(total, 1)}% after {minutes}m{seconds:02d}s"


def follow(
    lines: Iterable[str],
    out: TextIO,
    *,
    label: str,
    in_place: bool,
    every: float,
    clock: Callable[[], float] = time.monotonic,
) -> None:
    """Writes progress for `lines` to `out`: in place, or at most one line per `every` seconds."""
    started = last_shown = clock()
    latest: str | None = None
    shown: str | None = None
    for line in lines:
        progress = parse(line)
        if progress is None:
            if KEEP.search(line):
                if in_place and shown:
                    out.write("\n")
                    shown = None
                out.write(line.rstrip("\n") + "\n")
                out.flush()
            continue
        latest = describe(label, *progress, clock() - started)
        now = clock()
        if in_place:
            out.write("\r" + latest.ljust(len(shown or "")))
            shown = latest
        elif now - last_shown >= every:
            out.write(latest + "\n")
            shown, last_shown = latest, now
        out.flush()
    if in_place and shown:
        out.write("\n")
    elif latest is not None and latest != shown:  # the last step is always reported
        out.write(latest + "\n")
    out.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("label", help="what is being built, e.g. 'compiling llama.cpp'")
    parser.add_argument("--every", type=float, default=10.0, help="seconds between lines (10)")
    parser.add_argument(
        "--in-place", choices=["auto", "yes", "no"], default="auto", help="auto: on a terminal"
    )
    args = parser.parse_args()
    in_place = sys.stdout.isatty() if args.in_place == "auto" else args.in_place == "yes"
    follow(sys.stdin, sys.stdout, label=args.label, in_place=in_place, every=args.every)


if __name__ == "__main__":
    main()
