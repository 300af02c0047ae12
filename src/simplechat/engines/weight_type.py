"""GGUF weights converted to another type for faster batches (`--weight-type`), once per file."""

from __future__ import annotations

import ctypes
import hashlib
import logging
import os
import time
from pathlib import Path

from simplechat.engines.base import EngineError

log = logging.getLogger(__name__)

#: `file` serves the weights as they are; the others name the type they are converted to.
WEIGHT_TYPES = ("file", "q8_0")


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
    if weight_type not in WEIGHT_TYPES:
        raise EngineError(f"unknown weight type {weight_type!r}; choose one of {WEIGHT_TYPES}")
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
    params.ftype = {"q8_0": lc.LLAMA_FTYPE_MOSTLY_Q8_0}[weight_type]
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
