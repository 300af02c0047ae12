"""Which weights llama.cpp serves (`--weight-type`): the file's, a conversion made once, or both."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import time
from pathlib import Path

from simplechat.engines.base import EngineError

log = logging.getLogger(__name__)

#: `file` serves the weights as they are, `q8_0` a conversion; `file+q8_0` loads both, a step of
#: few tokens running on the first and one of many on the second (weight_sets.py); `auto` is
#: `file+q8_0` where that pays (`weight_sets_for`), else `file`.
WEIGHT_TYPES = ("auto", "file", "q8_0", "file+q8_0")
CONVERSIONS = ("q8_0",)
#: llama.cpp file types (general.file_type) whose weights its CPU backend multiplies column by
#: column, a step of n tokens costing n times one: neither llamafile's sgemm (f16, bf16, q8_0,
#: q4_0, q5_0, iq4_nl) nor the repacked kernels (q4_0, iq4_nl, the k-quants) take them.
COLUMN_BY_COLUMN = {3: "q4_1", 9: "q5_1"}  # LLAMA_FTYPE_MOSTLY_Q4_1, LLAMA_FTYPE_MOSTLY_Q5_1
#: The q8_0 twin is loaded beside the file only if it takes at most this share of memory.
TWIN_MEMORY_SHARE = 1 / 8
Q8_0_BYTES_PER_WEIGHT = 34 / 32  # a 32-weight block: 32 bytes and a 16-bit scale


def weight_sets_for(
    weight_type: str, file_type: int, n_params: int, *, on_gpu: bool, memory_bytes: int
) -> tuple[str, ...]:
    """The weight sets to load, each `file` or a type to convert to: what `weight_type` names,
    with `auto` as ("file", "q8_0") for a model on the CPU whose weights llama.cpp multiplies
    column by column (the bundled model's q4_1) when the twin fits its share of memory, else
    ("file",)."""
    if weight_type not in WEIGHT_TYPES:
        raise EngineError(f"unknown weight type {weight_type!r}; choose one of {WEIGHT_TYPES}")
    if weight_type != "auto":
        return tuple(weight_type.split("+"))
    twin_bytes = n_params * Q8_0_BYTES_PER_WEIGHT
    if on_gpu or file_type not in COLUMN_BY_COLUMN or twin_bytes > memory_bytes * TWIN_MEMORY_SHARE:
        return ("file",)
    return ("file", "q8_0")


def cache_root() -> Path:
    """Where converted files are kept: `$XDG_CACHE_HOME/simplechat/weights` (~/.cache/...)."""
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "simplechat" / "weights"


def converted_path(model_path: Path, weight_type: str, root: Path) -> Path:
    """One file per source file and type; a changed source (size, mtime) gets a new one."""
    stat = model_path.stat()
    source = f"{model_path.resolve()}:{stat.st_size}:{stat.st_mtime_ns}"
    key = hashlib.sha256(source.encode()).hexdigest()[:12]
    return root / f"{model_path.stem}.{key}.{weight_type}.gguf"


def weights_for(model_path: Path, weight_type: str, *, threads: int) -> Path:
    """The GGUF file to load: `model_path` itself, or its conversion to `weight_type`.

    Converting reads and writes the whole file (1.3 s for the bundled 94 MiB model on 2 cores);
    the result is kept, so only the first start pays. Why convert at all: llama.cpp has batched
    CPU kernels for q8_0 but none for q4_1 (the bundled model's type), so with many requests at
    once q8_0 weights decode more tokens per second; a single request reads more bytes, and is
    slower (README, Speed).
    """
    if weight_type == "file":
        return model_path
    if weight_type not in CONVERSIONS:
        raise EngineError(f"cannot convert weights to {weight_type!r}; choose one of {CONVERSIONS}")
    target = converted_path(model_path, weight_type, cache_root())
    if target.is_file():
        log.info("weights: %s (converted before)", target)
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EngineError(f"cannot keep converted weights in {target.parent}: {exc}") from exc
    partial = target.with_name(f"{target.name}.{os.getpid()}.partial")
    started = time.perf_counter()
    log.info(
        "weights: converting %s to %s, once (kept in %s)",
        model_path.name,
        weight_type,
        target.parent,
    )
    try:
        _convert(model_path, partial, weight_type, threads=threads)
        os.replace(partial, target)  # whole or not at all: a server killed mid-way leaves no file
    finally:
        partial.unlink(missing_ok=True)
    log.info("weights: converted in %.1f s", time.perf_counter() - started)
    return target


def _convert(source: Path, target: Path, weight_type: str, *, threads: int) -> None:
    import llama_cpp as lc

    params = lc.llama_model_quantize_default_params()
    params.ftype = {"q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0}[weight_type]  # CONVERSIONS
    params.allow_requantize = True  # the source is quantized already (the bundled model: q4_1)
    params.nthread = threads
    failed = lc.llama_model_quantize(
        str(source).encode(), str(target).encode(), ctypes.byref(params)
    )
    if failed:
        free = _free_mib(target.parent)
        raise EngineError(
            f"llama.cpp could not convert {source.name} to {weight_type} in {target.parent} "
            f"({free} MiB free there); serve it as it is with --weight-type file"
        )


def _free_mib(folder: Path) -> int:
    try:
        return os.statvfs(folder).f_bavail * os.statvfs(folder).f_frsize // 2**20
    except OSError:
        return 0
