"""A GGUF repository on the Hugging Face hub, named as llama-server's `-hf` names it
(`owner/repo[:QUANT]`), and which of its files to run."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

#: The pick when no `:QUANT` is given: llama-server's default first (Q4_K_M: the usual balance
#: of size and quality), then the next best trade-offs, then the large exact ones.
DEFAULT_QUANTS = (
    "Q4_K_M",
    "Q4_K_S",
    "Q5_K_M",
    "Q4_0",
    "Q4_1",
    "IQ4_XS",
    "IQ4_NL",
    "Q5_K_S",
    "Q5_0",
    "Q6_K",
    "Q8_0",
    "Q3_K_M",
    "Q3_K_L",
    "Q2_K",
    "BF16",
    "F16",
    "F32",
)

#: `name-00001-of-00003.gguf`: one shard of a model split in several files (llama.cpp's
#: gguf-split naming; llama.cpp finds the other shards beside the first).
SHARD = re.compile(r"^(?P<prefix>.+)-(?P<no>\d{5})-of-(?P<count>\d{5})\.gguf$", re.IGNORECASE)
#: Files in GGUF repositories that are not a language model to run.
NOT_A_MODEL = re.compile(r"mmproj|imatrix|vocab|ggml-vocab", re.IGNORECASE)
#: A quantization name as it appears in file names (q4_k_m, Q8_0, IQ4_XS, BF16, ...).
QUANT_IN_NAME = re.compile(
    r"(?<![A-Za-z0-9])((?:I?Q[1-8](?:_[A-Z0-9]{1,2}){0,2})|BF16|F16|F32)(?![A-Za-z0-9])",
    re.IGNORECASE,
)


class NoSuchFile(ValueError):
    """The repository has no GGUF file that matches what was asked for."""


@dataclass(frozen=True)
class HubSpec:
    """`owner/repo` and an optional tag: a quantization (Q4_K_M) or a file name (x.gguf)."""

    repo: str
    tag: str = ""

    def __str__(self) -> str:
        return f"{self.repo}:{self.tag}" if self.tag else self.repo


def parse_hub_spec(model: str) -> HubSpec | None:
    """The spec when `model` names a GGUF repository on the hub, else None.

    A repository counts as GGUF when a `:TAG` is given or its name says GGUF (as nearly all do:
    `Qwen/Qwen2.5-1.5B-Instruct-GGUF`, `mmnga/...-gguf`); other hub ids go to transformers.
    """
    repo, colon, tag = model.partition(":")
    parts = repo.split("/")
    if len(parts) != 2 or not all(parts) or repo.startswith((".", "~", "/")):
        return None
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*", repo):
        return None
    if colon and not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._-]*", tag):
        return None
    if not tag and "gguf" not in parts[1].lower():
        return None
    return HubSpec(repo, tag)


def quant_of(filename: str) -> str:
    """The quantization a file name states (upper case), or '' when it states none."""
    found = QUANT_IN_NAME.findall(PurePosixPath(filename).name) or QUANT_IN_NAME.findall(filename)
    return found[-1].upper() if found else ""


def _first_files(files: Iterable[str]) -> list[str]:
    """The GGUF model files, each split model by its first shard only."""
    firsts = []
    for name in sorted(files):
        if not name.lower().endswith(".gguf") or NOT_A_MODEL.search(PurePosixPath(name).name):
            continue
        shard = SHARD.match(name)
        if shard and int(shard["no"]) != 1:
            continue
        firsts.append(name)
    return firsts


def _matches(name: str, tag: str) -> bool:
    if tag.lower().endswith(".gguf"):
        return name == tag or PurePosixPath(name).name == tag
    return quant_of(name) == tag.upper() or bool(
        re.search(rf"(?<![A-Za-z0-9]){re.escape(tag)}(?![A-Za-z0-9])", name, re.IGNORECASE)
    )


def shards_of(first: str) -> list[str]:
    """Every file of the model whose first (or only) file is `first`, in order."""
    shard = SHARD.match(first)
    if not shard:
        return [first]
    count = int(shard["count"])
    return [f"{shard['prefix']}-{n:05d}-of-{count:05d}.gguf" for n in range(1, count + 1)]


def pick_files(spec: HubSpec, files: Iterable[str]) -> list[str]:
    """The files to fetch for `spec` from a repository holding `files`: one GGUF, or every
    shard of a split one (the first shard first). Raises NoSuchFile, listing what there is."""
    listed = set(files)
    candidates = _first_files(listed)
    if not candidates:
        raise NoSuchFile(f"{spec.repo} has no GGUF model file (a llama.cpp model ends in .gguf)")
    if spec.tag:
        chosen = [name for name in candidates if _matches(name, spec.tag)]
        if not chosen:
            raise NoSuchFile(
                f"{spec.repo} has no file for {spec.tag!r}; it has: {describe_choices(candidates)}"
            )
    else:
        ranked = [
            name for quant in DEFAULT_QUANTS for name in candidates if quant_of(name) == quant
        ]
        chosen = ranked or candidates
    first = chosen[0]
    shards = shards_of(first)
    missing = [name for name in shards if name not in listed]
    if missing:
        raise NoSuchFile(f"{spec.repo}: {first} is split, but {missing[0]} is missing")
    return shards


def describe_choices(candidates: Iterable[str]) -> str:
    """`Q4_K_M, Q8_0` (or file names where a name states no quantization)."""
    shown = [quant_of(name) or PurePosixPath(name).name for name in candidates]
    return ", ".join(dict.fromkeys(shown))
